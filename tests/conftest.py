"""Shared fixtures: the baseline scenario loaded once, and helpers to vary it."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from abm.scenario import Scenario, load_scenario


@pytest.fixture(scope="session")
def baseline() -> Scenario:
    """The library baseline, validated once per session."""
    return load_scenario("baseline")


def variant(base: Scenario, edit: Any) -> Scenario:
    """A validated copy of ``base`` after ``edit(dict)`` changed its content."""
    data = copy.deepcopy(base.model_dump(mode="json"))
    edit(data)
    return Scenario.model_validate(data)

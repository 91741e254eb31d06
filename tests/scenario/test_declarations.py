"""Lists other modules iterate are derived from one declaration in the schema."""

from __future__ import annotations

from pathlib import Path
from typing import get_args

from abm.engine import metrics
from abm.engine.shocks import REGISTRY
from abm.scenario import REGIONS, SHOCK_KINDS, SHOCK_MODELS, Region

DOCS = Path(__file__).resolve().parents[2] / "docs" / "scenarios.md"


def test_shock_kinds_come_from_the_union():
    assert SHOCK_KINDS == ("consumer_surge", "capacity_shock", "enterprise_demand_shock")
    for kind, model in SHOCK_MODELS.items():
        assert get_args(model.model_fields["kind"].annotation) == (kind,)


def test_the_engine_has_one_hook_per_shock_kind():
    assert set(REGISTRY) == set(SHOCK_KINDS)


def test_the_scenario_docs_name_every_shock_kind():
    text = DOCS.read_text(encoding="utf-8")
    assert [k for k in SHOCK_KINDS if f"`{k}`" not in text] == []


def test_regions_come_from_the_region_literal():
    assert REGIONS == get_args(Region) == ("US", "CN", "ROW")
    assert metrics.REGIONS is REGIONS

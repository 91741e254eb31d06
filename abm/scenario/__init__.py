"""Scenario files: schema, cross-checks, loader and one-line errors.

The package imports nothing of the engine, the runs or the analysis (they
import it). Its modules:

* :mod:`~abm.scenario.schema` — the pydantic models (:class:`Scenario` and its
  parts), :data:`REGIONS` and :data:`SHOCK_KINDS` derived from their declarations;
* :mod:`~abm.scenario.checks` — the checks across objects (names that must
  exist, shares that must sum to one, sources that must be known);
* :mod:`~abm.scenario.loader` — reading files, ``extends``, calibration,
  overrides and :func:`load_scenario`;
* :mod:`~abm.scenario.errors` — :class:`ScenarioError` and the one formatter
  of the one-line messages (:func:`first_error`).

Import from the package (``from abm.scenario import load_scenario``), not from
its modules.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from abm.scenario.errors import ScenarioCheckError, ScenarioError, first_error
    from abm.scenario.loader import (
        REFERENCES_FILE,
        SCENARIO_DIR,
        deep_merge,
        expand_key_path,
        find_items,
        key_segment,
        library_names,
        load_references,
        load_scenario,
        overrides_from,
        read_yaml,
        resolve_path,
        split_key_path,
    )
    from abm.scenario.schema import (
        REGIONS,
        SHOCK_KINDS,
        SHOCK_MODELS,
        BrokerSpec,
        BuyerSpec,
        CapacityGrowth,
        CapacityShock,
        CloudSpec,
        ConsumerSurge,
        EnterpriseShock,
        EnterpriseSpec,
        FirmSpec,
        FoundrySpec,
        FrontSpec,
        GovernmentSpec,
        ItemClause,
        LabSpec,
        LicencePolicy,
        MemoryMakerSpec,
        PackagerSpec,
        Region,
        RentalParams,
        RuleSpec,
        Scenario,
        Shock,
        SyntheticWorld,
        Threshold,
        VendorSpec,
    )

# Loaded on first use (PEP 562), so that ``import abm.scenario.library`` (the command
# line's scenario list) does not import pydantic and the schema.
_LAZY: dict[str, str] = {
    "ScenarioCheckError": "abm.scenario.errors",
    "ScenarioError": "abm.scenario.errors",
    "first_error": "abm.scenario.errors",
    "REFERENCES_FILE": "abm.scenario.loader",
    "SCENARIO_DIR": "abm.scenario.loader",
    "deep_merge": "abm.scenario.loader",
    "expand_key_path": "abm.scenario.loader",
    "find_items": "abm.scenario.loader",
    "key_segment": "abm.scenario.loader",
    "library_names": "abm.scenario.library",
    "load_references": "abm.scenario.loader",
    "load_scenario": "abm.scenario.loader",
    "overrides_from": "abm.scenario.loader",
    "read_yaml": "abm.scenario.loader",
    "resolve_path": "abm.scenario.loader",
    "split_key_path": "abm.scenario.loader",
    "REGIONS": "abm.scenario.schema",
    "SHOCK_KINDS": "abm.scenario.schema",
    "SHOCK_MODELS": "abm.scenario.schema",
    "BrokerSpec": "abm.scenario.schema",
    "BuyerSpec": "abm.scenario.schema",
    "CapacityGrowth": "abm.scenario.schema",
    "CapacityShock": "abm.scenario.schema",
    "CloudSpec": "abm.scenario.schema",
    "ConsumerSurge": "abm.scenario.schema",
    "EnterpriseShock": "abm.scenario.schema",
    "EnterpriseSpec": "abm.scenario.schema",
    "FirmSpec": "abm.scenario.schema",
    "FoundrySpec": "abm.scenario.schema",
    "FrontSpec": "abm.scenario.schema",
    "GovernmentSpec": "abm.scenario.schema",
    "ItemClause": "abm.scenario.schema",
    "LabSpec": "abm.scenario.schema",
    "LicencePolicy": "abm.scenario.schema",
    "MemoryMakerSpec": "abm.scenario.schema",
    "PackagerSpec": "abm.scenario.schema",
    "Region": "abm.scenario.schema",
    "RentalParams": "abm.scenario.schema",
    "RuleSpec": "abm.scenario.schema",
    "Scenario": "abm.scenario.schema",
    "Shock": "abm.scenario.schema",
    "SyntheticWorld": "abm.scenario.schema",
    "Threshold": "abm.scenario.schema",
    "VendorSpec": "abm.scenario.schema",
}

__all__ = [
    "REFERENCES_FILE",
    "REGIONS",
    "SCENARIO_DIR",
    "SHOCK_KINDS",
    "SHOCK_MODELS",
    "BrokerSpec",
    "BuyerSpec",
    "CapacityGrowth",
    "CapacityShock",
    "CloudSpec",
    "ConsumerSurge",
    "EnterpriseShock",
    "EnterpriseSpec",
    "FirmSpec",
    "FoundrySpec",
    "FrontSpec",
    "GovernmentSpec",
    "ItemClause",
    "LabSpec",
    "LicencePolicy",
    "MemoryMakerSpec",
    "PackagerSpec",
    "Region",
    "RentalParams",
    "RuleSpec",
    "Scenario",
    "ScenarioCheckError",
    "ScenarioError",
    "Shock",
    "SyntheticWorld",
    "Threshold",
    "VendorSpec",
    "deep_merge",
    "first_error",
    "library_names",
    "load_references",
    "load_scenario",
    "overrides_from",
    "expand_key_path",
    "find_items",
    "key_segment",
    "read_yaml",
    "resolve_path",
    "split_key_path",
]


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted([*globals(), *_LAZY])

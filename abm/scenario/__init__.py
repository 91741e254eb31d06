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

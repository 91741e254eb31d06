"""Agent-based model of the AI-compute supply chain under export controls.

Build and run the default world in two lines::

    from abm import SupplyChainModel
    model = SupplyChainModel.from_scenario("baseline", seed=1).run()

The names below (and ``__version__``, the installed distribution's version) are
loaded on first use, so ``import abm`` (and ``abm --help``) stays fast.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from abm.engine.model import SupplyChainModel
    from abm.scenario import Scenario, ScenarioError, load_scenario

__all__ = ["Scenario", "ScenarioError", "SupplyChainModel", "load_scenario"]

_LAZY = {
    "SupplyChainModel": "abm.engine.model",
    "Scenario": "abm.scenario",
    "ScenarioError": "abm.scenario",
    "load_scenario": "abm.scenario",
}


def __getattr__(name: str) -> Any:
    if name == "__version__":  # importlib.metadata is slow to import: only when asked
        from importlib import metadata

        try:
            return metadata.version("gpu-supply-abm")
        except metadata.PackageNotFoundError:  # a source tree that was never installed
            return "source"
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted([*globals(), *_LAZY])

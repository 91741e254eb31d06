"""Agent-based model of the AI-compute supply chain under export controls.

Build and run the default world in two lines::

    from abm import SupplyChainModel
    model = SupplyChainModel.from_scenario("baseline", seed=1).run()
"""

from abm.engine.model import SupplyChainModel
from abm.scenario import Scenario, ScenarioError, load_scenario

__all__ = ["Scenario", "ScenarioError", "SupplyChainModel", "load_scenario"]
__version__ = "0.1.0"

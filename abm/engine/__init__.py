"""The engine: the model, the world it builds and what moves through it.

SupplyChainModel conducts a week's stages (``STAGES``); world building
(including synthetic worlds), the order book and goods in transit, products,
shocks, and recording (events, metrics, agent state).
"""

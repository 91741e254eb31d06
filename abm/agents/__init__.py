"""The agents, one module per family.

Foundry, memory maker, packager, GPU vendor, buyers (clouds and labs with
fleets), enterprise demand, brokers and governments; plus the ordering rules
buyers and vendors share.
"""

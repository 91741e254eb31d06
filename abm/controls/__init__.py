"""Export controls: rules as data, the shipment gate, compliant variants.

The rules and the pure shipment check, the gate the model consults each
day (with its caches), and the design of compliant variants.
"""

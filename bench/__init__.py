"""Benchmarks and dev tools (kept outside the ``abm`` package; ``abm bench`` runs the suite)."""

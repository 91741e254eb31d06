"""Runs: crash-safe output files, batch engines and run summaries."""

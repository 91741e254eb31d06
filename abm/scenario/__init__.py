"""Scenario files: schema, cross-checks, loader and one-line errors."""

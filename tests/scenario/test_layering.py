"""The scenario package sits at the bottom: it imports nothing of the engine, runs or analysis."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[2] / "abm" / "scenario"
ABOVE = ("abm.engine", "abm.agents", "abm.markets", "abm.controls", "abm.runs", "abm.analysis")


def _imports(path: Path) -> set[str]:
    out: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            out.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            out.add(node.module)
    return out


@pytest.mark.parametrize("path", sorted(PACKAGE.glob("*.py")), ids=lambda p: p.name)
def test_scenario_modules_import_only_the_scenario_package(path):
    above = sorted(m for m in _imports(path) if m.startswith(ABOVE) or m in ("abm", "viz"))
    assert above == []

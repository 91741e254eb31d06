"""docs/metrics.md (and the KPI table of docs/batch.md) is what scripts/metrics_page.py
writes from the declarations: regenerate and compare."""

import importlib.util
import subprocess
import sys
from pathlib import Path

from abm.engine.metrics import METRICS
from abm.engine.statelog import AGENT_STATE
from abm.runs import catalogue

ROOT = Path(__file__).resolve().parents[1]
SCRIPT = ROOT / "scripts" / "metrics_page.py"


def _script():
    spec = importlib.util.spec_from_file_location("metrics_page", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_the_pages_are_current():
    for path, text in _script().pages().items():
        assert path.read_text(encoding="utf-8") == text, (
            f"{path.relative_to(ROOT)} is stale: run .venv/bin/python scripts/metrics_page.py"
        )


def test_the_page_documents_every_declaration():
    page = catalogue.metrics_page()
    for name in [m.name for m in METRICS] + [c.name for c in AGENT_STATE]:
        assert f"| `{name}` |" in page
    assert "| `weeks_signups_paused` | lab-weeks |" in page
    assert "| `denial` | rule |" in page


def test_a_changed_declaration_makes_the_page_stale(monkeypatch):
    kpi = catalogue.KPIS[0]
    monkeypatch.setattr(catalogue, "KPIS", (kpi.__class__(kpi.name, "kg", kpi.meaning),))
    script = _script()
    monkeypatch.setattr(script, "kpi_markdown", catalogue.kpi_markdown)
    stale = [p for p, text in script.pages().items() if p.read_text(encoding="utf-8") != text]
    assert sorted(p.name for p in stale) == ["batch.md", "metrics.md"]


def test_check_mode_exits_zero_when_current():
    done = subprocess.run(
        [sys.executable, str(SCRIPT), "--check"], capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stderr

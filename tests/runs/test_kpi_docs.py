"""The KPI declaration (abm.runs.catalogue.KPIS, written into docs/batch.md and
docs/metrics.md) names every KPI column of summary.parquet, in order, and nothing else."""

import re
from pathlib import Path

from abm.engine.model import SupplyChainModel
from abm.runs.batch import kpis
from abm.runs.catalogue import KPIS

DOC = Path(__file__).resolve().parents[2] / "docs" / "batch.md"


def test_kpi_table_matches_the_kpis_computed(baseline):
    model = SupplyChainModel(baseline.model_copy(update={"weeks": 6}), seed=1).run()
    assert [k.name for k in KPIS] == list(kpis(model))
    assert all(k.unit and k.meaning for k in KPIS)
    text = DOC.read_text(encoding="utf-8")
    section = text.split("### KPIs of `summary.parquet`", 1)[1].split("\n## ", 1)[0]
    documented = re.findall(r"^\| `([a-z0-9_]+)` \|", section, re.MULTILINE)
    assert documented == list(kpis(model))

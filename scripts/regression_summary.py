"""Regenerate the stored fixed-seed summary of the calibrated baseline.

Run: .venv/bin/python scripts/regression_summary.py
Writes tests/data/baseline_regression.json: every calibration target's statistic
and the batch KPIs of the baseline with seed 1. tests/analysis/test_regression.py checks the
model still produces exactly these numbers; regenerate only on purpose (after a
recalibration or a deliberate change of behaviour) and say why in the commit.
"""

from __future__ import annotations

import json
from pathlib import Path

from abm.analysis.regression import summary

OUT = Path(__file__).resolve().parents[1] / "tests" / "data" / "baseline_regression.json"


def main() -> None:
    OUT.parent.mkdir(parents=True, exist_ok=True)
    OUT.write_text(json.dumps(summary(seed=1), indent=2, sort_keys=True) + "\n", encoding="utf-8")
    print(f"wrote {OUT}")


if __name__ == "__main__":
    main()

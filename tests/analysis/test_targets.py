"""Calibration target checks on synthetic metric series (pass and fail cases)."""

from datetime import date, timedelta

import numpy as np
import pytest

from abm.analysis.targets import Target, TargetSet, evaluate_run, load_targets, loss, statistic
from abm.scenario import ScenarioError

START = date(2022, 1, 3)
WEEKS = 261
DATES = np.array([START + timedelta(weeks=i) for i in range(WEEKS)], dtype="datetime64[D]")


def week_of(d: date) -> int:
    return (d - START).days // 7


def target(**kw) -> Target:
    base = dict(
        id="T",
        group="g",
        title="t",
        observed="o",
        metric="m",
        scope="s",
        statistic="mean",
        window=(date(2023, 10, 1), date(2024, 1, 1)),
        sources=["F083"],
        tolerance="x",
        lower=36,
    )
    base.update(kw)
    return Target(**base)


def test_the_library_targets_file_loads_with_every_readme_target():
    ts = load_targets()
    groups = {t.group.split()[0] for t in ts.targets}
    assert groups == {"1", "2", "3", "4", "5"}
    assert ts.pass_share == 0.8
    assert {"T1a", "T1b", "T2a", "T2b", "T3a", "T4a", "T5a", "T5b"} <= {t.id for t in ts.targets}


def test_mean_over_window_passes_and_fails_on_the_lead_time_target():
    t = target()
    lead = np.full(WEEKS, 10.0)
    q4 = slice(week_of(date(2023, 10, 2)), week_of(date(2024, 1, 1)))
    lead[q4] = 40.0
    assert statistic(t, DATES, lead) == pytest.approx(40.0)
    assert t.passes(40.0)
    lead[q4] = 30.0
    assert not t.passes(statistic(t, DATES, lead))
    assert t.miss(30.0) == pytest.approx(6 / 36)


def test_upper_bound_and_two_sided_band():
    t = target(lower=4, upper=12)
    assert t.passes(12.0) and t.passes(4.0)
    assert not t.passes(12.5) and not t.passes(3.9)
    assert not t.passes(float("nan"))
    assert t.miss(float("nan")) == 10.0


def test_sum_min4_growth_rebound_and_weeks_to_above():
    rent = np.full(WEEKS, 2.0)
    h2 = week_of(date(2025, 7, 7))
    rent[h2 + 10 : h2 + 14] = 1.7  # a four-week low in Oct 2025
    rent[h2 + 12] = 1.0  # a one-week dip does not make the 4-week low
    low = target(
        statistic="min4", window=(date(2025, 7, 1), date(2026, 1, 1)), lower=1.4, upper=2.1
    )
    assert statistic(low, DATES, rent) == pytest.approx((1.7 * 3 + 1.0) / 4)
    rent[week_of(date(2026, 3, 2)) : week_of(date(2026, 3, 30)) + 1] = 2.35
    rb = target(
        statistic="rebound",
        window=(date(2026, 3, 1), date(2026, 4, 1)),
        reference_window=(date(2025, 7, 1), date(2026, 1, 1)),
        lower=1.1,
    )
    assert statistic(rb, DATES, rent) == pytest.approx(2.35 / ((1.7 * 3 + 1.0) / 4))
    units = np.full(WEEKS, 1000.0)
    s = target(statistic="sum", window=(date(2023, 7, 3), date(2023, 10, 2)), lower=0)
    assert statistic(s, DATES, units) == pytest.approx(13 * 1000.0)
    cap = np.linspace(100, 400, WEEKS)
    g = target(statistic="growth", window=(date(2022, 1, 3), date(2027, 1, 1)), lower=0)
    assert statistic(g, DATES, cap) == pytest.approx(4.0)
    paused = np.zeros(WEEKS)
    surge = week_of(date(2023, 11, 6))
    paused[surge + 1 : surge + 4] = 1
    w = target(
        statistic="weeks_to_above",
        threshold=0.5,
        window=(date(2023, 11, 6), date(2024, 3, 1)),
        lower=0,
        upper=2,
    )
    assert statistic(w, DATES, paused) == 1.0
    assert statistic(w, DATES, np.zeros(WEEKS)) == pytest.approx(17.0)  # never: window length
    assert not w.passes(17.0)


def test_empty_window_gives_nan_and_fails():
    t = target(window=(date(2030, 1, 1), date(2031, 1, 1)))
    assert np.isnan(statistic(t, DATES, np.ones(WEEKS)))


def test_evaluate_run_and_loss_over_a_target_set():
    ts = TargetSet(targets=[target(id="A"), target(id="B", upper=12, lower=None, metric="x")])
    lead = np.full(WEEKS, 40.0)
    vals = evaluate_run(ts, {("m", "s"): (DATES, lead)})
    assert vals["A"] == pytest.approx(40.0)
    assert np.isnan(vals["B"])  # missing series
    assert loss(ts, vals) == pytest.approx(10.0)


def test_bad_targets_are_refused_with_the_field_named(tmp_path):
    with pytest.raises(ValueError, match="lower"):
        target(lower=5, upper=1)
    with pytest.raises(ValueError, match="reference_window"):
        target(statistic="rebound")
    p = tmp_path / "targets.yaml"
    p.write_text("targets:\n  - id: X\n    group: g\n", encoding="utf-8")
    with pytest.raises(ScenarioError, match=r"targets\.yaml: targets\.0\.title"):
        load_targets(p)
    t = target().model_dump(mode="json")
    t["sources"] = ["F999"]
    import yaml

    p.write_text(yaml.safe_dump({"targets": [t]}), encoding="utf-8")
    with pytest.raises(ScenarioError, match="unknown reference 'F999'"):
        load_targets(p)
    with pytest.raises(ScenarioError, match="no such targets file"):
        load_targets(tmp_path / "missing.yaml")


def test_the_plausibility_checks_load_and_read_declared_metrics():
    from abm.engine.metrics import METRICS
    from abm.scenario.library import CHECKS_FILE_NAME, library_file, library_names

    checks = load_targets(library_file(CHECKS_FILE_NAME))
    assert [t.id for t in checks.targets] == ["C1", "C2", "C3"]
    names = {m.name for m in METRICS}
    assert all(t.metric in names for t in checks.targets)
    assert "checks" not in library_names()  # data for the calibration, not a scenario

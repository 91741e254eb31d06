import math

import pytest

from abm.scenario import ScenarioError
from viz.session import RunConfig, Session, baseline_series, scenario_defaults


def test_a_session_records_one_frame_per_step():
    s = Session(RunConfig(weeks=12))
    assert s.steps == 0 and s.total == 12
    net0 = s.network_svg(0)
    rec = s.recorder
    ent = [i for i, f in enumerate(rec.families) if f == "enterprise"]
    assert ent and all(rec.frames[0].shortage[i] is None for i in ent)  # not served yet
    assert s.step(3) == 3
    assert len(s.recorder.frames) == 4
    assert s.date_of(3) > s.date_of(1)
    assert s.network_svg(-1) != net0
    for chart in s.recorder.charts:
        for label, values in s.recorder.series[chart.key].items():
            assert len(values) == 4, (chart.key, label)
    # the initial frame and the steps have finite chart values for the region lines
    assert all(math.isfinite(v) for v in s.recorder.series["shortage"]["US"][1:])
    assert all(rec.frames[3].shortage[i] is not None for i in ent)
    assert s.step(100) == 9 and s.done and s.step(1) == 0


def test_two_sessions_do_not_share_a_model():
    a, b = Session(RunConfig(weeks=10)), Session(RunConfig(weeks=10))
    a.step(4)
    assert a.model is not b.model and b.steps == 0 and a.steps == 4
    b.step(4)
    assert a.recorder.frames[-1].shortage == b.recorder.frames[-1].shortage  # same seed


def test_levers_and_scenario_reach_the_run():
    levers = {**scenario_defaults("taiwan_disruption", seed=3), "enforcement": 0.65}
    s = Session(RunConfig("taiwan_disruption", levers, weeks=5))
    assert s.model.spec.name == "taiwan_disruption"
    assert s.model.spec.enforcement == 0.65 and s.model.seed == 3
    assert s.describe() == "taiwan_disruption · seed 3 · Enforcement strength = 0.65"


def test_a_bad_scenario_is_refused_with_a_message(tmp_path, monkeypatch):
    monkeypatch.setenv("ABM_UI_SCENARIO_DIRS", str(tmp_path))  # the page's allowed folder
    bad = tmp_path / "bad.yaml"
    bad.write_text("name: bad\nextends: baseline\nenforcement: 3\n")
    with pytest.raises(ScenarioError, match="enforcement"):
        Session(RunConfig(str(bad)))


def test_feed_inspector_and_replay_follow_the_run():
    s = Session(RunConfig(weeks=45))
    s.step(45)
    feed = s.recorder.feed_upto(s.steps)
    kinds = {k for _, _, k, _, _ in feed}
    assert "policy_activation" in kinds  # Oct-2022 rule
    activation = next(x for x in feed if x[2] == "policy_activation")
    assert activation[1] == "2022-10-03" and "US-2022-10-3A090" in activation[3]
    assert [x[0] for x in feed] == sorted((x[0] for x in feed), reverse=True)
    early = s.recorder.feed_upto(10)
    assert all(x[0] <= 10 for x in early) and "policy_activation" not in {x[2] for x in early}
    info = s.inspect("Nvidia", s.frame_index(None))
    assert info["family"] == "vendor" and "lead_time_weeks" in info["state"]
    assert info["events"] and all(d <= s.date_of(-1) for d, _ in info["events"])
    assert s.frame_index(10) == 10 and s.frame_index(999) == 45 and s.frame_index(None) == 45
    then = s.inspect("Nvidia", 10)
    assert all(d <= s.date_of(10) for d, _ in then["events"])


def test_network_marks_cut_edges_and_charts_overlay_the_baseline():
    s = Session(RunConfig(weeks=60))
    s.step(60)  # the Oct-2022 rule denies A100/H100 to China
    frame = s.recorder.frames[-1]
    cut_kinds = {s.recorder.edges[i][2] for i, c in enumerate(frame.cut) if c}
    assert "gpus" in cut_kinds
    assert "abm-edge-cut" in s.network_svg(-1) or "abm-edge-partial" in s.network_svg(-1)
    assert "abm-edge-cut" not in s.network_svg(1) and "abm-edge-partial" not in s.network_svg(1)
    plain = dict(s.chart_svgs(-1))
    over = dict(s.chart_svgs(-1, overlay=True))
    assert set(plain) == set(over) == {c.key for c in s.recorder.charts}
    assert 'stroke-dasharray="4 3"' in over["compute"] and "baseline" in over["compute"]
    assert baseline_series(1, 60) is baseline_series(1, 60)  # computed once


def test_inspector_explains_what_a_buyer_was_given_and_network_marks_rising_shortage():
    s = Session(RunConfig(weeks=100))
    s.step(100)
    supply = s.inspect("Microsoft Azure", s.steps)["supply"]
    assert supply and all("Microsoft Azure" in text for _, text in supply)
    assert any("binding:" in text for _, text in supply)
    rising = [i for i in range(1, s.steps + 1) if "abm-node-rising" in s.network_svg(i)]
    assert rising  # some week's shortage rises by 5 points somewhere
    i = rising[0]
    now, before = s.recorder.frames[i], s.recorder.frames[i - 1]
    assert any(
        a is not None and b is not None and a - b >= 0.05
        for a, b in zip(now.shortage, before.shortage, strict=True)
    )
    assert "abm-node-rising" not in s.network_svg(0)

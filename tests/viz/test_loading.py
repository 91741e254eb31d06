"""Scenario files typed into the page: allowed folders only, off the server, within a time limit.

Each test names a finding of the hardening issue. They go through the page's
own entry points (:class:`viz.session.Session`, :func:`viz.session.scenario_defaults`)
so they describe what a tab sees, whatever module does the checking.
"""

from __future__ import annotations

import os
import time

import pytest

from abm.scenario import SCENARIO_DIR, ScenarioError
from viz.session import RunConfig, Session, scenario_defaults

pytestmark = pytest.mark.timeout(120)

REFUSED = "not an allowed scenario file: choose a library scenario or a .yaml file under"
SECRET = "TOPSECRET-7f3a"
FAR = "name: far\nextends: baseline\nstart_date: {day}\nweeks: 20\n"


@pytest.fixture
def dirs(tmp_path, monkeypatch):
    """An allowed folder and a folder outside it; the page allows the first only."""
    allowed, outside = tmp_path / "allowed", tmp_path / "outside"
    allowed.mkdir()
    outside.mkdir()
    monkeypatch.setenv("ABM_UI_SCENARIO_DIRS", str(allowed))
    monkeypatch.chdir(allowed)
    (outside / "secret.yaml").write_text(
        f"name: {SECRET}\nextends: baseline\nenforcement: {SECRET}\nsources: [{SECRET}]\n"
    )
    return allowed, outside


def _refusal(source: str, *, defaults: bool = False) -> str:
    t0 = time.monotonic()
    with pytest.raises(ScenarioError) as info:
        if defaults:
            scenario_defaults(source)
        else:
            Session(RunConfig(source, weeks=3))
    assert time.monotonic() - t0 < 5, f"{source} took {time.monotonic() - t0:.1f} s"
    return str(info.value)


def test_library_and_files_under_allowed_folders_load(dirs):
    allowed, _ = dirs
    (allowed / "mine.yaml").write_text("name: mine\nextends: baseline\nenforcement: 0.7\n")
    (allowed / "sub").mkdir()
    (allowed / "sub" / "kid.yml").write_text("name: kid\nextends: ../mine\n")
    for source in ("mine.yaml", str(allowed / "mine.yaml"), "sub/kid.yml"):
        s = Session(RunConfig(source, weeks=4))
        assert s.spec.enforcement == 0.7 and s.step(2) == 2, source
    assert scenario_defaults("mine.yaml")["enforcement"] == 0.7
    assert Session(RunConfig("no_controls", weeks=2)).spec.name == "no_controls"
    lib = Session(RunConfig(str(SCENARIO_DIR / "no_controls.yaml"), weeks=2))
    assert lib.spec.name == "no_controls"


def test_paths_outside_the_folders_get_one_message_that_tells_nothing(dirs):
    allowed, outside = dirs
    (allowed / "notes.txt").write_text("name: x\n")
    (allowed / "dir.yaml").mkdir()
    sources = [
        str(outside / "secret.yaml"),  # exists, outside
        str(outside / "missing.yaml"),  # does not exist, outside
        "missing.yaml",  # does not exist, inside
        "../outside/secret.yaml",  # relative escape
        "/etc/passwd",
        "notes.txt",  # inside, not YAML
        "dir.yaml",  # inside, a folder
    ]
    messages = {_refusal(s) for s in sources} | {_refusal(s, defaults=True) for s in sources}
    assert len(messages) == 1, messages
    (message,) = messages
    assert message.startswith(REFUSED) and str(allowed) in message and "\n" not in message
    assert SECRET not in message


def test_dev_zero_is_refused_at_once(dirs):
    allowed, _ = dirs
    (allowed / "zero.yaml").symlink_to("/dev/zero")
    for source in ("/dev/zero", "zero.yaml"):
        assert _refusal(source).startswith(REFUSED)


def test_a_fifo_is_refused_without_opening_it(dirs):
    allowed, _ = dirs
    os.mkfifo(allowed / "pipe.yaml")
    assert _refusal("pipe.yaml").startswith(REFUSED)
    assert _refusal(str(allowed / "pipe.yaml"), defaults=True).startswith(REFUSED)


def test_a_file_larger_than_the_bound_is_refused(dirs):
    allowed, _ = dirs
    with open(allowed / "huge.yaml", "wb") as f:
        f.truncate(50_000_000)  # sparse: no disk used
    assert _refusal("huge.yaml").startswith(REFUSED)


def test_a_symlink_out_of_the_folder_is_refused(dirs):
    allowed, outside = dirs
    (allowed / "link.yaml").symlink_to(outside / "secret.yaml")
    (allowed / "via").symlink_to(outside, target_is_directory=True)
    for source in ("link.yaml", "via/secret.yaml"):
        message = _refusal(source)
        assert message.startswith(REFUSED) and SECRET not in message


def test_extends_and_calibration_never_show_another_files_content(dirs):
    allowed, outside = dirs
    (allowed / "up.yaml").write_text("name: up\nextends: ../outside/secret\n")
    (allowed / "absent.yaml").write_text("name: absent\nextends: ../outside/missing\n")
    (allowed / "cal.yaml").write_text(
        "name: cal\nextends: baseline\ncalibration: ../outside/secret.yaml\n"
    )
    (allowed / "lib_escape.yaml").write_text("name: esc\nextends: ../../outside/secret\n")
    messages = {_refusal(s) for s in ("up.yaml", "absent.yaml", "cal.yaml", "lib_escape.yaml")}
    assert len(messages) == 1, messages  # an existing and a missing target read the same
    assert SECRET not in messages.pop()


def test_a_file_of_ones_own_is_told_what_is_wrong_on_one_line(dirs):
    allowed, _ = dirs
    (allowed / "bad.yaml").write_text("name: bad\nextends: baseline\nenforcement: 3\n")
    message = _refusal("bad.yaml")
    assert message.startswith("bad.yaml: enforcement") and "\n" not in message


BOMB = "name: bomb\nextends: baseline\na0: &a0 [x, x, x, x, x, x, x, x, x]\n" + "".join(
    f"a{i}: &a{i} [{', '.join([f'*a{i - 1}'] * 9)}]\n" for i in range(1, 9)
)


def test_an_alias_bomb_is_refused_on_one_line_without_pinning_the_server(dirs):
    allowed, _ = dirs
    (allowed / "ok.yaml").write_text("name: ok\nextends: baseline\n")
    scenario_defaults("ok.yaml")  # the worker server is up
    (allowed / "bomb.yaml").write_text(BOMB)
    assert len(BOMB) < 1000
    cpu0, t0 = time.process_time(), time.monotonic()
    with pytest.raises(ScenarioError, match="bomb.yaml: ") as info:
        Session(RunConfig("bomb.yaml"))
    wall, cpu = time.monotonic() - t0, time.process_time() - cpu0
    assert wall < 10, wall  # the loader's expansion limit (or the UI's time limit) stops it
    assert cpu < 1.5, f"the load ran in the server process ({cpu:.1f} s of CPU)"
    assert "\n" not in str(info.value)
    assert scenario_defaults("ok.yaml")["enforcement"] is not None  # the next load works


# Valid, but building 90,000 synthetic firms and a first week takes far longer than 1 s.
SLOW = "name: slow\nextends: baseline\nworld:\n  synthetic: {enterprises: 60000, labs: 30000}\n"


def test_a_slow_load_is_stopped_at_the_time_limit_outside_the_server(dirs, monkeypatch):
    allowed, _ = dirs
    (allowed / "ok.yaml").write_text("name: ok\nextends: baseline\n")
    scenario_defaults("ok.yaml")  # the worker server is up: the limit is the load's own
    (allowed / "slow.yaml").write_text(SLOW)
    monkeypatch.setenv("ABM_UI_LOAD_TIMEOUT", "1")
    cpu0, t0 = time.process_time(), time.monotonic()
    with pytest.raises(ScenarioError, match="slow.yaml: took longer than 1 s") as info:
        Session(RunConfig("slow.yaml"))
    wall, cpu = time.monotonic() - t0, time.process_time() - cpu0
    assert 1 <= wall < 1 + 6, wall
    assert cpu < 1.5, f"the load ran in the server process ({cpu:.1f} s of CPU)"
    assert "\n" not in str(info.value)
    # the server is fine: the next load works
    assert scenario_defaults("ok.yaml")["enforcement"] is not None


def test_a_scenario_that_validates_but_cannot_start_is_refused_on_one_line(dirs):
    allowed, _ = dirs
    (allowed / "far.yaml").write_text(FAR.format(day="9999-12-27"))
    message = _refusal("far.yaml")
    assert message.startswith("far.yaml: the run cannot start") and "\n" not in message
    assert "date value out of range" in message


def test_a_run_that_fails_mid_way_stops_with_a_message_and_keeps_its_weeks(dirs):
    allowed, _ = dirs
    (allowed / "late.yaml").write_text(FAR.format(day="9999-11-29"))
    s = Session(RunConfig("late.yaml"))
    taken = s.step(10)  # the 5th week runs past 9999-12-31
    assert 1 <= taken < 10 and s.done and s.failure
    assert s.failure.startswith(f"week {taken + 1} could not be run") and "\n" not in s.failure
    assert s.step(1) == 0 and len(s.recorder.frames) == taken + 1
    s.network_svg(-1)
    s.chart_svgs(-1)


def test_the_page_survives_a_scenario_that_validates_but_cannot_run(dirs):
    from solara.widgets import HTML

    from tests.viz.page import render_tab

    allowed, _ = dirs
    (allowed / "far.yaml").write_text(FAR.format(day="9999-12-27"))
    (allowed / "late.yaml").write_text(FAR.format(day="9999-11-29"))
    st, rc = render_tab()
    st.step()
    before = st.session
    st.set_path("far.yaml")
    st.reset()
    assert st.error.value.startswith("far.yaml: the run cannot start")
    assert st.session is before  # the previous run stays and still steps
    st.step()
    assert st.session.steps == 2
    st.set_path("/dev/zero")
    assert st.error.value.startswith(REFUSED)
    st.set_path("late.yaml")
    st.reset()
    assert st.error.value == "" and st.session.spec.name == "far"
    for _ in range(8):
        st.step()  # the 5th week fails: reported, the page keeps rendering
    assert st.session.done and st.error.value.startswith("week 5 could not be run")
    html = [w.unsafe_innerHTML for w in rc.find(HTML).widgets]
    assert any('class="abm-week">4<' in h for h in html)
    assert any("week 5 could not be run" in h for h in html)
    rc.close()

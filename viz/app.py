"""The Solara page: pick a scenario, move levers, play the run and watch the shortage spread.

Every piece of state lives in the :func:`Page` component (``use_reactive``,
``use_memo``), so each browser tab has its own :class:`viz.session.Session`:
two tabs never step or reset each other's model. Serve it with ``abm ui``.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass
from html import escape
from typing import Any

import solara
import solara.lab

from abm.scenario import ScenarioError, library_names
from viz.levers import LEVERS
from viz.loading import one_line
from viz.session import DEFAULT_SCENARIO, DEFAULT_SEED, RunConfig, Session, scenario_defaults
from viz.wording import SEVERITY

SPEEDS = [2, 5, 10, 20, 50]
"""Play speeds, weeks per second."""
DEFAULT_SPEED = 20
MAX_STEPS_PER_FRAME = 25

CSS = """
.abm-page { font-family: Roboto, Arial, sans-serif; }
.abm-status { font-size: 15px; margin: 2px 0 6px 0; }
.abm-status b { font-size: 17px; }
.abm-run { color: #555; font-size: 12px; }
.abm-charts { display: grid; grid-template-columns: repeat(auto-fill, minmax(300px, 1fr));
  gap: 6px; }
.abm-chart { border: 1px solid #eee; border-radius: 4px; background: #fff; }
.abm-network { border: 1px solid #ddd; border-radius: 4px; background: #fff; }
.abm-feed ul, .abm-inspector ul { list-style: none; padding-left: 0; margin: 0;
  font-size: 12px; max-height: 330px; overflow-y: auto; }
.abm-feed li, .abm-inspector li { padding: 2px 0; border-bottom: 1px solid #f2f2f2; }
.abm-feed .d, .abm-inspector .d { color: #777; margin-right: 6px;
  font-variant-numeric: tabular-nums; }
.abm-ev-rule { border-left: 3px solid #d7191c; padding-left: 4px !important; }
.abm-ev-bad { border-left: 3px solid #fdae61; padding-left: 4px !important; }
.abm-ev-good { border-left: 3px solid #1a9850; padding-left: 4px !important; }
.abm-ev-info { border-left: 3px solid #7570b3; padding-left: 4px !important; }
.abm-inspector table { font-size: 12px; border-collapse: collapse; }
.abm-inspector td { padding: 1px 8px 1px 0; }
.abm-lever { margin-bottom: -14px; }
.abm-lever-label { font-size: 12px; color: #333; }
.abm-lever-value { font-weight: bold; }
.abm-error { color: #b71c1c; font-size: 12px; white-space: pre-wrap; }
.abm-panel h4 { margin: 4px 0; }
"""


def _fmt_value(v: Any) -> str:
    if isinstance(v, float):
        if abs(v) >= 1000:
            return f"{v:,.0f}"
        return f"{v:.3g}"
    return escape(str(v))


def feed_html(items: list[tuple[int, str, str, str, str]]) -> str:
    """The event feed as an HTML list, newest first."""
    if not items:
        return '<ul class="abm-feed-list"><li>No notable event yet.</li></ul>'
    lis = "".join(
        f'<li class="abm-ev abm-ev-{SEVERITY.get(kind, "info")}"><span class="d">{escape(day)}'
        f"</span>{escape(text)}</li>"
        for _steps, day, kind, text, _agent in items
    )
    return f'<ul class="abm-feed-list">{lis}</ul>'


def inspector_html(info: dict[str, Any]) -> str:
    """A firm's identity, state and recent events as HTML."""
    head = (
        f"<div><b>{escape(info['name'])}</b> — {escape(info['family'])}, "
        f"{escape(info['region'])} ({escape(info['country'])})"
        + ("" if info["active"] else " — <b>exited</b>")
        + "</div>"
    )
    rows = "".join(
        f"<tr><td>{escape(k.replace('_', ' '))}</td><td>{_fmt_value(v)}</td></tr>"
        for k, v in info["state"].items()
    )
    events = "".join(
        f'<li><span class="d">{escape(d)}</span>{escape(t)}</li>' for d, t in info["events"]
    )
    supply = "".join(
        f'<li><span class="d">{escape(d)}</span>{escape(t)}</li>' for d, t in info.get("supply", [])
    )
    why = (
        f"<h4>What it was given or refused</h4><ul class='abm-agent-supply'>{supply}</ul>"
        if supply
        else ""
    )
    return (
        f"{head}<table class='abm-state'>{rows}</table><h4>Recent events</h4>"
        f"<ul class='abm-agent-events'>{events or '<li>none yet</li>'}</ul>{why}"
    )


@solara.component
def LeverSlider(lever: Any, value: float | None, on_value: Any) -> None:
    """One lever: label, current value and slider (disabled when the scenario lacks it)."""
    with solara.Div(classes=["abm-lever", f"abm-lever-{lever.key}"]):
        shown = "n/a" if value is None else f"{value:g}"
        solara.HTML(
            tag="div",
            unsafe_innerHTML=f'<span class="abm-lever-label" title="{escape(lever.help)}">'
            f'{escape(lever.label)}: <span class="abm-lever-value">{shown}</span></span>',
        )
        if lever.key == "seed":
            solara.SliderInt(
                "",
                value=int(value if value is not None else DEFAULT_SEED),
                min=int(lever.lo),
                max=int(lever.hi),
                step=1,
                on_value=lambda v: on_value(float(v)),
                thumb_label=False,
            )
        else:
            solara.SliderFloat(
                "",
                value=float(value if value is not None else lever.lo),
                min=lever.lo,
                max=lever.hi,
                step=lever.step,
                on_value=on_value,
                thumb_label=False,
                disabled=value is None,
            )


@dataclass
class TabState:
    """One tab's state: reactive values and its run (created per Page instance)."""

    holder: dict[str, Session]
    version: Any
    playing: Any
    speed: Any
    replay: Any
    scenario: Any
    path_text: Any
    levers: Any
    overlay: Any
    selected: Any
    error: Any

    @property
    def session(self) -> Session:
        """The tab's current run."""
        return self.holder["session"]

    def bump(self) -> None:
        """Tell the views that the run changed."""
        self.version.set(self.version.value + 1)

    def step(self) -> None:
        """One week forward, shown live (a week that fails is reported, the page stays)."""
        self.session.step(1)
        self.show_failure()
        self.replay.set(None)
        self.bump()

    def show_failure(self) -> None:
        """Put the run's failure, if any, in the error line."""
        if self.session.failure:
            self.error.set(self.session.failure)

    def reset(self) -> None:
        """Build a new run from the picked scenario and the levers."""
        self.playing.set(False)
        source = self.path_text.value.strip() or self.scenario.value
        try:
            new = Session(RunConfig(scenario=source, levers=dict(self.levers.value)))
        except (ScenarioError, OSError, ValueError) as exc:
            self.error.set(one_line(str(exc)))
            return
        self.error.set("")
        self.holder["session"] = new
        self.replay.set(None)
        if self.selected.value not in new.recorder.names:
            self.selected.set(new.recorder.names[0])
        self.bump()

    def pick_scenario(self, name: str) -> None:
        """Stage a library scenario; the levers show its own values."""
        self.scenario.set(name)
        self.path_text.set("")
        self._load_defaults(name)

    def set_path(self, text: str | None) -> None:
        """Stage a scenario file; the levers show its own values."""
        text = (text or "").strip()
        self.path_text.set(text)
        if text:
            self._load_defaults(text)

    def _load_defaults(self, source: str) -> None:
        seed = self.levers.value.get("seed") or DEFAULT_SEED
        try:
            self.levers.set(scenario_defaults(source, int(seed)))
            self.error.set("")
        except (ScenarioError, OSError, ValueError) as exc:
            self.error.set(one_line(str(exc)))

    def set_lever(self, key: str, value: float) -> None:
        """Stage a lever value (applied on Reset)."""
        self.levers.set({**self.levers.value, key: value})

    async def play_loop(self) -> None:
        """Step at the chosen speed while playing, several steps per redraw if needed."""
        if not self.playing.value:
            return
        t0 = time.perf_counter()
        done = 0
        while self.playing.value:
            s = self.session
            rate = max(1, int(self.speed.value))
            due = int((time.perf_counter() - t0) * rate) - done
            if due <= 0:
                await asyncio.sleep(max(0.0, (done + 1) / rate - (time.perf_counter() - t0)))
                continue
            s.step(min(due, MAX_STEPS_PER_FRAME))
            self.show_failure()
            done += due  # a slow machine skips frames, not the pace
            self.replay.set(None)
            self.bump()
            if s.done:
                self.playing.set(False)
                break
            await asyncio.sleep(0.001)


def use_tab_state() -> TabState:
    """Create this tab's state (hooks: call once, at the top of :func:`Page`)."""
    holder = solara.use_memo(lambda: {"session": Session(RunConfig())}, [])
    defaults = solara.use_memo(lambda: scenario_defaults(DEFAULT_SCENARIO), [])
    return TabState(
        holder=holder,
        version=solara.use_reactive(0),
        playing=solara.use_reactive(False),
        speed=solara.use_reactive(DEFAULT_SPEED),
        replay=solara.use_reactive(None),
        scenario=solara.use_reactive(DEFAULT_SCENARIO),
        path_text=solara.use_reactive(""),
        levers=solara.use_reactive(defaults),
        overlay=solara.use_reactive(False),
        selected=solara.use_reactive("OpenAI"),
        error=solara.use_reactive(""),
    )


@solara.component
def Controls(st: TabState) -> None:
    """Scenario picker, levers, speed and overlay (not redrawn on steps)."""
    names = solara.use_memo(library_names, [])
    solara.HTML(tag="h3", unsafe_innerHTML="Scenario")
    solara.Select(
        "Library scenario",
        values=names,
        value=st.scenario.value,
        on_value=st.pick_scenario,
        classes=["abm-scenario"],
    )
    solara.InputText(
        "or a YAML path",
        value=st.path_text.value,
        on_value=st.set_path,
        classes=["abm-yaml-path"],
        placeholder="path/to/scenario.yaml",
    )
    solara.HTML(tag="div", unsafe_innerHTML="<h3>Levers</h3><small>applied on Reset</small>")
    for lever in LEVERS:
        LeverSlider(
            lever, st.levers.value.get(lever.key), lambda v, k=lever.key: st.set_lever(k, v)
        )
    if st.error.value:
        solara.HTML(tag="div", unsafe_innerHTML=escape(st.error.value), classes=["abm-error"])
    RunButtons(st)
    solara.HTML(tag="div", unsafe_innerHTML="<small>Speed (weeks per second)</small>")
    solara.ToggleButtonsSingle(
        value=st.speed.value,
        values=SPEEDS,
        on_value=st.speed.set,
        dense=True,
        classes=["abm-speed"],
    )
    solara.Checkbox(
        label="Overlay the baseline (same seed, dashed)",
        value=st.overlay.value,
        on_value=st.overlay.set,
    )


@solara.component
def RunButtons(st: TabState) -> None:
    """Step, Play/Pause and Reset."""
    _ = st.version.value
    done = st.session.done
    with solara.Row(style={"flex-wrap": "wrap", "gap": "4px"}):
        solara.Button("Step", on_click=st.step, classes=["abm-step"], disabled=done)
        if st.playing.value:
            solara.Button("Pause", on_click=lambda: st.playing.set(False), classes=["abm-pause"])
        else:
            solara.Button(
                "Play",
                on_click=lambda: st.playing.set(True),
                classes=["abm-play"],
                disabled=done,
                color="primary",
            )
        solara.Button("Reset", on_click=st.reset, classes=["abm-reset"])


@solara.component
def Views(st: TabState) -> None:
    """Status, replay slider, network, charts, event feed and inspector (redrawn each step)."""
    _ = st.version.value
    session = st.session
    index = session.frame_index(st.replay.value)
    frame = session.recorder.frames[index]
    live = st.replay.value is None or index == session.steps
    solara.HTML(
        tag="div",
        unsafe_innerHTML=(
            f'<b class="abm-date">{escape(frame.date)}</b> &nbsp; week '
            f'<span class="abm-week">{frame.steps}</span> of {session.total}'
            + ("" if live else " (replay)")
            + ("" if not session.done else " — end of run")
            + f'<div class="abm-run">{escape(session.describe())}</div>'
        ),
        classes=["abm-status"],
    )
    if session.steps > 0:
        with solara.Div(classes=["abm-replay"]):
            solara.SliderInt(
                "Replay",
                value=index,
                min=0,
                max=session.steps,
                on_value=lambda v: st.replay.set(None if v >= session.steps else v),
                thumb_label=True,
            )
    solara.HTML(tag="div", unsafe_innerHTML=session.network_svg(index), classes=["abm-network"])
    with solara.Div(classes=["abm-charts"]):
        for key, svg in session.chart_svgs(index, st.overlay.value):
            solara.HTML(tag="div", unsafe_innerHTML=svg, classes=["abm-chart", f"abm-chart-{key}"])
    names = session.recorder.names
    name = st.selected.value if st.selected.value in names else names[0]
    with solara.Row(style={"align-items": "flex-start", "gap": "12px"}):
        with solara.Column(style={"flex": "1", "min-width": "0"}, classes=["abm-panel"]):
            solara.HTML(tag="h4", unsafe_innerHTML="Events")
            solara.HTML(
                tag="div",
                unsafe_innerHTML=feed_html(session.recorder.feed_upto(frame.steps)),
                classes=["abm-feed"],
            )
        with solara.Column(style={"flex": "1", "min-width": "0"}, classes=["abm-panel"]):
            solara.HTML(tag="h4", unsafe_innerHTML="Agent inspector")
            solara.Select(
                "Firm",
                values=session.agent_names(),
                value=name,
                on_value=st.selected.set,
                classes=["abm-agent-select"],
            )
            solara.HTML(
                tag="div",
                unsafe_innerHTML=inspector_html(session.inspect(name, index)),
                classes=["abm-inspector"],
            )


@solara.component
def Page() -> None:
    """The whole page; its state is this tab's own."""
    st = use_tab_state()
    solara.lab.use_task(
        st.play_loop, dependencies=[st.playing.value, st.speed.value], prefer_threaded=False
    )
    solara.Title("GPU supply chain under export controls")
    solara.Style(CSS)
    with solara.Row(classes=["abm-page"], style={"align-items": "flex-start", "gap": "12px"}):
        with solara.Column(style={"width": "310px", "min-width": "310px"}):
            Controls(st)
        with solara.Column(style={"flex": "1", "min-width": "0"}):
            Views(st)

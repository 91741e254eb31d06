"""The Solara page: pick a scenario, move levers, play the run and watch the shortage spread.

Every piece of state lives in the :func:`Page` component (``use_reactive``,
``use_memo``), so each browser tab has its own :class:`viz.session.Session`:
two tabs never step or reset each other's model. Serve it with ``abm ui``.
"""

from __future__ import annotations

import asyncio
import time
from html import escape
from typing import Any

import solara
import solara.lab

from abm.scenario import ScenarioError, library_names
from viz.levers import LEVERS
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
.abm-feed .d, .abm-inspector .d { color: #777; margin-right: 6px; font-variant-numeric: tabular-nums; }
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
    return (
        f"{head}<table class='abm-state'>{rows}</table><h4>Recent events</h4>"
        f"<ul class='abm-agent-events'>{events or '<li>none yet</li>'}</ul>"
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


@solara.component
def Page() -> None:
    """The whole page; its state is this tab's own."""
    names = solara.use_memo(library_names, [])
    holder = solara.use_memo(lambda: {"session": Session(RunConfig())}, [])
    version = solara.use_reactive(0)
    playing = solara.use_reactive(False)
    speed = solara.use_reactive(DEFAULT_SPEED)
    replay = solara.use_reactive(None)
    scenario = solara.use_reactive(DEFAULT_SCENARIO)
    path_text = solara.use_reactive("")
    levers = solara.use_reactive(solara.use_memo(lambda: scenario_defaults(DEFAULT_SCENARIO), []))
    overlay = solara.use_reactive(False)
    selected = solara.use_reactive("OpenAI")
    error = solara.use_reactive("")
    session: Session = holder["session"]
    _ = version.value  # re-render on every step

    def bump() -> None:
        version.set(version.value + 1)

    def do_step() -> None:
        session.step(1)
        replay.set(None)
        bump()

    def do_reset() -> None:
        playing.set(False)
        source = path_text.value.strip() or scenario.value
        try:
            new = Session(RunConfig(scenario=source, levers=dict(levers.value)))
        except (ScenarioError, OSError, ValueError) as exc:
            error.set(str(exc))
            return
        error.set("")
        holder["session"] = new
        replay.set(None)
        if selected.value not in new.recorder.names:
            selected.set(new.recorder.names[0])
        bump()

    def pick_scenario(name: str) -> None:
        scenario.set(name)
        path_text.set("")
        seed = levers.value.get("seed") or DEFAULT_SEED
        try:
            levers.set(scenario_defaults(name, int(seed)))
            error.set("")
        except ScenarioError as exc:
            error.set(str(exc))

    def set_path(text: str | None) -> None:
        text = (text or "").strip()
        path_text.set(text)
        if not text:
            return
        seed = levers.value.get("seed") or DEFAULT_SEED
        try:
            levers.set(scenario_defaults(text, int(seed)))
            error.set("")
        except (ScenarioError, OSError, ValueError) as exc:
            error.set(str(exc))

    def set_lever(key: str, value: float) -> None:
        levers.set({**levers.value, key: value})

    async def play_loop() -> None:
        if not playing.value:
            return
        t0 = time.perf_counter()
        done = 0
        while playing.value:
            s: Session = holder["session"]
            rate = max(1, int(speed.value))
            due = int((time.perf_counter() - t0) * rate) - done
            if due <= 0:
                await asyncio.sleep(max(0.0, (done + 1) / rate - (time.perf_counter() - t0)))
                continue
            n = min(due, MAX_STEPS_PER_FRAME)
            s.step(n)
            done += due  # a slow machine skips frames, not the pace
            replay.set(None)
            bump()
            if s.done:
                playing.set(False)
                break
            await asyncio.sleep(0.001)

    solara.lab.use_task(play_loop, dependencies=[playing.value, speed.value], prefer_threaded=False)

    index = session.frame_index(replay.value)
    frame = session.recorder.frames[index]

    solara.Title("GPU supply chain under export controls")
    solara.Style(CSS)
    with solara.Row(classes=["abm-page"], style={"align-items": "flex-start", "gap": "12px"}):
        # ------------------------------------------------ controls
        with solara.Column(style={"width": "300px", "min-width": "300px"}):
            solara.HTML(tag="h3", unsafe_innerHTML="Scenario")
            solara.Select(
                "Library scenario",
                values=names,
                value=scenario.value,
                on_value=pick_scenario,
                classes=["abm-scenario"],
            )
            solara.InputText(
                "or a YAML path",
                value=path_text.value,
                on_value=set_path,
                classes=["abm-yaml-path"],
                placeholder="path/to/scenario.yaml",
            )
            solara.HTML(
                tag="div",
                unsafe_innerHTML="<h3>Levers</h3><small>applied on Reset</small>",
            )
            for lever in LEVERS:
                LeverSlider(
                    lever,
                    levers.value.get(lever.key),
                    lambda v, k=lever.key: set_lever(k, v),
                )
            if error.value:
                solara.HTML(tag="div", unsafe_innerHTML=escape(error.value), classes=["abm-error"])
            with solara.Row(style={"flex-wrap": "wrap", "gap": "4px"}):
                solara.Button("Step", on_click=do_step, classes=["abm-step"], disabled=session.done)
                if playing.value:
                    solara.Button(
                        "Pause", on_click=lambda: playing.set(False), classes=["abm-pause"]
                    )
                else:
                    solara.Button(
                        "Play",
                        on_click=lambda: playing.set(True),
                        classes=["abm-play"],
                        disabled=session.done,
                        color="primary",
                    )
                solara.Button("Reset", on_click=do_reset, classes=["abm-reset"])
            solara.HTML(tag="div", unsafe_innerHTML="<small>Speed (weeks per second)</small>")
            solara.ToggleButtonsSingle(
                value=speed.value,
                values=SPEEDS,
                on_value=speed.set,
                dense=True,
                classes=["abm-speed"],
            )
            solara.Checkbox(
                label="Overlay the baseline (same seed, dashed)",
                value=overlay.value,
                on_value=overlay.set,
            )
        # ------------------------------------------------ views
        with solara.Column(style={"flex": "1", "min-width": "0"}):
            live = replay.value is None or index == session.steps
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
                solara.SliderInt(
                    "Replay",
                    value=index,
                    min=0,
                    max=session.steps,
                    on_value=lambda v: replay.set(None if v >= session.steps else v),
                    thumb_label=True,
                )
            solara.HTML(
                tag="div",
                unsafe_innerHTML=session.network_svg(index),
                classes=["abm-network"],
            )
            with solara.Div(classes=["abm-charts"]):
                for key, svg in session.chart_svgs(index, overlay.value):
                    solara.HTML(
                        tag="div", unsafe_innerHTML=svg, classes=["abm-chart", f"abm-chart-{key}"]
                    )
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
                        value=selected.value
                        if selected.value in session.recorder.names
                        else session.recorder.names[0],
                        on_value=selected.set,
                        classes=["abm-agent-select"],
                    )
                    name = (
                        selected.value
                        if selected.value in session.recorder.names
                        else session.recorder.names[0]
                    )
                    solara.HTML(
                        tag="div",
                        unsafe_innerHTML=inspector_html(session.inspect(name, index)),
                        classes=["abm-inspector"],
                    )

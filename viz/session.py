"""One browser tab's run: the model, its recorder and the views, without Solara.

A :class:`Session` is created per tab by the page (component state), so two
tabs never share a model. Everything here is plain Python and testable
without a browser.

Library scenarios load here; a YAML path is checked and loaded by
:mod:`viz.loading` (allowed folders only, in a worker process with a time
limit). Building and stepping the model never raise anything but a
:class:`RunError` with a one-line message: a scenario that validates but
cannot run leaves the page usable.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from typing import Any

from abm.engine.model import SupplyChainModel
from abm.scenario import Scenario, ScenarioError, library_names, load_scenario
from viz.levers import LEVERS, describe_levers, lever_defaults, lever_overrides
from viz.loading import Loaded, load_file, one_line
from viz.recorder import Recorder
from viz.svg import NetworkView, chart_svg

DEFAULT_SCENARIO = "baseline"
DEFAULT_SEED = 1


@dataclass(frozen=True)
class RunConfig:
    """What Reset builds: a scenario (library name or YAML path), lever values, a horizon.

    Attributes:
        scenario: Library name or path to a YAML file.
        levers: Lever values by key (see :data:`viz.levers.LEVERS`); a lever
            equal to the scenario's own value changes nothing.
        weeks: Horizon override (None: the scenario's).
    """

    scenario: str = DEFAULT_SCENARIO
    levers: dict[str, float | None] = field(default_factory=dict)
    weeks: int | None = None

    @property
    def seed(self) -> int:
        """The run's seed (the ``seed`` lever)."""
        return int(self.levers.get("seed") or DEFAULT_SEED)


class RunError(ScenarioError):
    """A run that cannot be built or stepped; the message is one line for the page."""


def is_library(scenario: str) -> bool:
    """True for the name of a library scenario (anything else is a path, checked on load)."""
    return scenario in library_names()


def scenario_defaults(scenario: str, seed: int = DEFAULT_SEED) -> dict[str, float | None]:
    """Lever values of a scenario as written (what the sliders show after picking it).

    Raises:
        abm.scenario.ScenarioError: A one-line refusal (see :func:`viz.loading.load_file`).
    """
    if is_library(scenario):
        return lever_defaults(load_scenario(scenario), seed)
    return lever_defaults(load_file(scenario, seed=seed).plain, seed)


def build_spec(config: RunConfig) -> tuple[Scenario, list[str]]:
    """The scenario of a run config with its levers applied, and the moved levers in words.

    A library scenario loads in this process; a path goes through
    :func:`viz.loading.load_file` (allowed folders, worker process, time limit).
    """
    if not is_library(config.scenario):
        loaded: Loaded = load_file(
            config.scenario, dict(config.levers), config.weeks, seed=config.seed
        )
        return loaded.spec, loaded.moved
    plain = load_scenario(config.scenario)
    overrides = lever_overrides(plain, config.levers)
    spec = load_scenario(config.scenario, overrides) if overrides else plain
    if config.weeks is not None:
        spec = spec.model_copy(update={"weeks": int(config.weeks)})
    return spec, describe_levers(plain, config.levers)


_BASELINES: dict[tuple[int, int], dict[str, dict[str, list[float]]]] = {}
_BASELINE_LOCK = threading.Lock()


def baseline_series(seed: int, weeks: int) -> dict[str, dict[str, list[float]]]:
    """Chart series of the library baseline run with ``seed`` over ``weeks`` (cached, shared).

    The cache holds read-only numbers, so sharing it between tabs is safe.
    """
    key = (seed, weeks)
    with _BASELINE_LOCK:
        if key not in _BASELINES:
            model = SupplyChainModel.from_scenario("baseline", seed=seed, weeks=weeks)
            rec = Recorder(model)
            while model.running and model.steps < weeks:
                model.step()
                rec.record()
            _BASELINES[key] = rec.series
        return _BASELINES[key]


class Session:
    """A model run as the page sees it.

    Args:
        config: What to build.

    Attributes:
        failure: One line saying why the run stopped early ("" while it runs).

    Raises:
        abm.scenario.ScenarioError: When the scenario or a lever value is refused
            (:class:`RunError` when it validates but the model cannot be built).
    """

    def __init__(self, config: RunConfig | None = None) -> None:
        self.config = config or RunConfig()
        self.spec, self.moved = build_spec(self.config)
        try:
            self.model = SupplyChainModel(self.spec, seed=self.config.seed)
            self.recorder = Recorder(self.model)
            self.network = NetworkView(self.recorder)
        except Exception as exc:  # noqa: BLE001 - a validated scenario that cannot run
            raise RunError(
                one_line(f"{self.config.scenario}: the run cannot start ({_why(exc)})")
            ) from None
        self.lock = threading.Lock()
        self.failure = ""

    @property
    def steps(self) -> int:
        """Steps taken so far."""
        return len(self.recorder.frames) - 1

    @property
    def total(self) -> int:
        """Steps of the whole run."""
        return int(self.spec.weeks)

    @property
    def done(self) -> bool:
        """True at the end of the horizon (or when a week failed)."""
        return bool(self.failure) or not self.model.running or self.steps >= self.total

    def step(self, n: int = 1) -> int:
        """Advance up to ``n`` weeks, recording each; returns the steps taken.

        A week that fails ends the run where it is: :attr:`failure` says why in one
        line and the weeks already recorded stay on show.
        """
        taken = 0
        with self.lock:
            while taken < n and not self.done:
                week = self.steps + 1
                try:
                    self.model.step()
                    self.recorder.record()
                except Exception as exc:  # noqa: BLE001 - shown in the page, never raised
                    self.failure = one_line(f"week {week} could not be run ({_why(exc)})")
                    break
                taken += 1
        return taken

    def frame_index(self, replay: int | None) -> int:
        """The frame shown: the replay position if set and recorded, else the latest."""
        last = len(self.recorder.frames) - 1
        return last if replay is None else max(0, min(int(replay), last))

    def date_of(self, index: int) -> str:
        """ISO date of a frame."""
        return self.recorder.frames[index].date

    def network_svg(self, index: int) -> str:
        """The network drawing of a frame."""
        return self.network.svg(index)

    def chart_svgs(self, index: int, overlay: bool = False) -> list[tuple[str, str]]:
        """``(chart key, svg)`` of every chart up to a frame, with an optional baseline overlay."""
        if index < 0:
            index += len(self.recorder.frames)
        base = baseline_series(self.config.seed, self.total) if overlay else None
        out = []
        for chart in self.recorder.charts:
            b = None
            if base is not None:
                b = {k: v for k, v in base.get(chart.key, {}).items()}
            svg = chart_svg(
                chart,
                self.recorder.series[chart.key],
                index,
                self.total,
                self.spec.start_date,
                baseline=b,
            )
            out.append((chart.key, svg))
        return out

    def agent_names(self) -> list[str]:
        """Firm names in graph order."""
        return list(self.recorder.names)

    def inspect(self, name: str, index: int) -> dict[str, Any]:
        """A firm's identity, its state at a frame and its latest events up to it."""
        a = self.model.cast.firm.get(name)
        frame = self.recorder.frames[index]
        return {
            "name": name,
            "family": getattr(a, "family", ""),
            "region": getattr(a, "region", ""),
            "country": getattr(a, "country", ""),
            "active": frame.active[self.recorder.names.index(name)]
            if name in self.recorder.names
            else True,
            "state": frame.states.get(name, {}),
            "events": self.recorder.events_of(name, frame.steps),
            "supply": self.recorder.supply_of(name, frame.steps),
        }

    def moved_as_run(self) -> list[str]:
        """Moved levers with the values read back from the scenario the model runs."""
        ran = lever_defaults(self.spec, self.config.seed)
        labels = {lv.label: lv.key for lv in LEVERS}
        out = []
        for text in self.moved:
            label = text.split(" = ")[0]
            key = labels.get(label, "")
            value = None if key == "enterprise_growth" else ran.get(key)  # relative lever
            out.append(text if value is None else f"{label} = {value:g}")
        return out

    def describe(self) -> str:
        """One line naming the run: scenario, seed and moved levers."""
        moved = "; ".join(self.moved_as_run()) or "no lever moved"
        src = self.config.scenario
        label = self.spec.name if not str(src).endswith((".yaml", ".yml")) else f"{src}"
        return f"{label} · seed {self.config.seed} · {moved}"


def _why(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__


def is_path(text: str) -> bool:
    """True when the scenario field holds a YAML path rather than a library name."""
    return text.endswith((".yaml", ".yml"))

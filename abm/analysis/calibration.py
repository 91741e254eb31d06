"""``abm calibrate``: a reproducible fit of the declared free parameters to the targets.

The search is declared in ``scenarios/calibration.yaml`` (``search:``): the
free parameters as scenario key paths with the range we believe and the
reference (assumption id) behind that range, a Latin-hypercube size, the seeds
and the sampler's seed. Every design point runs over those seeds through the
batch runner; its objective is the mean over seeds of the sum of the targets'
relative misses (:func:`abm.analysis.targets.loss`); points are ranked first by how many
targets pass in at least ``pass_share`` of the seeds, then by that objective.
The result — the best point, its objective, the per-target pass shares
and the best few points — is written next to the search, and ``fitted:`` (the
values the baseline loads through its ``calibration:`` key) is replaced by the
best point when asked to apply it.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal

import numpy as np
import pandas as pd
import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from abm.analysis.targets import TargetSet, load_targets, loss
from abm.analysis.validation import evaluate_batch
from abm.runs.batch import BatchSpec, SampleSpec, run_batch
from abm.runs.outputs import atomic_write_bytes, git_commit
from abm.scenario import ScenarioError, first_error, load_references, read_yaml
from abm.scenario.library import CALIBRATION_FILE_NAME, library_file

Progress = Callable[[int, int, int], None]

CALIBRATION_FILE = library_file(CALIBRATION_FILE_NAME)


class FreeParameter(BaseModel):
    """One fitted parameter: where it lives, the range searched and why."""

    model_config = ConfigDict(extra="forbid")

    path: str
    low: float
    high: float
    integer: bool = False
    source: str
    why: str


class SearchSpec(BaseModel):
    """The declared search."""

    model_config = ConfigDict(extra="forbid")

    method: Literal["lhs"] = "lhs"
    samples: int = Field(64, gt=0)
    seeds: list[int] = Field(default_factory=lambda: [1, 2], min_length=1)
    sample_seed: int = 0
    stages: int = Field(1, ge=1)
    """Stage 1 samples the declared ranges; each later stage samples around the best point."""
    shrink: float = Field(0.35, gt=0, lt=1)
    """Width of a later stage's ranges, as a share of the previous stage's."""
    scenario: str = "baseline"
    confirm_top: int = Field(0, ge=0)
    """Best points of each stage re-run over ``confirm_seeds`` before choosing (0: none)."""
    confirm_seeds: list[int] = Field(default_factory=list)
    """Extra seeds the candidates are confirmed on (guards against fitting two seeds' noise)."""
    parameters: list[FreeParameter] = Field(min_length=1)
    checks: str | None = None
    """A library file of plausibility checks (targets format) ranked with the targets."""


def load_search(path: str | Path = CALIBRATION_FILE) -> tuple[SearchSpec, dict[str, Any]]:
    """The search spec and the whole file (to keep its other sections when rewriting)."""
    path = Path(path)
    if not path.exists():
        raise ScenarioError(f"{path}: no such calibration file")
    data = read_yaml(path)
    try:
        spec = SearchSpec.model_validate(data.get("search"))
    except ValidationError as exc:
        raise ScenarioError(first_error(path, exc, prefix="search.")) from None
    refs = load_references()
    for p in spec.parameters:
        if p.source not in refs:
            raise ScenarioError(
                f"{path}: search.parameters[{p.path}].source: unknown reference {p.source!r}"
            )
        if not p.low < p.high:
            raise ScenarioError(f"{path}: search.parameters[{p.path}]: expected low < high")
    return spec, data


def confirm_runs_planned(spec: SearchSpec) -> int:
    """Runs of the confirmation step (candidates x confirmation seeds)."""
    if not (spec.confirm_top and spec.confirm_seeds):
        return 0
    return spec.stages * spec.confirm_top * len(spec.confirm_seeds)


def score_points(
    values: pd.DataFrame, targets: TargetSet, point: list[Any] | None = None
) -> pd.DataFrame:
    """Objective per design point from per-run target values.

    Runs of one point are averaged; the point of a run is given by ``point`` or read
    from run ids like ``baseline-p007-s2``.
    """
    frame = values.copy()
    frame["point"] = point if point is not None else [_point_of(r) for r in frame.index]
    # into=dict is the default; given, the stubs type the rows' keys as Any, not Hashable
    frame["loss"] = [loss(targets, row) for row in frame.to_dict("records", into=dict)]
    for t in targets.targets:
        frame[f"ok_{t.id}"] = [t.passes(v) for v in frame[t.id]]
    ok_cols = [f"ok_{t.id}" for t in targets.targets]
    g = frame.groupby("point")
    out = pd.DataFrame({"loss": g["loss"].mean()})
    shares = g[ok_cols].mean()
    out["targets_passing"] = (shares >= targets.pass_share).sum(axis=1)
    for t in targets.targets:
        out[t.id] = shares[f"ok_{t.id}"]
    return out.sort_values(["targets_passing", "loss"], ascending=[False, True])


def _passing(scores: pd.DataFrame, targets: TargetSet, row: int) -> int:
    """How many of ``targets`` pass in at least their pass share of seeds at ``row``."""
    return sum(float(scores[t.id].loc[row]) >= targets.pass_share for t in targets.targets)


def _point_of(run_id: str) -> int:
    for part in run_id.split("-"):
        if part.startswith("p") and part[1:].isdigit():
            return int(part[1:])
    return 0


def calibrate(
    out: str | Path,
    path: str | Path = CALIBRATION_FILE,
    workers: int = 2,
    samples: int | None = None,
    apply: bool = False,
    progress: Callable[[int, int, int], None] | None = None,
) -> dict[str, Any]:
    """Run the declared search into ``out`` and return (and optionally apply) its result.

    Args:
        out: A new folder for the search's runs and ``result.yaml``.
        path: The calibration file holding ``search:``.
        workers: Local worker processes.
        samples: Override the number of design points (e.g. a quick look).
        apply: Write ``result:`` and ``fitted:`` (the best point) back into ``path``.
        progress: Called with (done, failed, total) after each run.
    """
    started = time.monotonic()
    spec, data = load_search(path)
    n = samples or spec.samples
    given = load_targets()
    targets = given
    extra: TargetSet | None = None
    if spec.checks:  # plausibility checks count with the given targets in the ranking
        extra = load_targets(library_file(spec.checks))
        targets = TargetSet(pass_share=given.pass_share, targets=given.targets + extra.targets)
    bounds = {p.path: (p.low, p.high) for p in spec.parameters}
    ranges = dict(bounds)
    integers = [p.path for p in spec.parameters if p.integer]
    stages: list[_Stage] = []
    n_confirm = confirm_runs_planned(spec)
    total = spec.stages * n * len(spec.seeds) + n_confirm
    for number in range(1, spec.stages + 1):
        folder = Path(out) / f"stage{number}"
        sample = SampleSpec(
            method="lhs", n=n, ranges=ranges, seed=spec.sample_seed + number - 1, integers=integers
        )
        batch = BatchSpec(scenarios=[spec.scenario], seeds=spec.seeds, sample=sample)
        before = (number - 1) * n * len(spec.seeds)
        result = run_batch(
            batch, folder, workers=workers, progress=_offset(progress, total, before)
        )
        if len(result.failed) == len(batch.tasks()):
            first = result.manifest["runs"][result.failed[0]]["error"].splitlines()[0]
            raise RuntimeError(f"every run failed, e.g. {first}")
        values = evaluate_batch(folder, targets)
        stage = _Stage(number, batch.points(), values, score_points(values, targets))
        stage.scores.to_csv(folder / "scores.csv")
        stage.runs, stage.failed = len(batch.tasks()), len(result.failed)
        stages.append(stage)
        ranges = _around(stage.points[stage.best], ranges, bounds, spec.shrink, integers)
    # candidates: the best points of every stage, scored on their own runs and, if asked,
    # on runs over the confirmation seeds too
    candidates = [
        (st.number, int(p), st.points[int(p)])
        for st in stages
        for p in st.scores.index[: max(1, spec.confirm_top)]
    ]
    confirming = bool(spec.confirm_top and spec.confirm_seeds)
    confirm_runs = 0
    frames, labels = [], []
    for i, (k, p, point) in enumerate(candidates):
        own = stages[k - 1].values
        runs = [own[[_point_of(r) == p for r in own.index]]]
        if confirming:
            folder = Path(out) / "confirm" / f"c{i:02d}"
            batch = BatchSpec(
                scenarios=[spec.scenario],
                seeds=spec.confirm_seeds,
                sweep={key: [v] for key, v in point.items()},
            )
            done = spec.stages * n * len(spec.seeds) + confirm_runs
            run_batch(batch, folder, workers=workers, progress=_offset(progress, total, done))
            confirm_runs += len(batch.tasks())
            runs.append(evaluate_batch(folder, targets))
        frames += runs
        labels += [i] * sum(len(r) for r in runs)
    scores = score_points(pd.concat(frames), targets, point=labels)
    if confirming:
        scores.to_csv(Path(out) / "confirm" / "scores.csv")
    seeds_used = sorted(set(spec.seeds) | (set(spec.confirm_seeds) if confirming else set()))
    best_candidate = int(scores.index[0])
    best_stage, best, best_values = candidates[best_candidate]
    top = []
    for c in scores.index[:5]:
        row = scores.loc[c]
        k, p, point_values = candidates[int(c)]
        top.append(
            {
                "stage": k,
                "point": p,
                "loss": round(float(row["loss"]), 4),
                "targets_passing": int(row["targets_passing"]),
                "values": {key: _plain(v) for key, v in point_values.items()},
            }
        )
    record = {
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "git_commit": git_commit(),
        "elapsed_seconds": round(time.monotonic() - started),
        "command": f"abm calibrate --samples {n}" + (" --apply" if apply else ""),
        "objective": "most targets (and plausibility checks, when `checks` names a file) "
        "passing in >= pass_share of the seeds, then the lowest mean over seeds of the sum "
        "over them of the relative miss outside each pass band (abm.analysis.targets.loss)",
        "design_points_per_stage": n,
        "stages": [
            {
                "stage": k,
                "runs": runs,
                "failed_runs": failed,
                "best_loss": round(float(best_loss), 4),
            }
            for k, runs, failed, best_loss in (
                (st.number, st.runs, st.failed, st.scores["loss"].loc[st.best]) for st in stages
            )
        ],
        "confirmation": {
            "candidates": len(candidates),
            "seeds": seeds_used,
            "runs": confirm_runs,
        },
        "best_stage": best_stage,
        "best_point": best,
        "best_loss": round(float(scores["loss"].loc[best_candidate]), 4),
        "best_targets_passing": f"{_passing(scores, given, best_candidate)} of "
        f"{len(given.targets)} (in >= {targets.pass_share:.0%} of seeds {seeds_used})",
        "checks": spec.checks,
        "best_checks_passing": (
            f"{_passing(scores, extra, best_candidate)} of {len(extra.targets)}"
            if extra is not None
            else None
        ),
        "best_pass_shares": {
            t.id: round(float(scores[t.id].loc[best_candidate]), 3) for t in targets.targets
        },
        "top": top,
    }
    fitted = {k: _exact(v) for k, v in best_values.items()}
    _dump(Path(out) / "result.yaml", {"result": record, "fitted": fitted})
    if apply:
        data["result"] = record
        data["fitted"] = fitted
        _dump(Path(path), data, header=_header(Path(path)))
    return {"result": record, "fitted": fitted}


@dataclass
class _Stage:
    """One stage of the search: its design, per-run target values and per-point scores."""

    number: int
    points: list[dict[str, Any]]
    values: pd.DataFrame
    scores: pd.DataFrame
    runs: int = 0
    failed: int = 0

    @property
    def best(self) -> int:
        """The stage's best design point."""
        return int(self.scores.index[0])


def _offset(progress: Progress | None, total: int, done: int = 0) -> Progress | None:
    """Report a batch's progress as part of the whole search (``done`` runs before it)."""
    if progress is None:
        return None
    return lambda d, f, t: progress(done + d, f, total)


def _around(
    best: dict[str, Any],
    ranges: dict[str, tuple[float, float]],
    bounds: dict[str, tuple[float, float]],
    shrink: float,
    integers: list[str],
) -> dict[str, tuple[float, float]]:
    """Ranges of the next stage: ``shrink`` times as wide, centred on ``best``, within bounds."""
    out = {}
    for key, (lo, hi) in ranges.items():
        half = (hi - lo) * shrink / 2
        if key in integers:
            half = max(half, 1.0)
        a = max(bounds[key][0], best[key] - half)
        b = min(bounds[key][1], best[key] + half)
        out[key] = (a, b) if a < b else (bounds[key][0], bounds[key][1])
    return out


def _exact(v: Any) -> Any:
    """A fitted value as written: exact, so the baseline runs the point that was scored."""
    return int(v) if isinstance(v, (np.integer, int)) else float(v)


def _plain(v: Any) -> Any:
    if isinstance(v, (np.integer, int)):
        return int(v)
    return round(float(v), 4)


def _header(path: Path) -> str:
    lines = []
    for line in path.read_text(encoding="utf-8").splitlines():
        if not line.startswith("#"):
            break
        lines.append(line)
    return "\n".join(lines) + "\n" if lines else ""


def _dump(path: Path, data: dict[str, Any], header: str = "") -> None:
    text = header + yaml.safe_dump(data, sort_keys=False, allow_unicode=True, width=100)
    atomic_write_bytes(path, text.encode("utf-8"))

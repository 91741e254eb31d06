"""Validation of the baseline against the calibration targets over many seeds.

``validate`` runs a scenario over seeds 1..N through the batch runner (in
parallel), evaluates every target of ``scenarios/targets.yaml`` on each run,
and summarises: the model's median and 5-95 % band per target and the share
of seeds that pass. ``write_report`` draws the model's band over time against
the targets' windows and bands (HTML + PNG).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow.dataset as ds

from abm.analysis.targets import TargetSet, evaluate_run, load_targets
from abm.runs.batch import RUNS_DIR, BatchSpec, run_batch

Progress = Callable[[int, int, int], None]


def read_series(
    out: str | Path, needed: set[tuple[str, str]]
) -> dict[str, dict[tuple[str, str], tuple[np.ndarray, np.ndarray]]]:
    """The needed metric series of every run in a batch folder.

    Returns:
        ``run_id -> (metric, scope) -> (dates as datetime64[D], values)``.
    """
    names = sorted({n for n, _ in needed})
    files = sorted(str(p) for p in (Path(out) / RUNS_DIR).glob("run_id=*/metrics.parquet"))
    dataset = ds.dataset(files, format="parquet")
    table = dataset.to_table(
        columns=["run_id", "step", "date", "name", "scope", "value"],
        filter=ds.field("name").isin(names),
    )
    frame = table.to_pandas()
    frame = frame[[(n, s) in needed for n, s in zip(frame["name"], frame["scope"], strict=True)]]
    out_map: dict[str, dict[tuple[str, str], tuple[np.ndarray, np.ndarray]]] = {}
    for (run_id, name, scope), g in frame.sort_values("step").groupby(
        ["run_id", "name", "scope"], sort=True
    ):
        dates = g["date"].to_numpy().astype("datetime64[D]")
        out_map.setdefault(str(run_id), {})[(name, scope)] = (dates, g["value"].to_numpy())
    return out_map


Series = dict[str, dict[tuple[str, str], tuple[np.ndarray, np.ndarray]]]


def evaluate_series(series: Series, targets: TargetSet) -> pd.DataFrame:
    """One row per run, one column per target (its statistic), from series read once."""
    rows = [{"run_id": rid, **evaluate_run(targets, s)} for rid, s in sorted(series.items())]
    return pd.DataFrame(rows).set_index("run_id")


def evaluate_batch(out: str | Path, targets: TargetSet) -> pd.DataFrame:
    """One row per run of a batch folder, one column per target (its statistic)."""
    return evaluate_series(read_series(out, targets.series_needed()), targets)


@dataclass
class Validation:
    """The result of a validation: per-run values, the series behind them, the summary.

    Attributes:
        targets: The target set checked.
        values: Run x target statistics.
        out: The validation folder.
        series: The metric series the statistics came from (the report draws them).
    """

    targets: TargetSet
    values: pd.DataFrame
    out: Path
    series: Series

    def table(self) -> pd.DataFrame:
        """Target, observed, band, model median and 5-95 % band, share of seeds passing."""
        if self._table is None:
            self._table = self._summarise()
        return self._table.copy()

    _table: pd.DataFrame | None = field(default=None, init=False, repr=False)

    def _summarise(self) -> pd.DataFrame:
        rows = []
        for t in self.targets.targets:
            v = self.values[t.id].to_numpy(dtype=float)
            ok = np.array([t.passes(x) for x in v])
            finite = v[~np.isnan(v)]
            q = np.quantile(finite, [0.05, 0.5, 0.95]) if finite.size else [np.nan] * 3
            rows.append(
                {
                    "id": t.id,
                    "target": t.title,
                    "observed": t.observed,
                    "pass band": t.band,
                    "median": q[1],
                    "p5": q[0],
                    "p95": q[2],
                    "seeds passing": float(ok.mean()) if ok.size else 0.0,
                    "pass": bool(ok.size and ok.mean() >= self.targets.pass_share),
                    "sources": ", ".join(t.sources),
                }
            )
        return pd.DataFrame(rows)

    @property
    def passed(self) -> bool:
        """True when every target passes in at least ``pass_share`` of the seeds."""
        return bool(self.table()["pass"].all())

    def markdown(self) -> str:
        """The table as Markdown (what ``abm validate`` prints and the docs show)."""
        lines = [
            "| target | observed | pass band | model median [5-95 %] | seeds passing | |",
            "|---|---|---|---|---|---|",
        ]
        for r in self.table().to_dict("records"):
            band = f"{_num(r['median'])} [{_num(r['p5'])} - {_num(r['p95'])}]"
            lines.append(
                f"| {r['id']} {r['target']} | {r['observed']} ({r['sources']}) | {r['pass band']} "
                f"| {band} | {100 * r['seeds passing']:.0f} % | {'pass' if r['pass'] else 'FAIL'} |"
            )
        return "\n".join(lines)


def _num(x: float) -> str:
    if x != x:  # NaN
        return "n/a"
    if abs(x) >= 1e6:
        return f"{x / 1e6:.2f}M"
    if abs(x) >= 1e4:
        return f"{x / 1e3:.0f}k"
    return f"{x:.2f}"


def validate(
    seeds: int = 20,
    out: str | Path = "out/validate",
    workers: int = 2,
    scenario: str = "baseline",
    targets_path: str | Path | None = None,
    progress: Progress | None = None,
) -> Validation:
    """Run ``scenario`` over seeds 1..``seeds`` and check every target.

    Args:
        seeds: Number of seeds.
        out: A new (or empty) folder for the runs, the table and the report.
        workers: Local worker processes for the batch.
        scenario: Library name or YAML path (the baseline by default).
        targets_path: A targets file (``scenarios/targets.yaml`` by default).
        progress: Called with (done, failed, total) after each run.
    """
    targets = load_targets(targets_path) if targets_path else load_targets()
    spec = BatchSpec(scenarios=[scenario], seeds=seeds)
    result = run_batch(spec, out, workers=workers, progress=progress)
    if result.failed:
        first = result.manifest["runs"][result.failed[0]]["error"].splitlines()[0]
        raise RuntimeError(f"{len(result.failed)} run(s) failed, e.g. {first}")
    series = read_series(out, targets.series_needed())
    values = evaluate_series(series, targets)
    v = Validation(targets, values, Path(out), series)
    values.to_csv(Path(out) / "validation_runs.csv")
    table = v.table()
    (Path(out) / "validation.json").write_text(
        json.dumps(
            {
                "scenario": scenario,
                "seeds": seeds,
                "pass_share": targets.pass_share,
                "passed": v.passed,
                "table": json.loads(table.to_json(orient="records")),
            },
            indent=2,
        ),
        encoding="utf-8",
    )
    (Path(out) / "validation.md").write_text(v.markdown() + "\n", encoding="utf-8")
    return v


def write_report(v: Validation) -> Path:
    """Plots of the model's band over time against each target, as PNGs and one HTML page.

    One chart per (metric, scope): the seeds' median and 5-95 % band by week, and
    each target drawn as a box spanning its window and pass band (green when the
    target passes, red when it fails). Returns the HTML path.
    """
    from matplotlib.figure import Figure
    from matplotlib.patches import Rectangle

    from abm.analysis.htmlpage import CSS, data_uri, escape, png_bytes
    from abm.runs.outputs import atomic_write_bytes

    series = v.series
    table = v.table().set_index("id")
    sections = []
    by_series: dict[tuple[str, str], list] = {}
    for t in v.targets.targets:
        by_series.setdefault((t.metric, t.scope), []).append(t)
    for (metric, scope), targets in by_series.items():
        runs = [s[(metric, scope)] for s in series.values() if (metric, scope) in s]
        if not runs:
            continue
        n = min(len(r[1]) for r in runs)
        dates = runs[0][0][:n]
        stack = np.vstack([r[1][:n] for r in runs])
        lo, med, hi = np.quantile(stack, [0.05, 0.5, 0.95], axis=0)
        fig = Figure(figsize=(9, 3.6))
        ax = fig.add_subplot()
        x = dates.astype("datetime64[D]").astype(object)
        ax.fill_between(x, lo, hi, color="#4c72b0", alpha=0.25, label="model 5-95 %")
        ax.plot(x, med, color="#4c72b0", lw=1.5, label="model median")
        for t in targets:
            if t.statistic not in ("mean", "min4", "max", "min"):
                continue  # sums, growth and delays are not levels of the series
            ok = bool(table.loc[t.id, "pass"])
            y0 = t.lower if t.lower is not None else ax.get_ylim()[0]
            y1 = t.upper if t.upper is not None else ax.get_ylim()[1]
            start, end = (np.datetime64(d, "D").astype(object) for d in t.window)
            ax.add_patch(
                Rectangle(
                    (start, y0),
                    end - start,
                    y1 - y0,
                    fill=False,
                    lw=1.5,
                    ec="#2a9d3a" if ok else "#c0392b",
                )
            )
            ax.annotate(t.id, (start, y1), fontsize=8, va="bottom")
        ax.set_title(f"{metric} — {scope}", fontsize=10)
        ax.legend(fontsize=8, loc="upper left")
        fig.tight_layout()
        png = png_bytes(fig)
        name = f"validation_{metric}_{scope}".replace(" ", "_") + ".png"
        atomic_write_bytes(v.out / name, png)
        notes = "".join(
            f"<li>{escape(t.id)} {escape(t.title)}: {escape(t.statistic)} over "
            f"{t.window[0]} – {t.window[1]}, band {escape(t.band)}; model median "
            f"{_num(table.loc[t.id, 'median'])}, {100 * table.loc[t.id, 'seeds passing']:.0f} % "
            f"of seeds pass</li>"
            for t in targets
        )
        sections.append(
            f"<h2>{escape(metric)} — {escape(scope)}</h2><figure><img alt='{escape(name)}' "
            f"src='{data_uri(png)}'></figure><ul>{notes}</ul>"
        )
    rows = "".join(
        f"<tr><td>{escape(r['id'])}</td><td>{escape(r['target'])}</td>"
        f"<td>{escape(r['observed'])} ({escape(r['sources'])})</td>"
        f"<td>{escape(r['pass band'])}</td><td class='num'>{_num(r['median'])}"
        f" [{_num(r['p5'])} – {_num(r['p95'])}]</td>"
        f"<td class='num'>{100 * r['seeds passing']:.0f} %</td>"
        f"<td>{'pass' if r['pass'] else '<b class=error>FAIL</b>'}</td></tr>"
        for r in v.table().to_dict("records")
    )
    page = (
        f"<!doctype html><html><head><meta charset='utf-8'><title>Validation</title>"
        f"<style>{CSS}</style></head><body><h1>Validation of the baseline</h1>"
        f"<p class='note'>{len(v.values)} seeds; a target passes when at least "
        f"{100 * v.targets.pass_share:.0f} % of the seeds fall in its band. Boxes: each "
        "target's window and pass band (green pass, red fail).</p>"
        "<table><tr><th>id</th><th>target</th><th>observed (sources)</th><th>pass band</th>"
        f"<th>model median [5–95 %]</th><th>seeds passing</th><th></th></tr>{rows}</table>"
        + "".join(sections)
        + "</body></html>"
    )
    path = v.out / "validation.html"
    atomic_write_bytes(path, page.encode("utf-8"))
    return path

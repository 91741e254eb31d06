"""The benchmark suite behind ``abm bench`` and ``make bench``.

Measures, on the machine it runs on:

* the baseline run (default world, 261 weeks, metrics and events recorded):
  median wall time of building and simulating, and with its files written;
* the time of each of the seven stages of :meth:`SupplyChainModel.step`
  over a baseline run (and over the largest synthetic world);
* scaling: synthetic worlds (:mod:`abm.engine.synthetic`) of about 100, 1,000 and
  10,000 agents, each run in a fresh process for its time and peak memory;
* batch throughput: the same baseline batch with 1 and 2 local workers, and
  through ``mesa.batch_run`` (1 and 2 processes) for comparison.

Results are printed as a table and written to ``bench/results.json`` with a
description of the machine. Figures depend on the machine and on what else
it is doing: they are measurements, not tests.
"""

from __future__ import annotations

import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

__all__ = [
    "machine",
    "run_suite",
    "scale_run",
    "stage_times",
    "table",
]

TARGETS = {
    "baseline_simulate_s": 1.0,
    "baseline_with_files_s": 1.5,
    "scale_10k_s": 60.0,
    "scale_10k_peak_mib": 2048.0,
    "scale_ratio_10k_1k": 12.0,
    "batch_speedup_2_workers": 1.8,
}
"""The issue's targets (times and memory at most, the speed-up at least)."""


def machine() -> dict[str, Any]:
    """CPU, cores, memory, OS, Python and package versions of this machine."""
    from abm.runs.outputs import git_commit, package_versions

    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    ram = None
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal"):
                ram = round(int(line.split()[1]) / 1024**2, 1)
                break
    except OSError:
        pass
    try:
        load = [round(x, 2) for x in os.getloadavg()]
    except OSError:
        load = None
    return {
        "cpu": cpu,
        "cores": os.cpu_count(),
        "ram_gib": ram,
        "os": platform.platform(),
        "python": platform.python_version(),
        "load_average_at_start": load,
        "packages": package_versions(),
        "git_commit": git_commit(),
    }


def _baseline_once(seed: int, weeks: int | None) -> tuple[float, float, float, float, int]:
    from abm.engine.model import SupplyChainModel
    from abm.runs.outputs import write_run

    t0, c0 = time.perf_counter(), time.process_time()
    model = SupplyChainModel.from_scenario("baseline", seed=seed, weeks=weeks)
    model.run()
    t1, c1 = time.perf_counter(), time.process_time()
    with tempfile.TemporaryDirectory() as d:
        write_run(model, Path(d), datetime.now(UTC))
    t2, c2 = time.perf_counter(), time.process_time()
    return t1 - t0, t2 - t0, c1 - c0, c2 - c0, len(model.events)


def baseline_times(runs: int = 5, seed: int = 1, weeks: int | None = None) -> dict[str, Any]:
    """Median wall time of baseline runs: build + simulate, and with files written.

    CPU times (``*_cpu_s``) are given too: on a busy machine they are closer to
    what the run takes on a quiet one.
    """
    sim, total, sim_cpu, total_cpu, events = [], [], [], [], 0
    for _ in range(runs):
        s, t, sc, tc, events = _baseline_once(seed, weeks)
        sim.append(s)
        total.append(t)
        sim_cpu.append(sc)
        total_cpu.append(tc)
    return {
        "runs": runs,
        "weeks": weeks or 261,
        "events": events,
        "simulate_s": statistics.median(sim),
        "with_files_s": statistics.median(total),
        "simulate_cpu_s": statistics.median(sim_cpu),
        "with_files_cpu_s": statistics.median(total_cpu),
        "simulate_all_s": sim,
        "with_files_all_s": total,
    }


def stage_times(model: Any) -> dict[str, float]:
    """Run ``model`` to its horizon, timing each stage of the step (seconds in all).

    The model's declared stages (:data:`abm.engine.model.STAGES`) are wrapped on
    this model object only.
    """
    from abm.engine.model import STAGES, Stage

    spent = {s.label: 0.0 for s in STAGES}

    def timed(stage: Stage) -> Stage:
        def run(m: Any) -> None:
            t0 = time.perf_counter()
            stage.run(m)
            spent[stage.label] += time.perf_counter() - t0

        return Stage(stage.label, run)

    model.stages = tuple(timed(s) for s in STAGES)
    t0 = time.perf_counter()
    model.run()
    spent["whole step"] = time.perf_counter() - t0
    model.stages = STAGES
    return spent


def synthetic_spec(agents: int, weeks: int | None = None, seed: int = 0) -> Any:
    """The baseline with a synthetic world of about ``agents`` agents (abm.engine.synthetic)."""
    from abm.engine.synthetic import synthetic_counts
    from abm.scenario import load_scenario

    spec = load_scenario("baseline")
    world = spec.world.model_copy(update={"synthetic": synthetic_counts(agents, seed)})
    update: dict[str, Any] = {"world": world, "name": f"synthetic_{agents}"}
    if weeks is not None:
        update["weeks"] = weeks
    return spec.model_copy(update=update)


def _scale_child(agents: int, weeks: int | None, stages: bool) -> dict[str, Any]:
    """Body of :func:`scale_run`, in the child process."""
    import resource

    from abm.engine.model import SupplyChainModel

    t0, c0 = time.perf_counter(), time.process_time()
    model = SupplyChainModel(synthetic_spec(agents, weeks), seed=1)
    t1 = time.perf_counter()
    if stages:
        spent = stage_times(model)
    else:
        model.run()
        spent = None
    t2, c2 = time.perf_counter(), time.process_time()
    return {
        "agents_requested": agents,
        "agents": len(model.agents),
        "weeks": model.steps,
        "events": len(model.events),
        "build_s": t1 - t0,
        "simulate_s": t2 - t1,
        "total_s": t2 - t0,
        "total_cpu_s": c2 - c0,
        "peak_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        "stages_s": spent,
    }


def scale_run(agents: int, weeks: int | None = None, stages: bool = False) -> dict[str, Any]:
    """Build and run a synthetic world in a fresh process: times and peak memory (MiB)."""
    code = (
        "import json, sys\nfrom bench.suite import _scale_child\n"
        f"print(json.dumps(_scale_child({agents!r}, {weeks!r}, {stages!r})))\n"
    )
    root = str(Path(__file__).resolve().parents[1])  # the checkout, so the child finds bench/
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join(filter(None, [root, os.environ.get("PYTHONPATH")])),
    }
    done = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        check=False,
        timeout=3600,
        env=env,
    )
    if done.returncode != 0:
        raise RuntimeError(f"scale run of {agents} agents failed:\n{done.stderr[-2000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def batch_throughput(runs: int, weeks: int | None = None) -> dict[str, Any]:
    """Wall time of the same baseline batch: ``abm batch`` (1 and 2 workers) and mesa.batch_run."""
    import mesa

    from abm.runs.batch import BatchSpec, run_batch
    from abm.runs.mesa_compat import BatchRunModel

    spec = BatchSpec(scenarios=["baseline"], seeds=runs, weeks=weeks)
    out: dict[str, Any] = {"runs": runs, "weeks": weeks or 261}
    with tempfile.TemporaryDirectory() as d:
        for workers in (1, 2):
            t0 = time.perf_counter()
            run_batch(spec, Path(d) / f"w{workers}", workers=workers)
            out[f"abm_batch_{workers}_s"] = time.perf_counter() - t0
    for procs in (1, 2):
        t0 = time.perf_counter()
        mesa.batch_run(
            BatchRunModel,
            parameters={"scenario": "baseline", "weeks": weeks},
            rng=list(range(1, runs + 1)),
            number_processes=procs,
            data_collection_period=-1,
            max_steps=100_000,
            display_progress=False,
        )
        out[f"mesa_batch_run_{procs}_s"] = time.perf_counter() - t0
    out["speedup_2_workers"] = out["abm_batch_1_s"] / out["abm_batch_2_s"]
    return out


def run_suite(
    quick: bool = False,
    out: Path | None = Path("bench/results.json"),
    scale_agents: tuple[int, ...] | None = None,
    progress: Callable[[str], None] | None = None,
    batch_runs: int = 32,
) -> dict[str, Any]:
    """Run the benchmark suite; write ``out`` (JSON) unless it is None.

    Args:
        batch_runs: Baseline runs in the batch-throughput comparison (a sweep's
            worker start-up is paid once, so few runs understate what 2 workers give).
        quick: A short smoke: 1 baseline run of 26 weeks, scaling at 100 and
            1,000 agents over 4 weeks, a 2-run batch of 8 weeks. Its figures
            say nothing about the targets.
        out: Where to write the results.
        scale_agents: Synthetic world sizes (default 100, 1,000, 10,000).
        progress: Called with a line of text as each part starts.
    """
    say = progress or (lambda _msg: None)
    weeks = 26 if quick else None
    result: dict[str, Any] = {
        "created": datetime.now(UTC).isoformat(timespec="seconds"),
        "quick": quick,
        "machine": machine(),
        "targets": TARGETS,
    }
    say("baseline run")
    result["baseline"] = baseline_times(runs=1 if quick else 5, weeks=weeks)
    say("stage breakdown (baseline)")
    from abm.engine.model import SupplyChainModel

    result["stages_baseline_s"] = stage_times(
        SupplyChainModel.from_scenario("baseline", seed=1, weeks=weeks)
    )
    sizes = scale_agents or ((100, 1000) if quick else (100, 1000, 10_000))
    scale_weeks = 4 if quick else None
    result["scaling"] = []
    for n in sizes:
        say(f"scaling: {n} agents")
        result["scaling"].append(scale_run(n, scale_weeks, stages=n == max(sizes)))
    say("batch throughput")
    result["batch"] = batch_throughput(runs=2 if quick else batch_runs, weeks=8 if quick else None)
    result["checks"] = _checks(result)
    if out is not None:
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
    return result


def _checks(r: dict[str, Any]) -> dict[str, Any]:
    """Each target with its measured value and whether it is met (None if not measured)."""
    by = {s["agents_requested"]: s for s in r["scaling"]}
    t10k, t1k = by.get(10_000), by.get(1000)
    measured = {
        "baseline_simulate_s": r["baseline"]["simulate_s"],
        "baseline_with_files_s": r["baseline"]["with_files_s"],
        "scale_10k_s": t10k["total_s"] if t10k else None,
        "scale_10k_peak_mib": t10k["peak_mib"] if t10k else None,
        "scale_ratio_10k_1k": t10k["total_s"] / t1k["total_s"] if t10k and t1k else None,
        "batch_speedup_2_workers": r["batch"]["speedup_2_workers"],
    }
    out = {}
    for key, target in TARGETS.items():
        v = measured[key]
        met = None
        if v is not None and not r["quick"]:
            met = v >= target if "speedup" in key else v <= target
        out[key] = {"target": target, "measured": v, "met": met}
    return out


def table(r: dict[str, Any]) -> str:
    """The results as a Markdown table (what the README shows)."""
    m = r["machine"]
    b = r["baseline"]
    lines = [
        f"Machine: {m['cpu']}, {m['cores']} cores, {m['ram_gib']} GiB, Python {m['python']}"
        f" (load average at start {m['load_average_at_start']})"
        + ("; QUICK smoke run, not a measurement" if r["quick"] else ""),
        "",
        "| benchmark | measured | target |",
        "|---|---|---|",
        f"| baseline run, build + simulate ({b['weeks']} weeks, median of {b['runs']}) "
        f"| {b['simulate_s']:.2f} s (CPU {b['simulate_cpu_s']:.2f} s) | ≤ 1 s |",
        f"| baseline run with its files | {b['with_files_s']:.2f} s "
        f"(CPU {b['with_files_cpu_s']:.2f} s) | ≤ 1.5 s |",
    ]
    for s in r["scaling"]:
        lines.append(
            f"| synthetic world, {s['agents']:,} agents, {s['weeks']} weeks "
            f"| {s['total_s']:.1f} s (CPU {s['total_cpu_s']:.1f} s; build {s['build_s']:.1f} s), "
            f"peak {s['peak_mib']:,.0f} MiB | "
            + ("≤ 60 s, ≤ 2 GiB" if s["agents_requested"] == 10_000 else "")
            + " |"
        )
    ratio = r["checks"]["scale_ratio_10k_1k"]["measured"]
    if ratio is not None:
        lines.append(f"| t(10k) / t(1k) | {ratio:.1f} | ≤ 12 |")
    bt = r["batch"]
    n = bt["runs"]
    for label, key in [
        ("abm batch, 1 worker", "abm_batch_1_s"),
        ("abm batch, 2 local workers", "abm_batch_2_s"),
        ("mesa.batch_run, 1 process (no files)", "mesa_batch_run_1_s"),
        ("mesa.batch_run, 2 processes (no files)", "mesa_batch_run_2_s"),
    ]:
        lines.append(
            f"| {label}: {n} baseline runs of {bt['weeks']} weeks | {bt[key]:.1f} s "
            f"({60 * n / bt[key]:.1f} runs/min) | |"
        )
    lines.append(f"| speed-up, 2 workers vs 1 | {bt['speedup_2_workers']:.2f}× | ≥ 1.8× |")
    lines += ["", "Stages of a step (seconds over the whole run):", ""]
    big = r["scaling"][-1] if r["scaling"] else None
    head = "| stage | baseline |"
    if big and big["stages_s"]:
        head += f" {big['agents']:,} agents |"
    lines += [head, "|---|---|" + ("---|" if big and big["stages_s"] else "")]
    for label in r["stages_baseline_s"]:
        row = f"| {label} | {r['stages_baseline_s'][label]:.3f} |"
        if big and big["stages_s"]:
            row += f" {big['stages_s'][label]:.2f} |"
        lines.append(row)
    return "\n".join(lines)

"""The ``abm`` command line: run scenarios headless, inspect scenarios and metrics."""

from __future__ import annotations

import sys
import time
import traceback
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

# Only light modules at import time, so that `abm --help` and `abm scenarios list` answer
# fast: the model, pydantic, pandas, DuckDB and Dask are imported by the commands that
# use them (tests/cli/test_startup.py).
from abm.limits import MAX_SEED, MAX_SEED_COUNT, MAX_WEEKS

app = typer.Typer(
    help="Agent-based model of the AI-compute supply chain under export controls.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
scenarios_app = typer.Typer(help="List, show and validate scenario files.", no_args_is_help=True)
app.add_typer(scenarios_app, name="scenarios")
console = Console()
err = Console(stderr=True)

EXIT_BAD_INPUT = 2
EXIT_INTERRUPTED = 130


def _fail(message: str, code: int = EXIT_BAD_INPUT) -> None:
    from rich.markup import escape  # the message is data: "[nan, 1]" is not a style tag

    err.print(f"[bold red]error:[/] {escape(message)}", highlight=False, soft_wrap=True)
    raise typer.Exit(code)


def _check_range(option: str, value: int | None, low: int, high: int) -> None:
    """Exit 2 with one line unless ``value`` (if given) is in ``low..high``."""
    if value is not None and not low <= value <= high:
        _fail(f"{option}: expected a whole number from {low:,} to {high:,}, got {value}")


@app.command()
def run(
    scenario: Annotated[str, typer.Argument(help="Library name (e.g. baseline) or YAML path.")],
    seed: Annotated[int, typer.Option(help=f"Seed of every random stream (0..{MAX_SEED}).")] = 1,
    weeks: Annotated[
        int | None, typer.Option(help=f"Weeks to run, 1..{MAX_WEEKS} (default: horizon).")
    ] = None,
    out: Annotated[Path | None, typer.Option(help="Folder for the run's files.")] = None,
    overwrite: Annotated[bool, typer.Option(help="Replace a run already in --out.")] = False,
    quiet: Annotated[bool, typer.Option(help="No progress bar or summary.")] = False,
    no_uncertainty: Annotated[
        bool,
        typer.Option(
            "--no-uncertainty", help="Run the declared values: no uncertainty draws or disruptions."
        ),
    ] = False,
) -> None:
    """Run a scenario headless and write metrics, events, agents and a manifest."""
    _check_range("--seed", seed, 0, MAX_SEED)
    _check_range("--weeks", weeks, 1, MAX_WEEKS)
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        TextColumn,
        TimeRemainingColumn,
    )
    from rich.table import Table

    from abm.engine.model import SupplyChainModel
    from abm.runs.outputs import OutputError, prepare_out_dir, write_run
    from abm.runs.summary import run_summary
    from abm.scenario import ScenarioError

    try:
        model = SupplyChainModel.from_scenario(
            scenario, seed=seed, weeks=weeks, uncertainty=not no_uncertainty
        )
    except ScenarioError as exc:
        _fail(str(exc))
    out = out or Path("out") / f"{model.spec.name}-seed{seed}"
    try:
        prepare_out_dir(out, overwrite)
    except OutputError as exc:
        _fail(str(exc))
    started = datetime.now(UTC)
    t0 = time.perf_counter()
    total = model.spec.weeks
    try:
        with Progress(
            TextColumn("[bold]{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("{task.fields[date]}"),
            TimeRemainingColumn(),
            console=err,
            disable=quiet,
            transient=True,
        ) as bar:
            task = bar.add_task(f"{model.spec.name} seed {seed}", total=total, date="")
            model.run(progress=lambda m: bar.update(task, advance=1, date=str(m.date)))
    except KeyboardInterrupt:
        _fail(f"interrupted at week {model.steps}; nothing was written to {out}", EXIT_INTERRUPTED)
    except Exception as exc:  # the run failed: keep what it produced and say why
        try:
            write_run(model, out, started, status="failed", error=traceback.format_exc())
        except OutputError as write_exc:
            _fail(f"run failed at week {model.steps} ({model.date}): {exc}; {write_exc}", code=1)
        _fail(
            f"run failed at week {model.steps} ({model.date}): {exc}; partial outputs in {out}",
            code=1,
        )
    elapsed = time.perf_counter() - t0
    try:
        write_run(model, out, started)
    except OutputError as exc:  # a full disk, say: whatever was in the folder is kept
        _fail(f"{exc}; the run's results were not saved ({out} is as it was)", code=1)
    except KeyboardInterrupt:
        _fail(f"interrupted while writing {out}; its manifest says whether it holds a run", 130)
    if not quiet:
        table = Table(title=f"{model.spec.name}, seed {seed}", show_header=False)
        for label, value in run_summary(model):
            table.add_row(label, value)
        table.add_row("wall time", f"{elapsed:.2f} s")
        table.add_row("outputs", str(out))
        console.print(table)


@scenarios_app.command("list")
def scenarios_list() -> None:
    """The scenarios in the library, with their descriptions (check them with validate)."""
    from abm.scenario.library import print_library

    # The console command answers `abm scenarios list` without this app (abm.__main__.main): the
    # same function prints both, so they print the same bytes.
    code = print_library(console)
    if code:
        raise typer.Exit(code)


@scenarios_app.command("show")
def scenarios_show(name: str) -> None:
    """Print a scenario after ``extends`` is resolved, as YAML."""
    import yaml

    from abm.scenario import ScenarioError, load_scenario

    try:
        sc = load_scenario(name)
    except ScenarioError as exc:
        _fail(str(exc))
    # written as is: Rich would wrap long lines at the console width (80 when piped)
    # and read [brackets] as markup, leaving invalid YAML
    sys.stdout.write(
        yaml.safe_dump(sc.model_dump(mode="json"), sort_keys=False, allow_unicode=True)
    )


@scenarios_app.command("validate")
def scenarios_validate(
    files: Annotated[list[str], typer.Argument(help="Scenario names or YAML paths.")],
) -> None:
    """Validate scenario files; exit 2 if any is invalid."""
    from abm.scenario import ScenarioError, load_scenario, resolve_path

    bad = 0
    for f in files:
        try:
            sc = load_scenario(f)
            console.print(f"ok: {resolve_path(f)} ({sc.name}, {sc.weeks} weeks)", highlight=False)
        except ScenarioError as exc:
            err.print(f"[red]invalid:[/] {exc}", highlight=False, soft_wrap=True)
            bad += 1
    if bad:
        raise typer.Exit(EXIT_BAD_INPUT)


@app.command()
def world(
    out: Annotated[Path, typer.Argument(help="YAML file to write.")],
    agents: Annotated[
        int, typer.Option(min=0, help="About this many synthetic firms (80% enterprises, ...).")
    ] = 10_000,
    enterprises: Annotated[
        int | None, typer.Option(min=0, help="Enterprise firms (overrides --agents' split).")
    ] = None,
    labs: Annotated[int | None, typer.Option(min=0, help="Small labs (overrides).")] = None,
    clouds: Annotated[int | None, typer.Option(min=0, help="Clouds (overrides).")] = None,
    seed: Annotated[int, typer.Option(min=0, help="Seed of the split (not of the runs).")] = 0,
    base: Annotated[str, typer.Option("--from", help="Scenario to scale up.")] = "baseline",
    name: Annotated[
        str | None, typer.Option(help="Scenario name (default: the file's stem).")
    ] = None,
    expand: Annotated[
        bool, typer.Option(help="Write every firm instead of extends + world.synthetic.")
    ] = False,
    overwrite: Annotated[bool, typer.Option(help="Replace an existing file.")] = False,
) -> None:
    """Write a synthetic-world scenario: thousands of firms derived from a scenario's real ones."""
    import yaml

    from abm.engine.synthetic import expand_synthetic, synthetic_counts
    from abm.scenario import ScenarioError, load_scenario
    from abm.scenario.schema import MAX_SYNTHETIC_FIRMS

    _check_range("--seed", seed, 0, MAX_SEED)
    for option, value in (("--agents", agents), ("--enterprises", enterprises)):
        _check_range(option, value, 0, MAX_SYNTHETIC_FIRMS)
    _check_range("--labs", labs, 0, MAX_SYNTHETIC_FIRMS)
    _check_range("--clouds", clouds, 0, MAX_SYNTHETIC_FIRMS)
    if out.exists() and not overwrite:
        _fail(f"{out}: exists; pass --overwrite to replace it")
    counts = synthetic_counts(agents, seed)
    updates = {"enterprises": enterprises, "labs": labs, "clouds": clouds}
    counts = counts.model_copy(update={k: v for k, v in updates.items() if v is not None})
    name = name or out.stem
    try:
        spec = load_scenario(base)
    except ScenarioError as exc:
        _fail(str(exc))
    syn = counts.model_dump()
    if expand:
        world_spec = spec.world.model_copy(update={"synthetic": counts})
        full = expand_synthetic(spec.model_copy(update={"world": world_spec, "name": name}))
        data = full.model_dump(mode="json", exclude_defaults=True)
        data.pop("extends", None)
    else:
        data = {
            "name": name,
            "description": f"{base} scaled up: {syn['enterprises']:,} enterprise firms, "
            f"{syn['labs']:,} small labs, {syn['clouds']:,} clouds (abm world).",
            "extends": base,
            "world": {"synthetic": syn},
        }
    try:
        load_scenario_text = yaml.safe_dump(data, sort_keys=False, allow_unicode=True)
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(load_scenario_text, encoding="utf-8")
        check = load_scenario(out)
    except ScenarioError as exc:
        _fail(f"the written scenario does not validate: {exc}")
    n = len(check.world.clouds) + len(check.world.labs) + len(check.world.enterprises)
    if check.world.synthetic is not None:
        full = expand_synthetic(check)
        n = len(full.world.clouds) + len(full.world.labs) + len(full.world.enterprises)
    console.print(f"wrote {out} ({n:,} clouds, labs and enterprises)", highlight=False)


@app.command()
def bench(
    quick: Annotated[
        bool, typer.Option(help="A short smoke (seconds): checks the suite runs, not the targets.")
    ] = False,
    out: Annotated[Path, typer.Option(help="JSON results file.")] = Path("bench/results.json"),
    agents: Annotated[
        str | None, typer.Option(help="Synthetic world sizes, comma-separated (100,1000,10000).")
    ] = None,
    batch_runs: Annotated[
        int, typer.Option(min=2, help="Runs in the batch-throughput comparison.")
    ] = 32,
) -> None:
    """Run the benchmark suite: baseline run, stage times, scaling, memory, batch throughput.

    The suite is a dev tool kept outside the package, in the checkout's ``bench/``.
    """
    root = Path(__file__).resolve().parents[1]
    if not (root / "bench" / "suite.py").is_file():
        err.print(
            "[red]error:[/] abm bench runs from a source checkout: "
            f"{root / 'bench' / 'suite.py'} not found"
        )
        raise typer.Exit(2)
    if str(root) not in sys.path:
        sys.path.insert(0, str(root))
    from bench.suite import run_suite, table

    sizes = tuple(int(x) for x in agents.split(",")) if agents else None
    result = run_suite(
        quick=quick,
        out=out,
        scale_agents=sizes,
        progress=lambda msg: err.print(f"[dim]bench: {msg}[/]", highlight=False),
        batch_runs=batch_runs,
    )
    console.print(table(result), highlight=False, soft_wrap=True)
    console.print(f"\nwrote {out}", highlight=False)


@app.command()
def metrics(
    markdown: Annotated[bool, typer.Option(help="Print the docs table.")] = False,
) -> None:
    """The declared metrics: name, unit, scope and meaning."""
    from rich.table import Table

    from abm.engine.metrics import METRICS, catalogue_markdown

    if markdown:
        sys.stdout.write(catalogue_markdown())
        return
    table = Table("name", "unit", "scope", "meaning")
    for m in METRICS:
        table.add_row(m.name, m.unit, m.scope, m.description)
    console.print(table)


BATCH_DESIGN_FLAGS = {
    "scenarios": "SCENARIOS",
    "seeds": "--seeds",
    "weeks": "--weeks",
    "no_uncertainty": "--no-uncertainty",
}


@app.command()
def batch(
    ctx: typer.Context,
    scenarios: Annotated[
        list[str] | None, typer.Argument(help="Library names or YAML paths.")
    ] = None,
    seeds: Annotated[
        int, typer.Option(help=f"Seeds 1..N for every scenario (N <= {MAX_SEED_COUNT:,}).")
    ] = 1,
    weeks: Annotated[int | None, typer.Option(help=f"Horizon override (1..{MAX_WEEKS}).")] = None,
    workers: Annotated[int, typer.Option(min=1, help="Worker processes (1: in-process).")] = 1,
    engine: Annotated[str, typer.Option(help="local or dask")] = "local",
    address: Annotated[str | None, typer.Option(help="tcp://HOST:PORT of a Dask scheduler")] = None,
    connect_timeout: Annotated[
        float, typer.Option(min=0.1, help="Seconds to wait for the --address scheduler.")
    ] = 5.0,
    sweep: Annotated[list[str] | None, typer.Option(help="key.path=v1,v2 (repeatable)")] = None,
    spec: Annotated[
        Path | None,
        typer.Option(
            help="A batch spec YAML file: it alone says what to run (SCENARIOS, --seeds, "
            "--weeks and --sweep are refused with it)."
        ),
    ] = None,
    out: Annotated[Path, typer.Option(help="Batch output folder.")] = Path("out/batch"),
    resume: Annotated[
        bool, typer.Option(help="Finish a batch already in --out (damaged runs are rerun).")
    ] = False,
    no_uncertainty: Annotated[
        bool,
        typer.Option(
            "--no-uncertainty",
            help="Run the declared values: no uncertainty draws or disruptions (with --spec: "
            "put uncertainty: false in the file).",
        ),
    ] = False,
    dry_run: Annotated[
        bool,
        typer.Option(
            "--dry-run",
            help="Check the design, print the number of runs and an estimated time "
            "(from one short timing run); run nothing.",
        ),
    ] = False,
) -> None:
    """Run scenarios x seeds x sweeps, locally or on Dask; exit 1 if some runs failed.

    With --spec the file is the whole design: SCENARIOS, --seeds, --weeks or --sweep
    as well is an error (exit 2).

    Sweep keys are checked against every scenario before the first run; a [Name]
    that matches no item is an error. A spec's design: section names factors and a
    sampler (full_factorial, lhs, saltelli, morris; see docs/policy_analysis.md).

    --dry-run checks the design, prints the number of runs and an estimated time
    from one timed run, and runs nothing else.

    The folder is locked while a batch writes it (OUT/batch.lock).

    --resume verifies every recorded run against its files' sizes and checksums
    and reruns what is damaged or missing.

    Ctrl-C stops the batch, records what is on disk and prints how to resume (exit 130).
    """
    _check_range("--seeds", seeds, 1, MAX_SEED_COUNT)
    _check_range("--weeks", weeks, 1, MAX_WEEKS)

    from abm.runs.batch import (
        BatchError,
        BatchInterrupted,
        BatchSpec,
        load_spec,
        parse_sweeps,
        run_batch,
    )
    from abm.runs.outputs import OutputError
    from abm.scenario import ScenarioError, load_scenario

    if engine not in ("local", "dask"):
        _fail(f"--engine: expected local or dask, got {engine!r}")
    if address and engine != "dask":
        _fail("--address needs --engine dask")
    # compared by name: typer may hand back its own copy of click's ParameterSource enum
    given = {
        name: getattr(ctx.get_parameter_source(name), "name", "DEFAULT") != "DEFAULT"
        for name in ("scenarios", "seeds", "weeks", "sweep", "no_uncertainty")
    }
    given["scenarios"] = given["scenarios"] and bool(scenarios)
    given["sweep"] = given["sweep"] and bool(sweep)
    try:
        if spec is not None:
            clash = [BATCH_DESIGN_FLAGS.get(k, f"--{k}") for k, v in given.items() if v]
            if clash:
                _fail(
                    f"--spec {spec}: also given {', '.join(clash)}; the spec file says what "
                    "to run: put them in it, or drop --spec"
                )
            bspec = load_spec(spec)
        else:
            if not scenarios:
                _fail("give SCENARIO names (or --spec FILE)")
            bspec = BatchSpec(
                scenarios=scenarios or [],
                seeds=seeds,
                weeks=weeks,
                sweep=parse_sweeps(sweep or []),
                uncertainty=not no_uncertainty,
            )
        for name in bspec.scenarios:
            load_scenario(name)  # fail fast on a bad scenario, before any worker starts
        if dry_run:
            from abm.runs.design import plan

            for line in plan(bspec, workers):
                console.print(line, highlight=False, markup=False, soft_wrap=True)
            return
        total = len(bspec.tasks())
        with _batch_bar("batch", total, lazy=True) as progress:
            result = run_batch(
                bspec,
                out,
                workers=workers,
                engine="dask" if engine == "dask" else "local",  # checked above
                address=address,
                resume=resume,
                progress=progress,
                notify=lambda msg: err.print(f"[yellow]note:[/] {msg}", highlight=False),
                connect_timeout=connect_timeout,
            )
    except BatchInterrupted as stop:
        runs = stop.result.manifest["runs"].values()
        done = sum(1 for v in runs if v["status"] == "completed")
        again = _resume_command(
            scenarios, seeds, weeks, sweep, spec, out, workers, engine, address, no_uncertainty
        )
        _fail(
            f"interrupted: {done} of {total} runs are complete on disk and recorded in "
            f"{out / 'manifest.json'}; to finish: {again}",
            EXIT_INTERRUPTED,
        )
    except OutputError as exc:
        _fail(f"{exc}; completed runs are kept: free space and rerun with --resume", code=1)
    except (BatchError, ScenarioError) as exc:
        _fail(str(exc))
    except ValueError as exc:
        _fail(f"batch spec: {str(exc).splitlines()[0]}")
    done = sum(1 for v in result.manifest["runs"].values() if v["status"] == "completed")
    console.print(
        f"{done} of {total} runs completed, {len(result.failed)} failed; "
        f"results in {out} (summary.parquet, runs/, manifest.json)",
        highlight=False,
    )
    for run_id in result.failed:
        error = result.manifest["runs"][run_id]["error"] or ""
        err.print(f"failed: {run_id}: {error.splitlines()[0]}", highlight=False)
    if result.failed:
        raise typer.Exit(1)


def _resume_command(
    scenarios: list[str] | None,
    seeds: int,
    weeks: int | None,
    sweep: list[str] | None,
    spec: Path | None,
    out: Path,
    workers: int,
    engine: str,
    address: str | None,
    no_uncertainty: bool = False,
) -> str:
    """The ``abm batch ... --resume`` command that finishes an interrupted batch."""
    import shlex

    parts = ["abm", "batch"]
    if spec is not None:
        parts += ["--spec", str(spec)]
    else:
        parts += list(scenarios or [])
        parts += ["--seeds", str(seeds)] if seeds != 1 else []
        parts += ["--weeks", str(weeks)] if weeks is not None else []
        for item in sweep or []:
            parts += ["--sweep", item]
        parts += ["--no-uncertainty"] if no_uncertainty else []
    parts += ["--out", str(out)]
    parts += ["--workers", str(workers)] if workers != 1 else []
    parts += ["--engine", engine] if engine != "local" else []
    parts += ["--address", address] if address else []
    return shlex.join([*parts, "--resume"])


@app.command()
def compare(
    out: Annotated[Path, typer.Argument(help="A batch output folder.")],
    metric: Annotated[
        list[str] | None, typer.Option(help="name:scope, repeatable (default: a standard set)")
    ] = None,
    baseline: Annotated[
        str, typer.Option(help="The scenario others are compared to.")
    ] = "baseline",
    dest: Annotated[
        Path | None, typer.Option(help="Folder for PNG/HTML (default OUT/compare).")
    ] = None,
    by: Annotated[
        str,
        typer.Option(
            help="scenario (each scenario vs the baseline), point (KPIs per design point) "
            "or factor (main effects and paired differences per factor)."
        ),
    ] = "scenario",
    kpi: Annotated[
        list[str] | None, typer.Option(help="KPI column(s) (default: all; repeatable).")
    ] = None,
    reference: Annotated[
        list[str] | None,
        typer.Option(help="factor=level the paired differences are taken against (--by factor)."),
    ] = None,
    csv: Annotated[
        Path | None,
        typer.Option(help="Also write each table printed as CSV (several: NAME.TABLE.csv)."),
    ] = None,
    parquet: Annotated[
        Path | None,
        typer.Option(
            help="Also write each table printed as Parquet (several: NAME.TABLE.parquet)."
        ),
    ] = None,
) -> None:
    """Scenario bands (median, 5-95 %), KPI differences vs the baseline, fan charts.

    --by point prints KPIs per design point; --by factor prints each factor's main
    effects and its paired differences (same seed, every other factor equal) with
    5-95 % bands. --csv/--parquet write the full tables printed.
    """
    from abm.analysis.compare import compare_report, kpi_table
    from abm.analysis.factors import by_point, main_effects, paired_effects

    if by not in ("scenario", "point", "factor"):
        _fail(f"--by: expected scenario, point or factor, got {by!r}")
    metrics: list[tuple[str, str]] | None = None
    if metric:
        try:
            pairs = [tuple(m.split(":", 1)) for m in metric]
            assert all(len(m) == 2 for m in pairs)
            metrics = [(m[0], m[1]) for m in pairs]
        except AssertionError:
            _fail("--metric: expected name:scope, e.g. compute_stock_h100e:CN")
    refs: dict[str, str] = {}
    for item in reference or []:
        name, eq, level = item.partition("=")
        if not eq or not name or not level:
            _fail(f"--reference {item!r}: expected factor=level")
        refs[name] = level
    tables: dict[str, object] = {}
    path = None
    try:
        if by == "scenario":
            table = kpi_table(out, baseline)
            if kpi:
                table = table[table["kpi"].isin(kpi)]
                if table.empty:
                    _fail(f"--kpi: no KPI {kpi} in {out}")
            path = compare_report(out, metrics, dest, baseline)
            tables["kpis"] = table
        elif by == "point":
            tables["points"] = by_point(out, kpi)
        else:
            tables["main_effects"] = main_effects(out, kpi)
            tables["paired"] = paired_effects(out, kpi, refs)
    except (ValueError, FileNotFoundError) as exc:
        _fail(f"{out}: {str(exc).splitlines()[0]}")
    for name, df in tables.items():
        shown = df
        if name == "kpis":
            shown = df[  # type: ignore[index]
                [
                    "scenario",
                    "kpi",
                    "scenario_median",
                    "baseline_median",
                    "paired_diff_median",
                    "paired_diff_p05",
                    "paired_diff_p95",
                ]
            ]
        if len(tables) > 1:
            console.print(f"\n{name}", highlight=False, markup=False)
        _print_frame(shown)
    _write_tables(tables, csv, parquet)
    if path is not None:
        console.print(f"fan charts and table: {path}", highlight=False)


@app.command()
def sensitivity(
    out: Annotated[Path, typer.Argument(help="A batch folder run with a saltelli design.")],
    kpi: Annotated[list[str] | None, typer.Option(help="KPI column(s) of summary.parquet.")] = None,
    csv: Annotated[Path | None, typer.Option(help="Also write the table as CSV.")] = None,
    parquet: Annotated[Path | None, typer.Option(help="Also write the table as Parquet.")] = None,
) -> None:
    """Sobol indices (first-order and total, 95 % bootstrap CI, n/2 check) of KPIs.

    A warning line is printed for every index outside [0, 1], with a CI wider
    than itself, or that moved more than its CI between n/2 and n base samples.
    """
    from abm.analysis.sensitivity import sensitivity as sobol
    from abm.analysis.sensitivity import sensitivity_plot

    kpis = kpi or ["cn_compute_h100e_end", "peak_lead_time_weeks", "diverted_units"]
    try:
        df = sobol(out, kpis)
    except (ValueError, FileNotFoundError) as exc:
        _fail(f"{out}: {str(exc).splitlines()[0]}")
    _print_frame(df.drop(columns=["warning"]))
    flagged = df[df["warning"] != ""]
    for row in flagged.itertuples(index=False):
        err.print(
            f"warning: {row.kpi} / {row.parameter}: {row.warning}",
            highlight=False,
            markup=False,
            soft_wrap=True,
        )
    if len(flagged):
        err.print(
            f"warning: {len(flagged)} of {len(df)} rows are doubtful; raise n (a power of 2) "
            "or add seeds",
            highlight=False,
            markup=False,
        )
    _write_tables({"sobol": df}, csv, parquet)
    console.print(f"plot: {sensitivity_plot(df, Path(out) / 'sensitivity.png')}", highlight=False)


@app.command()
def screen(
    out: Annotated[Path, typer.Argument(help="A batch folder run with a morris design.")],
    kpi: Annotated[list[str] | None, typer.Option(help="KPI column(s) of summary.parquet.")] = None,
    top: Annotated[int, typer.Option(min=1, help="Factors printed per KPI.")] = 10,
    csv: Annotated[Path | None, typer.Option(help="Also write the whole table as CSV.")] = None,
    parquet: Annotated[
        Path | None, typer.Option(help="Also write the whole table as Parquet.")
    ] = None,
) -> None:
    """Morris screening: mu* and sigma of each factor's elementary effects on KPIs."""
    from abm.analysis.sensitivity import morris, morris_plot

    kpis = kpi or ["cn_compute_h100e_end", "us_compute_h100e_end", "peak_lead_time_weeks"]
    try:
        df = morris(out, kpis)
    except (ValueError, FileNotFoundError) as exc:
        _fail(f"{out}: {str(exc).splitlines()[0]}")
    shown = df[df["rank"] <= top][
        ["kpi", "rank", "factor", "mu_star", "mu_star_conf", "sigma", "mu", "mu_star_rel"]
    ]
    _print_frame(shown)
    _write_tables({"morris": df}, csv, parquet)
    console.print(f"plot: {morris_plot(df, Path(out) / 'morris.png')}", highlight=False)


@app.command()
def discover(
    out: Annotated[Path, typer.Argument(help="A batch folder (a design, sweep or sample).")],
    kpi: Annotated[str, typer.Option(help="KPI the outcome is defined on.")] = (
        "cn_compute_h100e_end"
    ),
    below: Annotated[float | None, typer.Option(help="Cases of interest: KPI below this.")] = None,
    above: Annotated[float | None, typer.Option(help="Cases of interest: KPI above this.")] = None,
    min_density: Annotated[
        float, typer.Option(help="Least density of the box chosen on the trade-off curve.")
    ] = 0.8,
    mass_min: Annotated[float, typer.Option(help="Smallest box, as a share of the runs.")] = 0.05,
    csv: Annotated[
        Path | None, typer.Option(help="Also write the box and trade-off as CSV (NAME.box.csv...).")
    ] = None,
    parquet: Annotated[
        Path | None, typer.Option(help="Also write the box and trade-off as Parquet.")
    ] = None,
) -> None:
    """Scenario discovery (PRIM, EMA Workbench): which factor ranges lead to the outcome.

    Prints the chosen box (the factors it restricts and their ranges, with
    coverage and density) and the peeling trajectory (the trade-off curve);
    draws the curve into OUT/prim_tradeoff.png.
    """
    from abm.analysis.discovery import discover as find
    from abm.analysis.discovery import tradeoff_plot

    if (below is None) == (above is None):
        _fail("give one of --below X or --above X (the outcome of interest)")
    threshold = below if below is not None else above
    assert threshold is not None
    try:
        found = find(
            out,
            kpi,
            threshold,
            "below" if below is not None else "above",
            min_density=min_density,
            mass_min=mass_min,
        )
    except (ValueError, FileNotFoundError) as exc:
        _fail(f"{out}: {str(exc).splitlines()[0]}")
    console.print(found.summary(), highlight=False, markup=False, soft_wrap=True)
    box = found.box
    _print_frame(box[box["restricted"]] if box["restricted"].any() else box)
    console.print("trade-off (peeling trajectory):", highlight=False, markup=False)
    _print_frame(found.tradeoff)
    _write_tables({"box": found.box, "tradeoff": found.tradeoff}, csv, parquet)
    console.print(f"plot: {tradeoff_plot(found, Path(out) / 'prim_tradeoff.png')}", highlight=False)


@app.command()
def attribute(
    scenario: Annotated[str, typer.Argument(help="Library name (e.g. baseline) or YAML path.")],
    region: Annotated[str, typer.Option(help="Region attributed: US, CN or ROW.")] = "CN",
    seeds: Annotated[
        int, typer.Option(help=f"Seeds 1..N, the same in all four cells (N <= {MAX_SEED_COUNT:,}).")
    ] = 5,
    workers: Annotated[int, typer.Option(help="Worker processes (1: in-process).")] = 1,
    supply_factor: Annotated[
        float, typer.Option(help="Non-Chinese wafer, packaging and HBM capacity multiple.")
    ] = 8.0,
    weeks: Annotated[int | None, typer.Option(help="Weeks to run (default: horizon).")] = None,
    out: Annotated[
        Path | None, typer.Option(help="Folder for the chart (default out/attribute-<time>).")
    ] = None,
    csv: Annotated[Path | None, typer.Option(help="Also write the table as CSV.")] = None,
    parquet: Annotated[Path | None, typer.Option(help="Also write the table as Parquet.")] = None,
) -> None:
    """Split a region's shortage and compute gap into supply, controls and interaction.

    Runs the scenario, its no-controls twin, its ample-supply twin and both (a 2x2 with
    common random numbers) for seeds 1..N; per seed and year: total = S(on, scarce) -
    S(off, ample), supply = S(off, scarce) - S(off, ample), controls = S(on, ample) -
    S(off, ample), interaction = the rest. Prints the median and 5-95 % band over seeds;
    draws OUT/attribution_<metric>.png (docs/attribution.md).
    """
    _check_range("--seeds", seeds, 1, MAX_SEED_COUNT)
    _check_range("--workers", workers, 1, 1024)
    _check_range("--weeks", weeks, 1, MAX_WEEKS)
    from abm.scenario import REGIONS

    if region not in REGIONS:
        _fail(f"--region: expected one of {', '.join(REGIONS)}, got {region!r}")
    if not (0 < supply_factor <= 1000):  # also refuses nan
        _fail(f"--supply-factor: expected a number above 0 and at most 1000, got {supply_factor}")
    from abm.analysis.attribution import METRICS
    from abm.analysis.attribution import attribute as run_attribution
    from abm.scenario import ScenarioError, load_scenario

    try:
        spec = load_scenario(scenario)
        if weeks is not None and weeks > spec.weeks:
            _fail(f"--weeks: expected a whole number from 1 to {spec.weeks} (the horizon)")
    except ScenarioError as exc:
        _fail(str(exc))
    dest = _new_out(out, "attribute")
    for target, option in ((csv, "--csv"), (parquet, "--parquet")):
        if target is not None and not target.parent.is_dir():
            _fail(f"{option} {target}: no folder {target.parent}")
    try:
        with _batch_bar(f"attribute {spec.name} {region}", 4 * seeds, lazy=True) as bar:
            result = run_attribution(
                spec,
                region=region,
                seeds=seeds,
                workers=workers,
                supply_factor=supply_factor,
                weeks=weeks,
                progress=lambda done, total: bar(done, 0, total),
            )
    except (ScenarioError, ValueError) as exc:
        _fail(str(exc).splitlines()[0])
    except RuntimeError as exc:  # a run failed: its twin, seed and week
        _fail(str(exc).splitlines()[0], code=1)
    except KeyboardInterrupt:
        _fail("interrupted; nothing was written", EXIT_INTERRUPTED)
    table = result.table
    shown = table.copy()
    for col in ("median", "p5", "p95"):
        shown[col] = [f"{v:+.4f}" for v in table[col]]
    console.print(
        f"{spec.name}, region {region}: {len(result.seeds)} seed(s), supply x{supply_factor:g}; "
        f"metrics: "
        + "; ".join(f"{k} = {v}" for k, v in METRICS.items() if k in set(table.metric)),
        highlight=False,
        markup=False,
        soft_wrap=True,
    )
    _print_frame(shown[["year", "metric", "part", "median", "p5", "p95", "n_seeds"]])
    _write_tables({"attribution": table}, csv, parquet)
    try:
        dest.mkdir(parents=True, exist_ok=True)
        for metric in dict.fromkeys(table["metric"]):
            path = result.chart(dest / f"attribution_{metric}.png", metric)
            console.print(f"plot: {path}", highlight=False, markup=False, soft_wrap=True)
    except (ValueError, OSError) as exc:
        _fail(f"--out {dest}: {exc}", code=1)


@contextmanager
def _batch_bar(
    label: str, total: int, lazy: bool = False
) -> Iterator[Callable[[int, int, int], None]]:
    """A progress bar for a batch of runs (runs done, failed, time left).

    Yields the ``progress(done, failed, total)`` callback the batch runner takes.
    With ``lazy`` the bar appears at the first call (so an error before the batch
    starts is printed alone).
    """
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        TextColumn,
        TimeRemainingColumn,
    )

    bar = Progress(
        TextColumn(f"[bold]{label}"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("{task.fields[failed]} failed"),
        TimeRemainingColumn(),
        console=err,
        transient=False,
    )
    task = bar.add_task("runs", total=total, failed=0)

    def update(done: int, failed: int, _total: int) -> None:
        if not bar.live.is_started:
            bar.start()
        bar.update(task, completed=done, failed=failed)

    if not lazy:
        bar.start()
    try:
        yield update
    finally:
        if bar.live.is_started:
            bar.stop()


@contextmanager
def _search_errors() -> Iterator[None]:
    """Bad input to validate or calibrate exits 2; runs that all failed exit 1."""
    from abm.runs.batch import BatchError
    from abm.scenario import ScenarioError

    try:
        yield
    except (ScenarioError, BatchError) as exc:
        _fail(str(exc))
    except RuntimeError as exc:
        _fail(str(exc), code=1)


def _new_out(out: Path | None, command: str) -> Path:
    """The output folder of a command: ``out`` if new or empty, else out/<command>-<time>."""
    out = out or Path("out") / f"{command}-{datetime.now(UTC).strftime('%Y%m%d-%H%M%S')}"
    if out.exists() and any(out.iterdir()):
        _fail(f"--out {out}: not empty; choose a new folder")
    return out


@app.command()
def validate(
    seeds: Annotated[
        int, typer.Option(help=f"Seeds 1..N of the baseline (N <= {MAX_SEED_COUNT:,}).")
    ] = 20,
    workers: Annotated[int, typer.Option(min=1, help="Worker processes.")] = 2,
    out: Annotated[
        Path | None, typer.Option(help="New folder for the runs (default out/validate-<time>).")
    ] = None,
    report: Annotated[bool, typer.Option(help="Also write validation.html + PNGs.")] = False,
    scenario: Annotated[str, typer.Option(help="Scenario to validate.")] = "baseline",
    targets: Annotated[Path | None, typer.Option(help="Targets file.")] = None,
) -> None:
    """Run the baseline over N seeds and check every calibration target; exit 1 on a failure."""
    _check_range("--seeds", seeds, 1, MAX_SEED_COUNT)
    from abm.analysis.validation import validate as run_validation
    from abm.analysis.validation import write_report
    from abm.scenario import load_scenario

    out = _new_out(out, "validate")
    with _search_errors():
        load_scenario(scenario)
        with _batch_bar("validate", seeds) as progress:
            v = run_validation(
                seeds=seeds,
                out=out,
                workers=workers,
                scenario=scenario,
                targets_path=targets,
                progress=progress,
            )
    console.print(v.markdown(), highlight=False, soft_wrap=True)
    table = v.table()
    console.print(
        f"{int(table['pass'].sum())} of {len(table)} targets pass in >= "
        f"{v.targets.pass_share:.0%} of {seeds} seeds; files in {out}",
        highlight=False,
    )
    if report:
        console.print(f"report: {write_report(v)}", highlight=False)
    if not v.passed:
        raise typer.Exit(1)


@app.command()
def calibrate(
    samples: Annotated[
        int | None, typer.Option(min=1, help="Design points (default: the file's).")
    ] = None,
    workers: Annotated[int, typer.Option(min=1, help="Worker processes.")] = 2,
    out: Annotated[
        Path | None, typer.Option(help="New folder for the runs (default out/calibrate-<time>).")
    ] = None,
    apply: Annotated[
        bool, typer.Option(help="Write the best point into the calibration file (fitted:).")
    ] = False,
    file: Annotated[Path | None, typer.Option(help="Calibration file.")] = None,
) -> None:
    """Search the declared free parameters (Latin hypercube) for the best fit to the targets."""
    from abm.analysis.calibration import CALIBRATION_FILE, confirm_runs_planned, load_search
    from abm.analysis.calibration import calibrate as run_calibration

    path = file or CALIBRATION_FILE
    out = _new_out(out, "calibrate")
    with _search_errors():
        spec, _ = load_search(path)
        total = (samples or spec.samples) * len(spec.seeds) * spec.stages
        total += confirm_runs_planned(spec)
        with _batch_bar("calibrate", total) as progress:
            res = run_calibration(
                out,
                path=path,
                workers=workers,
                samples=samples,
                apply=apply,
                progress=progress,
            )
    r = res["result"]
    console.print(
        f"best point {r['best_point']}: loss {r['best_loss']}, targets passing "
        f"{r['best_targets_passing']}",
        highlight=False,
    )
    for k, v in res["fitted"].items():
        console.print(f"  {k} = {v}", highlight=False)
    where = f"written to {path}" if apply else f"not applied (pass --apply); see {out}/result.yaml"
    console.print(where, highlight=False)


logs_app = typer.Typer(
    help="Query, summarise, trace and report the agent logs of a run or batch folder.",
    no_args_is_help=True,
)
app.add_typer(logs_app, name="logs")
EXIT_TIMEOUT = 124
"""Exit code of a log query stopped at its time limit (as coreutils ``timeout``)."""
EXIT_INTERRUPTED = 130
"""Exit code after Ctrl-C (128 + SIGINT)."""
LOG_TIMEOUT_S = 60.0
"""Default `--timeout`: `abm.analysis.logs.DEFAULT_TIMEOUT_S` (that module loads DuckDB)."""
TimeoutOption = Annotated[
    float,
    typer.Option(
        "--timeout",
        min=0,
        metavar="SECONDS",
        help="Stop a statement that runs longer than this (0: no limit).",
    ),
]


@logs_app.callback()
def logs_main(
    ctx: typer.Context,
    out: Annotated[Path, typer.Argument(help="A run folder or a batch folder of runs.")],
) -> None:
    """Open OUT (a run or batch output folder) for the subcommand."""
    ctx.obj = out


@contextmanager
def _logs_errors(out: Path) -> Iterator[None]:
    """Every failure of a ``logs`` command on OUT as one line and an exit code, no traceback."""
    import duckdb

    from abm.analysis.logs import (
        QueryFailed,
        QueryRefused,
        QueryTimeout,
        ResultsError,
        describe_error,
        find_runs,
    )

    try:
        yield
    except KeyboardInterrupt:
        _fail("interrupted", EXIT_INTERRUPTED)
    except QueryTimeout as exc:
        _fail(f"{exc} (raise it with --timeout SECONDS)", EXIT_TIMEOUT)
    except (ResultsError, QueryRefused, QueryFailed) as exc:
        _fail(str(exc))
    except duckdb.Error as exc:  # a statement of trace or report (our SQL, not the user's)
        try:
            runs = find_runs(out)
        except ResultsError:
            runs = []
        _fail(str(describe_error(exc, runs)))


def _connect(ctx: typer.Context, timeout: float | None = None):
    from abm.analysis.logs import DEFAULT_TIMEOUT_S, connect

    return connect(ctx.obj, DEFAULT_TIMEOUT_S if timeout is None else timeout)


def _emit(con, table, csv: bool, parquet: Path | None) -> None:
    """Show an Arrow result, or write it: the tool writes files, never the query."""
    if parquet is not None:
        _write_parquet(table, parquet)
        console.print(f"wrote {parquet}", highlight=False)
        return
    df = con.from_arrow(table).to_df()
    if csv:
        df.to_csv(sys.stdout, index=False)
    else:
        _print_frame(df)


def _write_parquet(table, path: Path) -> None:
    import pyarrow.parquet as pq

    from abm.runs.outputs import atomic_write

    if not path.parent.is_dir():
        _fail(f"--parquet {path}: no folder {path.parent}")
    if path.is_dir():
        _fail(f"--parquet {path}: is a folder")
    try:
        atomic_write(path, lambda tmp: pq.write_table(table, tmp, compression="zstd"))
    except OSError as exc:
        _fail(f"--parquet {path}: cannot write ({exc.strerror or exc})")


def _refuse_log_file(out: Path, path: Path) -> None:
    """``--parquet`` may not overwrite a file of a run in the results folder."""
    from abm.analysis.logs import TABLES, find_runs

    target = path.resolve()
    for run in find_runs(out):
        if target in {(run / name).resolve() for name in (*TABLES, "manifest.json")}:
            _fail(f"--parquet {path}: is a log file of {run}; choose another file")


def _print_frame(df) -> None:
    """Print a data frame as a table: cells literal (no markup, no emoji codes), never cut.

    On a terminal the table fits the window; piped, it is as wide as it needs
    (no 80-column wrapping).
    """
    from rich.console import Console
    from rich.table import Table
    from rich.text import Text

    table = Table()
    for c in df.columns:
        table.add_column(Text(str(c)))
    for row in df.itertuples(index=False):
        table.add_row(*[Text(_cell(v)) for v in row])
    if console.is_terminal:
        console.print(table)
    else:
        Console(width=100_000, emoji=False, markup=False, highlight=False).print(table)


def _write_tables(tables: dict, csv: Path | None, parquet: Path | None) -> None:
    """Write each table to ``csv`` / ``parquet`` (several: the table name before the suffix)."""
    from abm.analysis.factors import table_paths, write_table

    for target in (csv, parquet):
        if target is None:
            continue
        for name, where in table_paths(target, list(tables)).items():
            if target is parquet and where.suffix.lower() == ".csv":
                _fail(f"--parquet {target}: give a .parquet file name")
            try:
                write_table(tables[name], where)
            except (ValueError, OSError) as exc:
                _fail(f"--{'csv' if target is csv else 'parquet'} {where}: {exc}")
            console.print(f"wrote {where}", highlight=False, markup=False)


def _cell(value: object) -> str:
    """A table cell: thousands separators for numbers, dates without midnight."""
    if isinstance(value, float):
        return f"{value:,.2f}"
    text = str(value)
    return text.removesuffix(" 00:00:00")


@logs_app.command("summary")
def logs_summary(
    ctx: typer.Context,
    by: Annotated[str, typer.Option(help="agent, family or region")] = "family",
    csv: Annotated[bool, typer.Option(help="CSV on standard output.")] = False,
    timeout: TimeoutOption = LOG_TIMEOUT_S,
    scenario: Annotated[
        list[str] | None, typer.Option(help="Only the runs of this scenario (repeatable).")
    ] = None,
    run: Annotated[list[str] | None, typer.Option(help="Only this run_id (repeatable).")] = None,
) -> None:
    """Counts and volumes by event type per agent, family or region.

    Runs of several scenarios are summarised per scenario (first column), never pooled.
    """
    from abm.analysis.logs import connect, fetch, scenario_names, summary_sql

    if by not in ("agent", "family", "region"):
        _fail(f"--by: expected agent, family or region, got {by!r}")
    with _logs_errors(ctx.obj):
        con = connect(ctx.obj, timeout, scenarios=scenario, runs=run)
        per_scenario = len(scenario_names(con)) > 1
        _emit(con, fetch(con, summary_sql(by, per_scenario)), csv, None)


@logs_app.command("query")
def logs_query(
    ctx: typer.Context,
    sql: Annotated[str, typer.Argument(help="One read-only SQL statement over the views.")],
    csv: Annotated[bool, typer.Option(help="CSV on standard output.")] = False,
    parquet: Annotated[Path | None, typer.Option(help="Write the result to this file.")] = None,
    timeout: TimeoutOption = LOG_TIMEOUT_S,
) -> None:
    """DuckDB SQL over views events, metrics, agents, runs (and table edges).

    The query runs in a sandbox: it may read the logs of OUT and nothing else,
    write nothing, change no setting, load no extension; it stops after
    --timeout seconds. --parquet and --csv are written by abm, not by the query.
    """
    from abm.analysis.logs import fetch

    with _logs_errors(ctx.obj):
        if parquet is not None:
            _refuse_log_file(ctx.obj, parquet)
        con = _connect(ctx, timeout)
        _emit(con, fetch(con, sql), csv, parquet)


@logs_app.command("trace")
def logs_trace(
    ctx: typer.Context,
    agent: Annotated[str, typer.Argument(help="The agent that was short.")],
    at: Annotated[
        str | None, typer.Option(help="Date (YYYY-MM-DD); default: its worst week.")
    ] = None,
    run: Annotated[str | None, typer.Option(help="run_id in a batch (default: the first).")] = None,
) -> None:
    """Why was AGENT short? The chain of orders, allocations, rules and constraints."""
    from datetime import date

    from abm.analysis.logs import format_trace, trace

    try:
        day = date.fromisoformat(at) if at else None
    except ValueError:
        _fail(f"--at: expected a date YYYY-MM-DD, got {at!r}")
    with _logs_errors(ctx.obj):
        con = _connect(ctx)
        console.print(format_trace(trace(con, agent, day, run)), highlight=False, soft_wrap=True)


@logs_app.command("report")
def logs_report(
    ctx: typer.Context,
    dest: Annotated[
        Path | None, typer.Option(help="Folder for index.html (default OUT/report).")
    ] = None,
    scenario: Annotated[
        list[str] | None, typer.Option(help="Only the runs of this scenario (repeatable).")
    ] = None,
    run: Annotated[list[str] | None, typer.Option(help="Only this run_id (repeatable).")] = None,
) -> None:
    """A self-contained HTML report (heat map, flows, denials, rationing, traces).

    A batch's figures are means over the selected runs; if they hold several
    scenarios, the page (and this command) says they are pooled.
    """
    from abm.analysis.logs import connect, scenario_names
    from abm.analysis.report import write_report

    with _logs_errors(ctx.obj):
        con = connect(ctx.obj, scenarios=scenario, runs=run)
        names = scenario_names(con)
        con.close()
        path = write_report(ctx.obj, dest, scenarios=scenario, runs=run)
    if len(names) > 1:
        err.print(
            f"note: the report pools {len(names)} scenarios ({', '.join(names)}); "
            "--scenario NAME reports one",
            highlight=False,
            markup=False,
            soft_wrap=True,
        )
    console.print(f"wrote {path}", highlight=False)


@app.command()
def ui(
    port: Annotated[int, typer.Option(help="Port to serve on.")] = 8765,
    host: Annotated[
        str, typer.Option(help="Interface to bind (loopback by default).")
    ] = "127.0.0.1",
    scenario_dir: Annotated[
        list[Path] | None,
        typer.Option(
            "--scenario-dir",
            help="Folder the page may open scenario files from, besides the library "
            "(repeatable; default: the current directory).",
        ),
    ] = None,
) -> None:
    """Serve the browser UI (Solara, offline) at http://HOST:PORT until interrupted.

    The page's YAML-path field opens only .yaml/.yml files under the library and
    the --scenario-dir folders, each in a worker process with a time limit.
    """
    try:
        from viz.server import is_loopback, serve
    except ImportError as exc:  # pragma: no cover - viz ships with the package
        _fail(f"the UI package is missing ({exc}); reinstall the project")
    dirs = list(scenario_dir or [Path.cwd()])
    for d in dirs:
        if not d.is_dir():
            _fail(f"--scenario-dir {d}: not a folder")
    if not is_loopback(host):
        console.print(
            f"[yellow]warning: --host {host} makes the UI reachable from the network, and it "
            "has no authentication: anyone who can reach this port can run scenarios "
            "and open the scenario files under the allowed folders[/yellow]",
            highlight=False,
        )
    shown = ", ".join(str(d.resolve()) for d in dirs)
    console.print(f"Scenario files: the library and {shown}", highlight=False)
    console.print(f"Serving the UI at http://{host}:{port} (Ctrl+C to stop)", highlight=False)
    serve(host=host, port=port, scenario_dirs=dirs)


if __name__ == "__main__":
    app()

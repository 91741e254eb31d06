"""The built wheel works on its own: a clean virtualenv with only the wheel (installed with
the lock as constraints), used from a folder outside the repository.

Builds the wheel, installs it, then from a temporary folder (itself a git repository,
as a user's project might be): ``abm scenarios list``, ``abm run baseline --weeks 10``,
a user scenario that ``extends: baseline``, ``abm batch baseline --seeds 2`` and
``abm ui`` (the page renders a scenario and steps, in the system Chromium). Slow: the
install takes a minute or two (less with a warm pip cache).
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pandas as pd
import pytest

pytestmark = [pytest.mark.slow, pytest.mark.timeout(1500)]

ROOT = Path(__file__).resolve().parents[1]
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")


def _run(cmd: list[str | Path], cwd: Path, timeout: float = 600) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")}
    done = subprocess.run(
        [str(c) for c in cmd],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
    assert done.returncode == 0, f"{cmd}: exit {done.returncode}\n{done.stderr[-3000:]}"
    return done


@pytest.fixture(scope="module")
def installed(tmp_path_factory):
    """(bin folder of a clean venv holding only the wheel and its locked deps, work folder)."""
    base = tmp_path_factory.mktemp("wheel")
    dist = base / "dist"
    src = base / "src"  # a clean copy: no stale build/ folder can leak into the wheel
    shutil.copytree(
        ROOT,
        src,
        ignore=shutil.ignore_patterns(
            ".git", ".venv", "build", "dist", "out", "*.egg-info", "__pycache__", ".*_cache"
        ),
    )
    _run([sys.executable, "-m", "build", "--wheel", "--outdir", dist, src], cwd=base)
    (wheel,) = dist.glob("gpu_supply_abm-*.whl")
    venv = base / "venv"
    _run([sys.executable, "-m", "venv", venv], cwd=base)
    t0 = time.perf_counter()
    _run(
        [venv / "bin" / "python", "-m", "pip", "install", "-q", wheel,
         "-c", ROOT / "requirements.lock"],
        cwd=base,
        timeout=1200,
    )  # fmt: skip
    print(f"\nwheel install from the lock: {time.perf_counter() - t0:.0f} s")
    work = base / "project"  # a user's folder, inside a git repository of its own
    work.mkdir()
    _run(["git", "init", "-q"], cwd=work)
    return venv / "bin", work


def test_wheel_holds_the_scenario_library_and_no_source_tree(installed):
    bin_dir, work = installed
    probe = (
        "import abm, abm.scenario.library as lib, json; print(json.dumps([abm.__file__, "
        "str(lib.library_dir()), lib.library_names(), abm.__version__]))"
    )
    out = _run([bin_dir / "python", "-c", probe], cwd=work).stdout
    init, lib, names, version = json.loads(out)
    assert "site-packages" in init and not init.startswith(str(ROOT))
    assert lib.endswith("site-packages/abm/scenarios")
    assert {"baseline", "no_controls", "taiwan_disruption"} <= set(names)
    assert version == "0.1.0"
    for name in ("references.yaml", "calibration.yaml", "targets.yaml"):
        assert (Path(lib) / name).is_file()
    shipped = Path(init).parent / "requirements.lock"  # a file, not the checkout's link
    assert not shipped.is_symlink()
    assert shipped.read_bytes() == (ROOT / "requirements.lock").read_bytes()


def test_scenarios_list_and_run_from_outside_the_repository(installed):
    bin_dir, work = installed
    done = _run([bin_dir / "abm", "scenarios", "list"], cwd=work)
    listed = done.stdout
    assert listed.startswith("b_end_boom: ") and "\nbaseline: Historical world" in listed
    assert done.stderr == ""  # no import-name clash warning: only this project's abm and viz
    _run([bin_dir / "abm", "run", "baseline", "--weeks", "10", "--out", "r", "--quiet"], cwd=work)
    manifest = json.loads((work / "r" / "manifest.json").read_text(encoding="utf-8"))
    assert (manifest["status"], manifest["weeks_run"]) == ("completed", 10)
    # Provenance: not the commit of the git repository around the folder, but the version.
    assert manifest["git_commit"] == "unknown"
    assert manifest["versions"]["gpu-supply-abm"] == "0.1.0"
    # No checkout, but the wheel ships the lock (abm/requirements.lock): its hash is recorded.
    lock = (ROOT / "requirements.lock").read_bytes()
    assert manifest["environment"]["lock_sha256"] == hashlib.sha256(lock).hexdigest()
    assert manifest["environment"]["lock_source"] == "package"
    assert manifest["environment"]["matches_lock"] is True  # installed with -c the lock
    assert len(manifest["environment"]["packages_sha256"]) == 64
    for table in ("metrics", "events", "agents"):
        assert (work / "r" / f"{table}.parquet").stat().st_size > 0

    (work / "mine.yaml").write_text(
        "extends: baseline\nname: mine\ndescription: mine\nweeks: 6\n", encoding="utf-8"
    )
    _run([bin_dir / "abm", "run", "mine.yaml", "--out", "m", "--quiet"], cwd=work)
    mine = json.loads((work / "m" / "manifest.json").read_text(encoding="utf-8"))
    assert (mine["scenario"], mine["weeks_run"]) == ("mine", 6)
    _run([bin_dir / "python", "-m", "abm", "scenarios", "validate", "mine.yaml"], cwd=work)


def test_batch_from_outside_the_repository(installed):
    bin_dir, work = installed
    _run([bin_dir / "abm", "batch", "baseline", "--seeds", "2", "--out", "b"], cwd=work)
    batch = json.loads((work / "b" / "manifest.json").read_text(encoding="utf-8"))
    assert sorted(r["status"] for r in batch["runs"].values()) == ["completed", "completed"]
    assert batch["git_commit"] == "unknown"
    assert (work / "b" / "summary.parquet").is_file()
    metrics = pd.read_parquet(work / "b" / "metrics")  # the whole batch in one call
    assert sorted(metrics["seed"].unique()) == [1, 2]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_ui_renders_a_scenario_from_the_wheel(installed):
    if CHROMIUM is None:
        if os.environ.get("CI"):
            pytest.fail("chromium is missing (.ci/run installs it)", pytrace=False)
        pytest.skip("no system chromium (apt-get install -y chromium)")
    sync_api = pytest.importorskip("playwright.sync_api")
    bin_dir, work = installed
    port = _free_port()
    log = open(work / "ui.log", "w")  # noqa: SIM115
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")}
    proc = subprocess.Popen(
        [bin_dir / "abm", "ui", "--port", str(port)], cwd=work, env=env, stdout=log,
        stderr=subprocess.STDOUT,
    )  # fmt: skip
    url = f"http://127.0.0.1:{port}/"
    try:
        deadline = time.monotonic() + 90
        while True:
            try:
                with urllib.request.urlopen(url, timeout=2) as r:
                    if r.status == 200:
                        break
            except OSError:
                pass
            if proc.poll() is not None or time.monotonic() > deadline:
                pytest.fail(f"abm ui did not start: {(work / 'ui.log').read_text()[-2000:]}")
            time.sleep(0.3)
        args = ["--headless", "--disable-gpu", "--disable-background-networking", "--no-first-run"]
        if hasattr(os, "geteuid") and os.geteuid() == 0:
            args.append("--no-sandbox")
        with sync_api.sync_playwright() as p:
            browser = p.chromium.launch(executable_path=CHROMIUM, args=args)
            page = browser.new_page(viewport={"width": 1400, "height": 1900})
            errors: list[str] = []
            page.on("pageerror", lambda e: errors.append(str(e)))
            page.goto(url)
            page.locator(".abm-date").wait_for(timeout=60000)
            page.locator(".abm-network svg").wait_for(timeout=60000)
            assert int(page.locator(".abm-week").inner_text()) == 0
            page.locator(".abm-step").click()
            page.wait_for_function(
                "Number(document.querySelector('.abm-week').textContent) > 0", timeout=30000
            )
            assert "Traceback" not in page.inner_text("body")  # the visible text, not CSS
            browser.close()
        assert errors == [], errors
    finally:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
        log.close()

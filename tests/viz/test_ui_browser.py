"""The UI through a real browser: the system Chromium driven by Playwright, offline.

Starts ``abm ui`` on 127.0.0.1 (a free port), loads the page, steps, switches
scenario, moves a lever, resets, and checks a second tab runs on its own.
Every request that does not go to 127.0.0.1 is blocked and recorded; the
test fails on any, on a failed request and on a console error. Screenshots
go to out/screenshots/ (gitignored).
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

pytestmark = [pytest.mark.browser, pytest.mark.slow, pytest.mark.timeout(180)]

ROOT = Path(__file__).resolve().parents[2]
SHOTS = ROOT / "out" / "screenshots"
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")

if CHROMIUM is None:
    if os.environ.get("CI"):
        pytest.fail("chromium is missing (.ci/run installs it)", pytrace=False)
    pytest.skip("no system chromium (apt-get install -y chromium)", allow_module_level=True)
sync_api = pytest.importorskip("playwright.sync_api")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def server():
    port = _free_port()
    SHOTS.mkdir(parents=True, exist_ok=True)
    log = open(SHOTS / "server.log", "w")  # noqa: SIM115
    env = {**os.environ, "SOLARA_TELEMETRY_MIXPANEL_ENABLE": "false"}
    proc = subprocess.Popen(
        [sys.executable, "-m", "abm.cli", "ui", "--host", "127.0.0.1", "--port", str(port)],
        cwd=ROOT,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    url = f"http://127.0.0.1:{port}/"
    deadline = time.monotonic() + 60
    while True:
        try:
            with urllib.request.urlopen(url, timeout=2) as r:
                if r.status == 200:
                    break
        except OSError:
            pass
        if proc.poll() is not None or time.monotonic() > deadline:
            proc.kill()
            log.close()
            pytest.fail(f"UI server did not start: {(SHOTS / 'server.log').read_text()[-2000:]}")
        time.sleep(0.3)
    yield url
    proc.terminate()
    try:
        proc.wait(10)
    except subprocess.TimeoutExpired:
        proc.kill()
    log.close()


class Watch:
    """Blocks and records non-local requests; records failed requests and console errors."""

    def __init__(self, page) -> None:
        self.external: list[str] = []
        self.failed: list[str] = []
        self.errors: list[str] = []
        page.route("**/*", self._route)
        page.on("console", lambda m: m.type == "error" and self.errors.append(m.text))
        page.on("pageerror", lambda e: self.errors.append(str(e)))
        page.on("requestfailed", lambda r: self.failed.append(f"{r.url} {r.failure}"))

    def _route(self, route) -> None:
        url = route.request.url
        if url.startswith(("http://127.0.0.1", "ws://127.0.0.1", "data:", "blob:")):
            route.continue_()
        else:
            self.external.append(url)
            route.abort()

    def check(self) -> None:
        assert self.external == [], f"requests left 127.0.0.1: {self.external}"
        assert self.failed == [], f"failed requests: {self.failed}"
        assert self.errors == [], f"console errors: {self.errors}"


@pytest.fixture(scope="module")
def browser():
    args = [
        "--headless",
        "--disable-gpu",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--no-first-run",
    ]
    if hasattr(os, "geteuid") and os.geteuid() == 0:
        args.append("--no-sandbox")
    with sync_api.sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=args)
        yield b
        b.close()


def _week(page) -> int:
    return int(page.locator(".abm-week").inner_text())


def _step(page) -> None:
    before = _week(page)
    page.locator(".abm-step").click()
    page.wait_for_function(
        f"Number(document.querySelector('.abm-week').textContent) > {before}", timeout=15000
    )


def _open(browser, url):
    ctx = browser.new_context(viewport={"width": 1400, "height": 1900})
    page = ctx.new_page()
    watch = Watch(page)
    page.goto(url)
    page.locator(".abm-date").wait_for(timeout=30000)
    page.locator(".abm-network svg").wait_for(timeout=30000)
    return ctx, page, watch


def test_page_steps_switches_scenario_and_resets(server, browser):
    ctx, page, watch = _open(browser, server)
    assert _week(page) == 0
    date0 = page.locator(".abm-date").inner_text()
    net0 = page.locator(".abm-network").inner_html()
    chart0 = page.locator(".abm-chart-lead_time").inner_html()
    for _ in range(5):
        _step(page)
    assert _week(page) == 5
    date5 = page.locator(".abm-date").inner_text()
    assert date5 > date0, (date0, date5)
    assert page.locator(".abm-network").inner_html() != net0
    assert page.locator(".abm-chart-lead_time").inner_html() != chart0
    assert page.locator(".abm-chart-lead_time svg").get_attribute("data-points") == "6"
    page.screenshot(path=str(SHOTS / "after-5-steps.png"))

    # replay: back to week 2 shows that week's network; the end returns to the live week
    replay = page.locator(".abm-replay [role=slider]")
    replay.focus()
    for _ in range(3):
        replay.press("ArrowLeft")
    page.wait_for_function("document.querySelector('.abm-week').textContent == '2'")
    assert "(replay)" in page.locator(".abm-status").inner_text()
    assert page.locator(".abm-network svg").get_attribute("data-steps") == "2"
    replay.press("End")
    page.wait_for_function("document.querySelector('.abm-week').textContent == '5'")
    assert "(replay)" not in page.locator(".abm-status").inner_text()

    # a second tab has its own run: stepping it leaves the first alone
    ctx2, page2, watch2 = _open(browser, server)
    assert _week(page2) == 0
    _step(page2)
    assert _week(page2) == 1
    assert _week(page) == 5
    watch2.check()
    ctx2.close()

    # switch scenario, move a lever, reset
    page.locator(".abm-scenario").click()
    page.locator(".v-menu__content .v-list-item", has_text="taiwan_disruption").click()
    slider = page.locator(".abm-lever-enforcement [role=slider]")
    slider.focus()
    slider.press("ArrowRight")
    slider.press("ArrowRight")
    page.wait_for_function(
        "document.querySelector('.abm-lever-enforcement .abm-lever-value').textContent == '0.6'",
        timeout=10000,
    )
    page.locator(".abm-reset").click()
    page.wait_for_function(
        "document.querySelector('.abm-run').textContent.includes('taiwan_disruption')",
        timeout=15000,
    )
    run = page.locator(".abm-run").inner_text()
    assert "Enforcement strength = 0.6" in run, run
    assert _week(page) == 0
    _step(page)
    assert _week(page) == 1
    assert page.locator(".abm-date").inner_text() == "2022-01-03"
    page.screenshot(path=str(SHOTS / "after-reset.png"))
    watch.check()
    ctx.close()


def test_a_path_outside_the_allowed_folders_is_refused_and_the_page_still_steps(server, browser):
    ctx, page, watch = _open(browser, server)
    field = page.locator(".abm-yaml-path input")
    field.fill("/dev/zero")
    field.press("Enter")
    error = page.locator(".abm-error")
    error.wait_for(timeout=15000)
    text = error.inner_text()
    assert text.startswith("not an allowed scenario file: choose a library scenario"), text
    assert "\n" not in text.strip()
    page.locator(".abm-reset").click()
    page.wait_for_timeout(500)
    assert page.locator(".abm-error").inner_text() == text  # Reset refuses it the same way
    _step(page)
    assert _week(page) == 1
    page.screenshot(path=str(SHOTS / "refused-path.png"))
    watch.check()
    ctx.close()

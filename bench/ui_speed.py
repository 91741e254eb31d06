"""UI speed through the browser: Step latency and Play throughput (steps per second).

Starts ``abm ui`` on a free 127.0.0.1 port (or uses --url), drives the system
Chromium with Playwright, and measures on the default world (baseline):

- Step latency: a click on Step (dispatched in the page) until the page shows the next
  week's date and network drawing, at the next animation frame (median, p90, max);
- Play: weeks advanced per second of wall time at a given speed setting,
  for a full run (261 weeks) at the fastest setting, and a few seconds at
  the default setting.

    .venv/bin/python bench/ui_speed.py [--steps 20] [--url http://127.0.0.1:8765/]
"""

from __future__ import annotations

import argparse
import os
import shutil
import socket
import statistics
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

from playwright.sync_api import sync_playwright

ROOT = Path(__file__).resolve().parents[1]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_server() -> tuple[subprocess.Popen, str]:
    port = free_port()
    env = {**os.environ, "SOLARA_TELEMETRY_MIXPANEL_ENABLE": "false"}
    proc = subprocess.Popen(
        [sys.executable, "-m", "abm.cli", "ui", "--port", str(port)],
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    url = f"http://127.0.0.1:{port}/"
    for _ in range(200):
        try:
            with urllib.request.urlopen(url, timeout=2):
                return proc, url
        except OSError:
            time.sleep(0.3)
    proc.kill()
    raise SystemExit("server did not start")


STEP_JS = """
async () => {
  const before = Number(document.querySelector('.abm-week').textContent);
  const done = () => Number(document.querySelector('.abm-week').textContent) > before
    && Number(document.querySelector('.abm-network svg').dataset.steps) > before;
  const t0 = performance.now();
  document.querySelector('.abm-step').click();
  await new Promise((resolve) => {
    const obs = new MutationObserver(() => { if (done()) { obs.disconnect(); resolve(); } });
    obs.observe(document.body, {subtree: true, childList: true, characterData: true});
  });
  await new Promise((r) => requestAnimationFrame(() => r()));
  return performance.now() - t0;
}
"""
"""Click Step from inside the page and time until the new week's status and network are drawn
(the next animation frame), without Playwright's own click overhead."""


def week(page) -> int:
    return int(page.locator(".abm-week").inner_text())


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--steps", type=int, default=20, help="Step clicks to time")
    ap.add_argument("--url", help="Use a running server instead of starting one")
    ap.add_argument("--play-seconds", type=float, default=5.0)
    args = ap.parse_args()
    proc, url = (None, args.url) if args.url else start_server()
    chromium = shutil.which("chromium") or "/usr/bin/chromium"
    flags = ["--headless", "--disable-gpu", "--no-first-run", "--disable-background-networking"]
    if os.geteuid() == 0:
        flags.append("--no-sandbox")
    try:
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=chromium, args=flags)
            page = browser.new_page(viewport={"width": 1400, "height": 1000})
            page.goto(url)
            page.locator(".abm-network svg").wait_for(timeout=60000)

            def click_step() -> float:
                """Click Step in the page; ms until the new week's network is drawn."""
                return page.evaluate(STEP_JS) / 1e3

            click_step()  # warm-up
            lat = [click_step() for _ in range(args.steps)]
            lat.sort()
            p90 = lat[max(0, int(0.9 * len(lat)) - 1)]
            print(
                f"Step latency over {len(lat)} clicks (weeks 2-{len(lat) + 1}): "
                f"median {1e3 * statistics.median(lat):.0f} ms, p90 {1e3 * p90:.0f} ms, "
                f"max {1e3 * lat[-1]:.0f} ms"
            )

            # Play at the default speed for a few seconds
            page.locator(".abm-speed button", has_text="20").click()
            w0, t0 = week(page), time.perf_counter()
            page.locator(".abm-play").click()
            page.wait_for_timeout(args.play_seconds * 1000)
            w1, t1 = week(page), time.perf_counter()
            page.locator(".abm-pause").click()
            print(f"Play at speed 20: {(w1 - w0) / (t1 - t0):.1f} steps/s over {t1 - t0:.1f} s")

            # A full run at the fastest setting
            page.locator(".abm-reset").click()
            page.wait_for_function("document.querySelector('.abm-week').textContent == '0'")
            page.locator(".abm-speed button", has_text="50").click()
            total = int(page.locator(".abm-status").inner_text().split(" of ")[1].split()[0])
            t0 = time.perf_counter()
            page.locator(".abm-play").click()
            page.wait_for_function(
                f"document.querySelector('.abm-week').textContent == '{total}'", timeout=300000
            )
            dt = time.perf_counter() - t0
            print(
                f"Play at speed 50, whole run: {total} weeks in {dt:.1f} s "
                f"= {total / dt:.1f} steps/s"
            )

            # Step latency late in a run (long chart lines, full feed)
            page.locator(".abm-reset").click()
            page.wait_for_function("document.querySelector('.abm-week').textContent == '0'")
            page.locator(".abm-speed button", has_text="20").click()
            page.locator(".abm-play").click()
            page.wait_for_function(
                "Number(document.querySelector('.abm-week').textContent) >= 200", timeout=300000
            )
            page.locator(".abm-pause").click()
            page.wait_for_timeout(300)
            first = week(page)
            late = sorted(click_step() for _ in range(min(args.steps, total - first - 1)))
            print(
                f"Step latency late in the run ({len(late)} clicks after week {first}):"
                f" median {1e3 * statistics.median(late):.0f} ms, max {1e3 * late[-1]:.0f} ms"
            )
            browser.close()
    finally:
        if proc is not None:
            proc.terminate()
            proc.wait(10)


if __name__ == "__main__":
    main()

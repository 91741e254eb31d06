"""Screenshot the UI after N weeks of a scenario (starts its own server on 127.0.0.1).

    .venv/bin/python scripts/ui_screenshot.py taiwan_disruption --weeks 52 \
        --out out/screenshots/taiwan_disruption-52.png
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
from pathlib import Path

from playwright.sync_api import sync_playwright

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "bench"))
from ui_speed import start_server  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("scenario")
    ap.add_argument("--weeks", type=int, default=52)
    ap.add_argument("--out", type=Path)
    ap.add_argument("--inspect", default="", help="Firm shown in the inspector")
    args = ap.parse_args()
    out = args.out or Path("out/screenshots") / f"{args.scenario}-{args.weeks}.png"
    out.parent.mkdir(parents=True, exist_ok=True)
    proc, url = start_server()
    flags = ["--headless", "--disable-gpu", "--no-first-run"]
    if os.geteuid() == 0:
        flags.append("--no-sandbox")
    try:
        with sync_playwright() as p:
            b = p.chromium.launch(executable_path=shutil.which("chromium"), args=flags)
            page = b.new_page(viewport={"width": 1500, "height": 1900})
            page.goto(url)
            page.locator(".abm-network svg").wait_for(timeout=60000)
            page.locator(".abm-scenario").click()
            page.locator(".v-menu__content .v-list-item", has_text=args.scenario).first.click()
            page.locator(".abm-reset").click()
            page.wait_for_function(
                f"document.querySelector('.abm-run').textContent.startsWith('{args.scenario}')"
            )
            for _ in range(args.weeks):
                before = int(page.locator(".abm-week").inner_text())
                page.locator(".abm-step").click()
                page.wait_for_function(
                    f"Number(document.querySelector('.abm-week').textContent) > {before}"
                )
            if args.inspect:
                page.locator(".abm-agent-select").click()
                page.locator(".v-menu__content .v-list-item", has_text=args.inspect).first.click()
                page.wait_for_timeout(500)
            page.evaluate("window.scrollTo(0, 0)")
            page.locator(".abm-status").scroll_into_view_if_needed()
            page.wait_for_timeout(300)
            page.screenshot(path=str(out))
            print(out)
            b.close()
    finally:
        proc.terminate()
        proc.wait(10)


if __name__ == "__main__":
    main()

"""Serve the page with Solara's server, offline (bundled assets, no telemetry).

The folders the page may read scenario files from reach it in the environment
variable :data:`viz.loading.SCENARIO_DIRS_ENV`, set here before Solara starts
(see :mod:`viz.loading`).
"""

from __future__ import annotations

import ipaddress
import os
import sys
import threading
import warnings
from collections.abc import Sequence
from pathlib import Path

from viz.loading import SCENARIO_DIRS_ENV, warm_up


def solara_args(host: str, port: int) -> list[str]:
    """Arguments of ``solara run`` for the page."""
    return [
        "run",
        "viz.app:Page",
        "--host",
        host,
        "--port",
        str(port),
        "--production",
        "--no-open",
        "--no-check-version",
        "--theme-loader",
        "plain",
        "--log-level",
        "warning",
    ]


def offline_env() -> dict[str, str]:
    """Environment settings that keep Solara from calling out to the internet."""
    return {
        "SOLARA_TELEMETRY_MIXPANEL_ENABLE": "false",
        "SOLARA_CHECK_VERSION": "false",
    }


def is_loopback(host: str) -> bool:
    """True when ``host`` names a loopback interface only (not reachable from the network)."""
    if host.strip().lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip().strip("[]")).is_loopback
    except ValueError:
        return False


def scenario_dirs_env(dirs: Sequence[str | Path]) -> dict[str, str]:
    """The environment setting that names the page's allowed scenario folders (resolved)."""
    return {SCENARIO_DIRS_ENV: os.pathsep.join(os.path.realpath(d) for d in dirs)}


def serve(
    host: str = "127.0.0.1", port: int = 8765, scenario_dirs: Sequence[str | Path] = (".",)
) -> None:
    """Run the UI server in this process until interrupted.

    Args:
        host: Interface to bind (loopback by default).
        port: Port to listen on.
        scenario_dirs: Folders the page may read scenario files from, besides the library.
    """
    os.environ.update(offline_env())
    os.environ.update(scenario_dirs_env(scenario_dirs))
    threading.Thread(target=warm_up, name="abm-load-workers", daemon=True).start()
    # plain http on loopback: Solara falls back to samesite=lax cookies, which is fine here
    warnings.filterwarnings("ignore", message="Cookies with samesite=none require https")
    from solara.__main__ import main

    sys.argv = ["solara", *solara_args(host, port)]
    main()

"""Serve the page with Solara's server, offline (bundled assets, no telemetry)."""

from __future__ import annotations

import os
import sys
import warnings


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


def serve(host: str = "127.0.0.1", port: int = 8765) -> None:
    """Run the UI server in this process until interrupted.

    Args:
        host: Interface to bind (loopback by default).
        port: Port to listen on.
    """
    os.environ.update(offline_env())
    # plain http on loopback: Solara falls back to samesite=lax cookies, which is fine here
    warnings.filterwarnings("ignore", message="Cookies with samesite=none require https")
    from solara.__main__ import main

    sys.argv = ["solara", *solara_args(host, port)]
    main()

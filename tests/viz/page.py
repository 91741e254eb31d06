"""Render the page's components without a browser, as the component tests do."""

from typing import Any

import solara

from viz.app import Controls, Views, use_tab_state


def render_tab() -> tuple[Any, Any]:
    """One tab's controls and views rendered headless: ``(tab state, render context)``."""
    box: dict[str, Any] = {}

    @solara.component
    def Probe():
        st = use_tab_state()
        box["st"] = st
        with solara.Row():
            Controls(st)
            Views(st)

    _, rc = solara.render(Probe(), handle_error=False)
    return box["st"], rc

"""The page's components rendered without a browser (widgets only): Step, levers, Reset."""

import ipyvuetify as v
from solara.widgets import HTML

from tests.viz.page import render_tab
from viz.app import feed_html, inspector_html


def _html(rc, cls):
    found = rc.find(HTML).widgets
    return next(w for w in found if cls in w.attributes.get("class", "")).unsafe_innerHTML


def test_components_step_and_reset_without_a_browser():
    st, rc = render_tab()
    assert 'class="abm-week">0<' in _html(rc, "abm-status")
    step = rc.find(v.Btn, children=["Step"])
    step.widget.click()
    step.widget.click()
    assert st.session.steps == 2
    assert 'class="abm-week">2<' in _html(rc, "abm-status")
    assert 'data-steps="2"' in _html(rc, "abm-network")
    st.pick_scenario("smuggling_crackdown")
    assert st.levers.value["enforcement"] == 0.95
    st.set_lever("enforcement", 0.7)
    rc.find(v.Btn, children=["Reset"]).widget.click()
    assert st.session.steps == 0 and st.session.model.spec.enforcement == 0.7
    assert "smuggling_crackdown" in _html(rc, "abm-status")
    st.set_path("no/such/file.yaml")
    assert st.error.value.startswith("not an allowed scenario file")
    rc.close()


def test_feed_and_inspector_html_escape_text():
    html = feed_html([(3, "2022-01-17", "exit", "A <b> exits", "A")])
    assert "A &lt;b&gt; exits" in html and "abm-ev-bad" in html
    assert "No notable event" in feed_html([])
    info = {
        "name": "X&Y",
        "family": "lab",
        "region": "US",
        "country": "US",
        "active": False,
        "state": {"cash_usd": 1.5e9, "users": 12.0},
        "events": [("2022-01-03", "X pauses <sign-ups>")],
    }
    out = inspector_html(info)
    assert "X&amp;Y" in out and "exited" in out and "1,500,000,000" in out
    assert "&lt;sign-ups&gt;" in out

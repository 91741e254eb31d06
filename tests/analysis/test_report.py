"""The HTML report: its six sections, embedded charts, denials, rationing, traces."""

import base64
import html
import re
from datetime import UTC, datetime
from pathlib import Path

import pytest

from abm.analysis.logs import ResultsError, connect
from abm.analysis.report import SECTIONS, rationing_episodes, write_report
from abm.engine.model import SupplyChainModel
from abm.runs.outputs import prepare_out_dir, write_run
from abm.scenario import load_scenario

SECTION_IDS = [sid for sid, _ in SECTIONS]
PNG = "data:image/png;base64,"
ODD_RUN_ID = 'odd <run> & "id"'


def _write(model: SupplyChainModel, out: Path) -> Path:
    prepare_out_dir(out)
    write_run(model, out, datetime.now(UTC))
    return out


@pytest.fixture(scope="module")
def run120(tmp_path_factory) -> Path:
    m = SupplyChainModel.from_scenario("baseline", seed=1, weeks=120).run()
    return _write(m, tmp_path_factory.mktemp("report") / "run")


@pytest.fixture(scope="module")
def report(run120) -> tuple[Path, str]:
    index = write_report(run120)
    return index, index.read_text(encoding="utf-8")


def _section(page: str, sid: str) -> str:
    """The page from ``sid``'s heading to the next section's."""
    start = page.index(f'<h2 id="{sid}"')
    end = page.find("<section>", start)
    return page[start : end if end != -1 else len(page)]


@pytest.mark.slow
def test_sections_and_embedded_images(run120, report):
    index, page = report
    assert index == run120 / "report" / "index.html"
    assert page.startswith("<!DOCTYPE html>")
    for sid in SECTION_IDS:
        assert page.count(f'<h2 id="{sid}"') == 1, sid
    # section order is stable
    positions = [page.index(f'<h2 id="{sid}"') for sid in SECTION_IDS]
    assert positions == sorted(positions)
    images = re.findall(r'<img src="data:image/png;base64,([A-Za-z0-9+/=]+)"', page)
    assert len(images) >= 3
    for data in images:
        assert base64.b64decode(data).startswith(b"\x89PNG\r\n\x1a\n")
    # self-contained: nothing fetched from elsewhere
    assert "http://" not in page and "https://" not in page
    assert not re.search(r'src="(?!data:)', page)
    # the charts are also written next to the page
    pngs = sorted(p.name for p in index.parent.glob("*.png"))
    assert len(pngs) == len(images)
    assert "shortage_heatmap.png" in pngs


def test_runs_table(report):
    _, page = report
    runs = _section(page, "runs")
    assert "<td>baseline-s1</td>" in runs
    assert "<td>completed</td>" in runs
    assert '<td class="num">120</td>' in runs


def test_heatmap_and_flows_have_charts(report):
    _, page = report
    assert PNG in _section(page, "shortage-heatmap")
    flows = _section(page, "flows")
    assert PNG in flows
    assert "<th>to US</th>" in flows and "<td>Nvidia</td>" in flows


def test_denials_name_every_rule_that_denied(run120, report):
    _, page = report
    con = connect(run120)
    rules = [
        r[0]
        for r in con.execute(
            "SELECT rule FROM events WHERE event = 'denial' GROUP BY rule HAVING sum(quantity) > 0"
        ).fetchall()
    ]
    years = con.execute(
        "SELECT DISTINCT year(date) FROM events WHERE event = 'denial' ORDER BY 1"
    ).fetchall()
    assert "US-2022-10-3A090" in rules
    denials = _section(page, "denials")
    assert PNG in denials
    for rule in rules:
        assert f"<td>{html.escape(rule)}</td>" in denials, rule
    for (year,) in years:
        assert f"<th>{year}</th>" in denials
    # a rule that denied nothing in these 120 weeks is not listed
    assert "US-2025-04-H20" not in denials


def test_rationing_rows(run120, report):
    _, page = report
    con = connect(run120)
    starts = con.execute(
        "SELECT agent, min(date) FROM events WHERE event = 'rationing_start' GROUP BY agent"
    ).fetchall()
    assert starts, "baseline seed 1 rations within 120 weeks"
    rationing = _section(page, "rationing")
    assert PNG in rationing
    for lab, first in starts:
        assert f"<tr><td>{lab}</td><td>{first.isoformat()}</td>" in rationing, lab
    openai = dict(starts).get("OpenAI")
    if openai is not None:
        row = re.search(r"<tr><td>OpenAI</td><td>([\d-]+)</td><td>([\w-]+)</td>", rationing)
        assert row is not None and row.group(1) == openai.isoformat()
    episodes = rationing_episodes(con)
    (n_starts,) = con.execute(
        "SELECT count(*) FROM events WHERE event = 'rationing_start'"
    ).fetchone()
    assert len(episodes) == n_starts
    for e in episodes:
        assert e.weeks > 0 and e.lost_revenue_usd >= 0
        if e.stop is not None:
            assert e.weeks == (e.stop - e.start).days // 7
    ongoing = [e for e in episodes if e.stop is None]
    for e in ongoing:
        assert f"<tr><td>{e.lab}</td><td>{e.start.isoformat()}</td><td>ongoing</td>" in rationing


def test_rationing_lost_revenue_matches_metric(run120):
    con = connect(run120)
    for e in rationing_episodes(con):
        stop = e.stop or datetime.max.date()
        (lost,) = con.execute(
            "SELECT coalesce(sum(value), 0) FROM metrics WHERE name = 'lost_revenue_usd' "
            "AND scope = ? AND date >= ? AND date < ?",
            [e.lab, e.start, stop],
        ).fetchone()
        assert e.lost_revenue_usd == pytest.approx(lost)


def test_top_shortages_traced(run120, report):
    _, page = report
    top = _section(page, "top-shortages")
    assert top.count('<ul class="trace">') == 5
    con = connect(run120)
    worst = con.execute(
        "SELECT agent FROM agents WHERE shortage_ratio IS NOT NULL GROUP BY agent "
        "ORDER BY avg(shortage_ratio) DESC, agent LIMIT 1"
    ).fetchone()[0]
    assert f"<h3>{html.escape(worst)} <small>" in top
    assert "<pre>" in top  # the plain-text form of the trace


@pytest.mark.slow
def test_dest_and_top(run120, tmp_path):
    index = write_report(run120, dest=tmp_path / "elsewhere", top=2)
    assert index == tmp_path / "elsewhere" / "index.html"
    page = index.read_text(encoding="utf-8")
    assert _section(page, "top-shortages").count('<ul class="trace">') == 2
    index = write_report(run120, dest=tmp_path / "elsewhere", top=0)
    assert '<ul class="trace">' not in index.read_text(encoding="utf-8")


@pytest.mark.slow
def test_batch_means_and_escaping(tmp_path):
    spec = load_scenario("baseline").model_copy(update={"weeks": 60})
    _write(SupplyChainModel(spec, seed=1).run(), tmp_path / "batch" / "a")
    _write(SupplyChainModel(spec, seed=2, run_id=ODD_RUN_ID).run(), tmp_path / "batch" / "b")
    page = write_report(tmp_path / "batch").read_text(encoding="utf-8")
    for sid in SECTION_IDS:
        assert f'<h2 id="{sid}"' in page
    assert html.escape(ODD_RUN_ID) in _section(page, "runs")
    assert ODD_RUN_ID not in page
    assert "mean over 2 runs" in _section(page, "shortage-heatmap")
    assert "Means over the batch" in _section(page, "flows")
    rationing = _section(page, "rationing")
    if "<table>" in rationing:
        assert "<th>run</th>" in rationing


def test_missing_or_empty_folder(tmp_path):
    with pytest.raises(ResultsError):
        write_report(tmp_path / "nope")
    (tmp_path / "empty").mkdir()
    with pytest.raises(ResultsError):
        write_report(tmp_path / "empty")
    assert not (tmp_path / "empty" / "report").exists()

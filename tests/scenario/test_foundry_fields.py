"""The fields of foundry rules, fronts and stockpiling are validated: one line naming the field."""

from __future__ import annotations

import pytest

from abm.scenario import ScenarioError, load_scenario

FRONT = "world:\n  fronts:\n    - {{name: Sophgo, {field}}}\n"
RULE = """policies:
  - id: T-FOUNDRY
    authority: US government
    gate: {gate}
    {dates}
    controlled:
      - {clause}
    destinations: ["*"]
    licence: {{policy: deny}}
"""


def _message(tmp_path, body: str) -> str:
    f = tmp_path / "bad.yaml"
    f.write_text(f"extends: baseline\nname: bad\n{body}")
    with pytest.raises(ScenarioError) as info:
        load_scenario(f)
    msg = str(info.value)
    assert "\n" not in msg and "Traceback" not in msg
    return msg.removeprefix(f"{f}: ")


def test_negative_front_capacity_names_the_field(tmp_path):
    msg = _message(tmp_path, FRONT.format(field="max_wafers_per_week: -5"))
    assert msg.startswith("world.fronts[0].max_wafers_per_week:"), msg
    assert "0" in msg


def test_front_detection_probability_above_one_is_refused(tmp_path):
    msg = _message(tmp_path, FRONT.format(field="detection_per_week: 1.5"))
    assert msg.startswith("world.fronts[0].detection_per_week:"), msg


def test_front_start_not_a_date_is_refused(tmp_path):
    msg = _message(tmp_path, FRONT.format(field="start: 2023-02-30"))
    assert "start" in msg or "not a date on the calendar" in msg, msg


def test_front_unknown_designer_is_named(tmp_path):
    msg = _message(tmp_path, FRONT.format(field="designer: Huawai"))
    assert msg == "world.fronts[0].designer: 'Huawai' is not a vendor", msg


def test_front_product_of_another_designer_is_refused(tmp_path):
    msg = _message(tmp_path, FRONT.format(field="product: H100"))
    assert msg == "world.fronts[0].product: 'H100' is not a product of 'Huawei'", msg


def test_expected_after_announced_names_the_field(tmp_path):
    body = "policies:\n  - {id: US-2024-12-HBM, expected: 2024-12-20}\n"
    msg = _message(tmp_path, body)
    assert msg.endswith(".expected: 2024-12-20 is after announced 2024-12-02"), msg
    assert msg.startswith("policies["), msg


def test_wafer_clause_needs_the_foundry_gate(tmp_path):
    dates = "announced: 2023-01-02\n    effective: 2023-01-02"
    msg = _message(tmp_path, RULE.format(gate="export", dates=dates, clause="{kind: wafer}"))
    assert msg.endswith(
        "controlled[0].kind: wafer clauses go with gate: foundry, and a foundry "
        "rule controls wafers only (gate export, kind wafer)"
    ), msg


def test_foundry_rule_end_users_must_be_designers(tmp_path):
    dates = "announced: 2023-01-02\n    effective: 2023-01-02\n    end_users: [Alibaba Cloud]"
    msg = _message(tmp_path, RULE.format(gate="foundry", dates=dates, clause="{kind: wafer}"))
    assert msg.endswith(
        "end_users: 'Alibaba Cloud' is not a vendor or front (a foundry's customer)"
    ), msg


def test_negative_node_size_and_stockpile_cover_are_refused(tmp_path):
    node = (
        "world:\n  foundries:\n    - name: SMIC\n      nodes:\n"
        "        - {node: N+2, capacity_wafers_per_week: 300, yield_fraction: 0.4, node_nm: -7}\n"
        "uncertainties:\n"
        "  - {path: 'world.foundries[SMIC].nodes[N+2].yield_fraction', remove: true}\n"
    )
    assert ".node_nm:" in _message(tmp_path, node)
    cover = "world:\n  vendors:\n    - {name: Huawei, stockpile_cover_weeks: -1}\n"
    assert _message(tmp_path, cover).startswith("world.vendors[2].stockpile_cover_weeks:")


def test_baseline_rules_and_front_are_sourced(baseline):
    rules = {r.id: r for r in baseline.policies}
    for rid in ("US-2020-05-HUAWEI-FDPR", "US-2022-12-EL-CAMBRICON", "US-2025-01-FOUNDRY-DD"):
        assert rules[rid].gate == "foundry" and rules[rid].sources
    assert rules["US-2024-12-HBM"].expected is not None
    (front,) = baseline.world.fronts
    assert set(front.sources) >= {"max_wafers_per_week", "detection_per_week", "start"}

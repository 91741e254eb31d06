"""The bounded reader and the tightened schema refuse bad input and keep good input as it was."""

from __future__ import annotations

import pytest
import yaml

from abm.scenario import ScenarioError, load_scenario, read_yaml
from abm.scenario.loader import MAX_YAML_DEPTH, _FastLoader, _PyLoader


@pytest.mark.parametrize("loader", [_FastLoader, _PyLoader])
def test_both_parsers_refuse_the_same_way(loader):
    from abm.scenario import ScenarioCheckError

    with pytest.raises(ScenarioCheckError, match=r"duplicate key \(lines 1 and 2\)"):
        yaml.load("a: 1\na: 2\n", Loader=loader)  # noqa: S506
    with pytest.raises(ScenarioCheckError, match="not a date on the calendar"):
        yaml.load("d: 2023-02-30\n", Loader=loader)  # noqa: S506
    deep = "".join(f"{' ' * i}k{i}:\n" for i in range(MAX_YAML_DEPTH + 1)) + " " * 99 + "v: 1"
    with pytest.raises(ScenarioCheckError, match="nested deeper than"):
        yaml.load(deep, Loader=loader)  # noqa: S506


def test_small_aliases_and_merge_keys_still_work(tmp_path):
    f = tmp_path / "a.yaml"
    f.write_text("base: &b {x: 1, y: 2}\nother:\n  <<: *b\n  y: 3\nlist: [*b, *b]\n")
    data = read_yaml(f)
    assert data["other"] == {"x": 1, "y": 3} and data["list"] == [{"x": 1, "y": 2}] * 2


def test_explicit_every_gpu_clause_is_kept(baseline):
    # the baseline's state data-centre rule writes {kind: gpu} on purpose; only {} is refused
    assert any(not c.model_fields_set - {"kind"} for r in baseline.policies for c in r.controlled)


def test_int_accepted_where_a_float_is_expected(tmp_path):
    f = tmp_path / "i.yaml"
    f.write_text("extends: baseline\nname: i\nenforcement: 1\n")
    assert load_scenario(f).enforcement == 1.0


def test_removing_an_unknown_item_is_refused(tmp_path):
    f = tmp_path / "r.yaml"
    f.write_text("extends: baseline\nname: r\npolicies:\n- {id: NO-SUCH-RULE, remove: true}\n")
    with pytest.raises(ScenarioError, match=r"r.yaml: policies\[0\].id: no item 'NO-SUCH-RULE'"):
        load_scenario(f)


def test_repeated_name_in_overrides_is_refused():
    over = {"world": {"labs": [{"name": "OpenAI", "cash_usd": 1.0}, {"name": "OpenAI"}]}}
    with pytest.raises(ScenarioError, match=r"\(overrides\) world.labs\[1\].name: 'OpenAI' is rep"):
        load_scenario("baseline", over)


def test_duplicate_foundry_node_is_refused(baseline):
    from tests.conftest import variant

    def dup(d):
        d["world"]["foundries"][0]["nodes"].append(dict(d["world"]["foundries"][0]["nodes"][0]))

    with pytest.raises(ValueError, match=r"world.foundries\[0\].nodes\[\d+\].node: duplicate node"):
        variant(baseline, dup)

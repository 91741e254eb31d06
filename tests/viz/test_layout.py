import networkx as nx
import pytest

from abm.engine.model import SupplyChainModel
from viz.layout import FAMILY_COLUMNS, shortage_colour, supply_layout


@pytest.fixture(scope="module")
def graph():
    return SupplyChainModel.from_scenario("baseline", seed=1).graph


def test_layout_is_deterministic_and_inside_the_unit_square(graph):
    a = supply_layout(graph, seed=7)
    b = supply_layout(graph.copy(), seed=7)
    assert a == b
    assert set(a) == set(graph.nodes)
    assert all(0 <= x <= 1 and 0 <= y <= 1 for x, y in a.values())
    assert supply_layout(graph, seed=8) != a  # the seed moves the sideways offsets only


def test_layout_groups_by_family_and_region(graph):
    pos = supply_layout(graph)
    name = {n: d["name"] for n, d in graph.nodes(data=True)}
    by = {name[n]: p for n, p in pos.items()}
    # upstream to downstream, left to right
    assert by["TSMC"][0] < by["TSMC CoWoS"][0] < by["Nvidia"][0] < by["AWS"][0]
    assert by["AWS"][0] < by["OpenAI"][0] < by["US finance"][0]
    # US above the rest of the world above China
    assert by["Nvidia"][1] < by["TSMC"][1] < by["Huawei"][1]
    assert by["OpenAI"][1] < by["Mistral"][1] < by["DeepSeek"][1]
    # one column per family: members share a column (within the jitter)
    for fam in FAMILY_COLUMNS:
        xs = [pos[n][0] for n, d in graph.nodes(data=True) if d["family"] == fam]
        if len(xs) > 1:
            assert max(xs) - min(xs) < 1 / len(FAMILY_COLUMNS)
    # no two firms on the same spot
    assert len({(round(x, 4), round(y, 4)) for x, y in pos.values()}) == len(pos)


def test_layout_of_an_unknown_family_still_places_it():
    g = nx.DiGraph()
    g.add_node(0, name="A", family="vendor", region="US")
    g.add_node(1, name="B", family="mystery", region="XX")
    pos = supply_layout(g)
    assert set(pos) == {0, 1} and pos[0] != pos[1]


def test_shortage_colours_run_green_to_red():
    assert shortage_colour(0.0) == "#1a9850"
    assert shortage_colour(1.0) == "#d73027"
    assert shortage_colour(2.0) == "#d73027" and shortage_colour(-1) == "#1a9850"
    assert shortage_colour(None) == "#bdbdbd" and shortage_colour(float("nan")) == "#bdbdbd"
    reds = [int(shortage_colour(x / 10)[1:3], 16) for x in range(0, 6)]
    greens = [int(shortage_colour(x / 10)[3:5], 16) for x in range(5, 11)]
    assert reds == sorted(reds)  # red rises towards the middle (yellow)
    assert greens == sorted(greens, reverse=True)  # then green falls towards red

"""The package's layout keeps its architecture: dependencies between subpackages point one
way (type-only imports aside), the scenario package and outputs import nothing above them,
``viz`` imports ``abm`` and never the reverse, and the root stays small."""

import ast
from pathlib import Path

import networkx as nx

ROOT = Path(__file__).resolve().parents[1]
ABM = ROOT / "abm"


def _type_only_lines(tree: ast.Module) -> set[int]:
    """Line numbers inside ``if TYPE_CHECKING:`` blocks."""
    lines: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            for child in node.body:
                lines.update(range(child.lineno, (child.end_lineno or child.lineno) + 1))
    return lines


def runtime_imports(path: Path) -> set[str]:
    """Modules imported at run time (at the top or inside functions), type-only excluded."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    skip = _type_only_lines(tree)
    found: set[str] = set()
    for node in ast.walk(tree):
        if getattr(node, "lineno", None) in skip:
            continue
        if isinstance(node, ast.Import):
            found.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module)
            found.update(f"{node.module}.{a.name}" for a in node.names)
    return found


def layer_of(module: str) -> str | None:
    """``abm.engine.model`` -> ``engine``; ``abm.cli`` -> ``cli``; outside abm: None."""
    parts = module.split(".")
    if parts[0] != "abm" or len(parts) < 2:
        return None
    return parts[1]


def subpackage_graph() -> nx.DiGraph:
    g = nx.DiGraph()
    for path in ABM.rglob("*.py"):
        mod = ".".join(path.relative_to(ROOT).with_suffix("").parts)
        src = layer_of(mod)
        if src is None:
            continue
        g.add_node(src)
        for imp in runtime_imports(path):
            dst = layer_of(imp)
            if dst and dst != src and ((ABM / dst).is_dir() or dst == "cli"):
                g.add_edge(src, dst)
    return g


def test_subpackage_dependencies_have_no_cycle():
    g = subpackage_graph()
    cycles = list(nx.simple_cycles(g))
    assert not cycles, f"import cycles between subpackages: {cycles}"


def test_dependencies_point_one_way():
    g = subpackage_graph()
    assert not set(g.successors("scenario")), "the scenario package imports nothing above it"
    for low in ("engine", "agents", "markets", "controls"):
        for high in ("runs", "analysis", "cli"):
            assert not g.has_edge(low, high), f"{low} imports {high}"
    assert not g.has_edge("runs", "analysis") and not g.has_edge("runs", "cli")
    # `python -m abm` (abm/__main__.py) is the command line itself, not a layer below it.
    importers = {x for x in g.nodes if g.has_edge(x, "cli")}
    assert importers <= {"__main__"}, f"nothing imports the CLI: {importers}"


def test_markets_pure_functions_know_no_agents_or_mesa():
    imports = runtime_imports(ABM / "markets" / "clearing.py")
    assert not any(i.startswith(("abm.", "mesa", "solara")) for i in imports), imports


def test_outputs_never_import_the_model_class_at_run_time():
    imports = runtime_imports(ABM / "runs" / "outputs.py")
    assert not any(i.startswith("abm.engine.model") for i in imports), imports


def test_abm_never_imports_viz():
    # The command line is the top layer, beside viz: `abm ui` starts the server lazily.
    for path in ABM.rglob("*.py"):
        if path == ABM / "cli.py":
            continue
        assert not any(i == "viz" or i.startswith("viz.") for i in runtime_imports(path)), path


def test_the_package_root_stays_small():
    modules = sorted(p.name for p in ABM.glob("*.py"))
    assert len(modules) <= 8, modules

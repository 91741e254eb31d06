"""Packaging: the scenario library ships as package data, the lock pins what pyproject asks,
and provenance names this project's checkout only."""

import re
import subprocess
import tomllib
from importlib import resources
from pathlib import Path

import pytest
from packaging.requirements import Requirement

from abm.runs.outputs import checkout_at, environment_record, git_commit, project_checkout
from abm.scenario import SCENARIO_DIR, library_names, load_scenario
from abm.scenario.library import NOT_SCENARIOS, library_dir, library_file

ROOT = Path(__file__).resolve().parents[1]
PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))


def _canonical(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def test_every_package_folder_is_listed_in_pyproject():
    listed = set(PYPROJECT["tool"]["setuptools"]["packages"])
    on_disk = {
        ".".join(p.parent.relative_to(ROOT).parts)
        for top in ("abm", "viz")
        for p in (ROOT / top).rglob("__init__.py")
    }
    assert on_disk | {"abm.scenarios"} == listed
    assert PYPROJECT["tool"]["setuptools"]["package-dir"] == {"abm.scenarios": "scenarios"}


def test_library_is_found_through_importlib_resources():
    assert library_dir() == SCENARIO_DIR == Path(str(resources.files("abm.scenarios")))
    assert library_dir().resolve() == (ROOT / "scenarios").resolve()  # editable: the checkout
    shipped = {p.name for p in (ROOT / "scenarios").glob("*.yaml")}
    assert set(library_names()) == {Path(n).stem for n in shipped - NOT_SCENARIOS}
    assert "baseline" in library_names()
    for name in NOT_SCENARIOS:
        assert library_file(name).is_file()


def test_user_scenario_extends_library_by_name_from_any_folder(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "mine.yaml").write_text(
        "extends: baseline\nname: mine\ndescription: my variant\nweeks: 12\n", encoding="utf-8"
    )
    spec = load_scenario(tmp_path / "mine.yaml")
    assert (spec.name, spec.weeks, spec.description) == ("mine", 12, "my variant")
    assert spec.world == load_scenario("baseline").world  # calibrated values included


def _pins() -> dict[str, str]:
    text = (ROOT / "requirements.lock").read_text(encoding="utf-8")
    return {
        _canonical(n): v
        for n, v in re.findall(r"^([A-Za-z0-9][A-Za-z0-9._-]*)==([^\s;#]+)", text, re.MULTILINE)
    }


def test_lock_pins_every_declared_dependency_within_its_bounds():
    pins = _pins()
    project = PYPROJECT["project"]
    declared = [*project["dependencies"], *project["optional-dependencies"]["dev"]]
    for line in declared:
        req = Requirement(line)
        name = _canonical(req.name)
        assert name in pins, f"{req.name} is not in requirements.lock (run make lock)"
        assert req.specifier.contains(pins[name], prereleases=True), (
            f"requirements.lock pins {req.name}=={pins[name]}, outside {req.specifier}"
        )


def test_lock_holds_the_tested_numeric_stack():
    # The versions outputs were checked byte-identical with (bench/check_identical.py).
    pins = _pins()
    expected = {"numpy": "2.5.5", "pandas": "3.1.2", "duckdb": "2.0.1", "pyarrow": "26.0.1"}
    assert {k: pins[k] for k in expected} == expected


def test_manifest_environment_names_the_lock():
    env = environment_record()
    assert re.fullmatch(r"[0-9a-f]{64}", env["packages_sha256"])
    if project_checkout() is not None:
        import hashlib

        lock = (ROOT / "requirements.lock").read_bytes()
        assert env["lock_sha256"] == hashlib.sha256(lock).hexdigest()
        assert isinstance(env["matches_lock"], bool)


def _git(cwd: Path, *args: str) -> None:
    subprocess.run(["git", *args], cwd=cwd, check=True, capture_output=True)


@pytest.fixture
def repo(tmp_path):
    _git(tmp_path, "init", "-q")
    return tmp_path


def test_checkout_is_recognised_only_when_it_is_this_project(repo):
    assert checkout_at(repo) is None  # a git repository without the project
    (repo / "pyproject.toml").write_text('[project]\nname = "other"\n', encoding="utf-8")
    assert checkout_at(repo) is None  # someone else's project
    (repo / "pyproject.toml").write_text('[project]\nname = "gpu-supply-abm"\n', encoding="utf-8")
    assert checkout_at(repo) == repo


def test_install_inside_another_repository_is_not_a_checkout(repo):
    # A virtualenv inside some repository: site-packages is below that repository's top.
    (repo / "pyproject.toml").write_text('[project]\nname = "gpu-supply-abm"\n', encoding="utf-8")
    site = repo / ".venv" / "lib" / "python3.12" / "site-packages"
    site.mkdir(parents=True)
    assert checkout_at(site) is None
    nested = repo / "sub"
    nested.mkdir()
    (nested / "pyproject.toml").write_text('[project]\nname = "gpu-supply-abm"\n', encoding="utf-8")
    (nested / ".git").mkdir()  # looks like a checkout, but git says the top is `repo`
    assert checkout_at(nested) is None


def test_git_commit_of_this_checkout():
    if project_checkout() is None:
        pytest.skip("not running from a git checkout of the project")
    assert re.fullmatch(r"[0-9a-f]{40}(-dirty)?", git_commit())

"""The library lookup behind `abm scenarios list`: descriptions without validation."""

import pytest
from typer.testing import CliRunner

import abm.scenario.library as library
from abm.cli import app


@pytest.fixture
def lib(tmp_path, monkeypatch):
    monkeypatch.setattr(library, "library_dir", lambda: tmp_path)
    (tmp_path / "base.yaml").write_text("name: base\ndescription: The base.\n", encoding="utf-8")
    (tmp_path / "child.yaml").write_text("extends: base\nname: child\n", encoding="utf-8")
    (tmp_path / "own.yaml").write_text("extends: base\ndescription: Own.\n", encoding="utf-8")
    (tmp_path / "broken.yaml").write_text("name: [unclosed\n", encoding="utf-8")
    (tmp_path / "listy.yaml").write_text("- a\n- b\n", encoding="utf-8")
    (tmp_path / "loop.yaml").write_text("extends: loop\n", encoding="utf-8")
    (tmp_path / "references.yaml").write_text("facts: {}\n", encoding="utf-8")
    return tmp_path


def test_names_leave_out_the_data_files(lib):
    assert library.library_names() == ["base", "broken", "child", "listy", "loop", "own"]


def test_description_is_inherited_through_extends(lib):
    assert library.library_description("base") == "The base."
    assert library.library_description("child") == "The base."
    assert library.library_description("own") == "Own."


def test_unreadable_files_are_one_line_errors_naming_the_file(lib):
    with pytest.raises(ValueError, match=r"broken\.yaml: ") as exc:
        library.library_description("broken")
    assert "\n" not in str(exc.value)
    with pytest.raises(ValueError, match=r"listy\.yaml: expected a mapping"):
        library.library_description("listy")
    with pytest.raises(ValueError, match=r"loop\.yaml: extends: cycle \(loop\)"):
        library.library_description("loop")


def test_scenarios_list_marks_unreadable_files_and_lists_the_rest(lib):
    res = CliRunner().invoke(app, ["scenarios", "list"], env={"COLUMNS": "200"})
    assert res.exit_code == 0, res.output
    lines = res.output.splitlines()
    assert lines[0] == "base: The base."
    assert lines[1].startswith("broken: invalid (") and "broken.yaml" in lines[1]
    assert lines[2] == "child: The base."
    assert lines[5] == "own: Own."

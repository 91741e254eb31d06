"""Importing abm warns (one line on stderr) when another distribution provides `abm`/`viz`."""

import os
import subprocess
import sys

import abm


def _dist(site, folder, **files):
    meta = site / folder
    meta.mkdir(parents=True)
    for name, text in files.items():
        (meta / name).write_text(text, encoding="utf-8")


def _fake_site(tmp_path):
    site = tmp_path / "site"
    (site / "abm").mkdir(parents=True)  # what a clashing wheel would have installed
    (site / "viz.py").write_text("", encoding="utf-8")
    _dist(site, "abm_toolkit-2.0.dist-info", **{"top_level.txt": "abm\n"})
    _dist(site, "vizlib-0.3.dist-info", RECORD="vizlib/__init__.py,,\nviz.py,sha256=x,1\n")
    _dist(site, "innocent-1.0.dist-info", RECORD="innocent/__init__.py,,\nabmx/a.py,,\n")
    _dist(site, "gpu_supply_abm-0.1.0.dist-info", **{"top_level.txt": "abm\nviz\n"})
    return site


def test_other_distributions_providing_abm_or_viz_are_named(tmp_path):
    site = _fake_site(tmp_path)
    assert abm.name_clashes([str(site)]) == {"abm": ["abm_toolkit"], "viz": ["vizlib"]}


def test_this_environment_has_no_clash():
    assert abm.name_clashes() == {}


def test_no_abm_or_viz_in_a_folder_means_no_metadata_read(tmp_path):
    site = _fake_site(tmp_path)
    (site / "abm").rmdir()
    (site / "viz.py").unlink()
    assert abm.name_clashes([str(site)]) == {}


def _import_abm(extra_path, **env):
    base = {k: v for k, v in os.environ.items() if k != "ABM_IGNORE_NAME_CLASH"}
    return subprocess.run(
        [sys.executable, "-c", f"import sys; sys.path.append({str(extra_path)!r}); import abm"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        env={**base, **env},
    )


def test_import_prints_one_warning_line_naming_them(tmp_path):
    # the clashing folder is appended to sys.path before the import: abm itself is ours
    done = _import_abm(_fake_site(tmp_path))
    assert done.returncode == 0, done.stderr
    lines = done.stderr.splitlines()
    assert len(lines) == 1, done.stderr
    assert lines[0].startswith("warning: import-name clash with gpu-supply-abm: ")
    assert "abm_toolkit provides 'abm'" in lines[0] and "vizlib provides 'viz'" in lines[0]
    quiet = _import_abm(_fake_site(tmp_path / "b"), ABM_IGNORE_NAME_CLASH="1")
    assert quiet.stderr == ""


def test_a_clean_import_is_silent(tmp_path):
    assert _import_abm(tmp_path).stderr == ""

"""The lock ships inside the package (abm/requirements.lock, a link to the top-level lock),
so an installed wheel records the lock's hash in its manifests (tests/test_wheel.py checks
a real wheel install)."""

import hashlib
import tomllib
from pathlib import Path

import pytest

from abm.runs import outputs

ROOT = Path(__file__).resolve().parents[1]
LOCK = ROOT / "requirements.lock"


@pytest.fixture
def fresh_record():
    outputs._environment_record.cache_clear()
    yield
    outputs._environment_record.cache_clear()


def test_the_package_holds_the_lock():
    shipped = ROOT / "abm" / "requirements.lock"
    assert shipped.read_bytes() == LOCK.read_bytes()
    pyproject = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    assert "requirements.lock" in pyproject["tool"]["setuptools"]["package-data"]["abm"]


def test_without_a_checkout_the_manifest_names_the_shipped_lock(fresh_record, monkeypatch):
    monkeypatch.setattr(outputs, "project_checkout", lambda: None)
    env = outputs.environment_record()
    assert env["lock_sha256"] == hashlib.sha256(LOCK.read_bytes()).hexdigest()
    assert env["lock_source"] == "package"
    assert env["matches_lock"] is True  # this venv was installed from the lock


def test_a_checkout_names_its_own_lock(fresh_record):
    if outputs.project_checkout() is None:
        pytest.skip("not a git checkout of the project")
    env = outputs.environment_record()
    assert env["lock_source"] == "checkout"
    assert env["lock_sha256"] == hashlib.sha256(LOCK.read_bytes()).hexdigest()

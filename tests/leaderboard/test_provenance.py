import json
import subprocess

import pytest

from iapo_bench.envs import get_family
from iapo_bench.leaderboard import provenance


class FakeDistribution:
    def __init__(self, direct_url: str | None):
        self.direct_url = direct_url

    def read_text(self, name):
        assert name == "direct_url.json"
        return self.direct_url


@pytest.fixture
def checkout(tmp_path):
    def git(*args):
        subprocess.run(["git", *args], cwd=tmp_path, check=True, capture_output=True)

    git("init", "-q")
    (tmp_path / "f").write_text("x")
    git("add", "f")
    git("-c", "user.email=a@b", "-c", "user.name=a", "commit", "-qm", "first")
    return tmp_path


def test_git_version_is_found_through_the_install_record(checkout, monkeypatch):
    # `pip install .` copies the package out of the checkout; PEP 610 names where it came from.
    url = json.dumps({"url": checkout.as_uri(), "dir_info": {}})
    monkeypatch.setattr(provenance.metadata, "distribution", lambda _: FakeDistribution(url))
    provenance.git_version.cache_clear()
    try:
        head = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"], cwd=checkout, capture_output=True, text=True
        ).stdout.strip()
        assert provenance.git_version() == head
    finally:
        provenance.git_version.cache_clear()


def test_git_version_is_none_outside_a_checkout(tmp_path, monkeypatch):
    url = json.dumps({"url": tmp_path.as_uri(), "dir_info": {}})
    monkeypatch.setattr(provenance.metadata, "distribution", lambda _: FakeDistribution(url))
    provenance.git_version.cache_clear()
    try:
        assert provenance.git_version() is None
    finally:
        provenance.git_version.cache_clear()


def test_the_shipped_envs_match_their_frozen_lists():
    families = [get_family(name) for name in ("chart", "ocr", "search")]
    assert provenance.env_mismatches(families) == {}


def test_library_versions_name_the_ones_that_shape_scores():
    versions = provenance.library_versions()
    assert {"python", "gymnasium", "numpy", "pillow", "rapidocr"} <= set(versions)

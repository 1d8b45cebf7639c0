import json

from iapo_bench.leaderboard.submission import read_submission
from tests.leaderboard.submission.files import CHART, SEARCH, records, set_cell, set_manifest, write


def test_the_content_hash_is_of_the_actions_alone(oracle_file, tmp_path):
    parsed, _ = read_submission(oracle_file, allow_partial=True)
    rows = records(oracle_file)
    set_manifest(rows, "submitter", "Bob")
    set_manifest(rows, "claimed_score", "0.5", CHART)  # the claims are not the content either
    other, _ = read_submission(write(tmp_path / "bob.csv", rows), allow_partial=True)
    assert other.manifest.submitter == "Bob" and other.content_hash == parsed.content_hash
    set_cell("action", "<answer>1</answer>", index=2)(rows)
    changed, _ = read_submission(write(tmp_path / "changed.csv", rows), allow_partial=True)
    assert changed.content_hash != parsed.content_hash


def test_the_canonical_form_reads_back_the_same(oracle_file, tmp_path):
    parsed, _ = read_submission(oracle_file, allow_partial=True)
    parsed.write(tmp_path / "again.csv")
    again, found = read_submission(tmp_path / "again.csv", allow_partial=True)
    assert found == () and again.content_hash == parsed.content_hash
    assert again.manifest == parsed.manifest
    assert json.dumps(again.manifest.claimed_scores) == json.dumps(parsed.manifest.claimed_scores)


def test_each_env_has_the_content_hash_of_its_own_actions(oracle_file, tmp_path):
    parsed, _ = read_submission(oracle_file, allow_partial=True)
    assert list(parsed.env_hashes) == [CHART, SEARCH]
    assert len(set(parsed.env_hashes.values())) == 2
    # An env's hash is the whole hash of a submission holding that env alone.
    rows = [r for r in records(oracle_file) if SEARCH not in r[:2]]
    chart_only, found = read_submission(write(tmp_path / "chart.csv", rows), allow_partial=True)
    assert found == ()
    assert chart_only.env_hashes == {CHART: chart_only.content_hash}
    assert chart_only.content_hash == parsed.env_hashes[CHART]

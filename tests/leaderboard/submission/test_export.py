import pytest

from iapo_bench.baselines import make_agent
from iapo_bench.core import PolicyFailure
from iapo_bench.leaderboard import evaluate
from iapo_bench.leaderboard.submission import export_submission, verify_submission
from tests.leaderboard.submission.files import CHART, Scripted


def test_export_refuses_what_a_submission_cannot_hold(tmp_path, run_dir):
    with pytest.raises(ValueError, match="holds 2 agents"):
        export_submission(run_dir, tmp_path / "x.csv")
    with pytest.raises(ValueError, match="no episode of agent 'nobody'"):
        export_submission(run_dir, tmp_path / "x.csv", agent="nobody")
    with pytest.raises(ValueError, match="not a run folder"):
        export_submission(tmp_path, tmp_path / "x.csv")
    evaluate(
        [CHART], [Scripted(["a\x00b", "<answer>1</answer>"])], tmp_path / "nul", limit=1
    ).close()
    with pytest.raises(ValueError, match="NUL"):
        export_submission(tmp_path / "nul", tmp_path / "x.csv")
    evaluate([CHART], [make_agent("oracle")], tmp_path / "val", split="validation", limit=1).close()
    with pytest.raises(ValueError, match="validation split"):
        export_submission(tmp_path / "val", tmp_path / "x.csv")
    down = Scripted([PolicyFailure(error="endpoint down")], name="down")
    evaluate([CHART], [down], tmp_path / "down", limit=1).close()
    with pytest.raises(ValueError, match=r"failed outside the model.*resume the run"):
        export_submission(tmp_path / "down", tmp_path / "x.csv")
    assert not (tmp_path / "x.csv").exists()


def test_a_run_under_another_rubric_claims_no_score(tmp_path):
    evaluate(
        [CHART], [make_agent("oracle")], tmp_path / "r", limit=2, rubric="exact_match:2"
    ).close()
    manifest = export_submission(tmp_path / "r", tmp_path / "s.csv")
    assert manifest.claimed_scores == {}
    verdict = verify_submission(tmp_path / "s.csv", allow_partial=True)
    assert verdict.status == "verified" and verdict.envs[0].score == 1.0  # the default rubric

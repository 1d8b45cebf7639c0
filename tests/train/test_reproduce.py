"""The study: the smoke preset runs every stage end to end, resumes, and reports."""

import math

import pandas as pd
import pytest

from iapo_bench.leaderboard.stats import bootstrap_ci
from iapo_bench.train.study_report import model_row


def _episodes(scores: dict[str, float], calls: int = 1, errors: int = 0) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "task_id": list(scores),
            "score": list(scores.values()),
            "tool_calls": [calls] * len(scores),
            "tool_errors": [errors] * len(scores),
        }
    )


def test_a_row_averages_seeds_per_task_and_splits_by_difficulty():
    first = _episodes(
        {
            "bars/v0/test/d0/2000000001": 1.0,
            "bars/v0/test/d1/2000000002": 0.0,
            "bars/v0/test/d1/2000000003": 1.0,
        }
    )
    second = _episodes(
        {
            "bars/v0/test/d0/2000000001": 0.0,
            "bars/v0/test/d1/2000000002": 0.0,
            "bars/v0/test/d1/2000000003": 1.0,
        }
    )
    row = model_row("grpo", "test", [first, second])
    # Per task, the seeds' mean: 0.5, 0.0, 1.0.
    assert row["average_mean"] == pytest.approx(0.5)
    assert row["seeds"] == 2 and row["tasks"] == 3
    expected = bootstrap_ci([0.0, 1.0])
    assert (
        row["d1"]
        == f"{100 * expected.estimate:.1f} [{100 * expected.low:.1f}, {100 * expected.high:.1f}]"
    )
    assert row["d0"].startswith("50.0 [50.0, 50.0]")
    assert row["tool_call_rate"] == 1.0 and row["tool_success_rate"] == 1.0


def test_a_model_without_tool_calls_has_no_success_rate():
    row = model_row("blind", "test", [_episodes({"bars/v0/test/d0/2000000001": 0.0}, calls=0)])
    assert row["tool_call_rate"] == 0.0 and math.isnan(row["tool_success_rate"])


@pytest.mark.slow
def test_the_smoke_study_runs_every_stage_resumes_and_reports(tmp_path):
    pytest.importorskip("torch")
    pytest.importorskip("transformers")
    from iapo_bench.train.reproduce import METHOD_ORDER, PRESETS, reproduce

    lines: list[str] = []
    report = reproduce(tmp_path, "smoke", log=lines.append)
    assert report == tmp_path / "report.md"
    table = pd.read_csv(tmp_path / "report.csv")
    for split in ("test", "validation"):
        models = set(table[table["split"] == split]["model"])
        assert models == {"teacher", "student", "blind student", *METHOD_ORDER}
    arms = table[table["model"].isin(METHOD_ORDER)]
    assert (arms["seeds"] == len(PRESETS["smoke"].seeds)).all()
    # Attribution is measured on test episodes: shown in the test rows only.
    assert arms[arms["split"] == "test"]["attribution_kl"].notna().all()
    assert arms[arms["split"] == "validation"]["attribution_kl"].isna().all()
    text = report.read_text()
    assert "iapo - grpo" in text and "frozen test list" in text
    assert (tmp_path / "curves.png").stat().st_size > 0
    configs = sorted(p.name for p in (tmp_path / "configs").iterdir())
    assert "teacher.toml" in configs and "iapo-s0.toml" in configs
    assert "iapo-bench train --config" in (tmp_path / "commands.sh").read_text()

    # A second call resumes: every stage is done, nothing is trained again.
    stamps = {p: p.stat().st_mtime_ns for p in tmp_path.glob("**/done")}
    again: list[str] = []
    reproduce(tmp_path, "smoke", log=again.append)
    assert {p: p.stat().st_mtime_ns for p in tmp_path.glob("**/done")} == stamps
    assert not any("steps," in line for line in again)

    # Other settings in the same folder are refused, not mixed.
    with pytest.raises(ValueError, match="other settings"):
        reproduce(tmp_path, PRESETS["smoke"].model_copy(update={"arm_steps": 2}))

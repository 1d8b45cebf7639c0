import pandas as pd
import pytest

from iapo_bench.baselines import make_agent
from iapo_bench.leaderboard import evaluate
from iapo_bench.leaderboard.provenance import EnvMismatchError
from iapo_bench.leaderboard.submission import Limits, export_submission, verify_submission
from tests.leaderboard.submission.files import (
    CHART,
    SEARCH,
    Scripted,
    edited,
    find,
    header_of,
    problems,
    records,
    set_cell,
    set_manifest,
    the_problem,
    write,
)


def test_a_genuine_run_is_exported_and_verified(run_dir, tmp_path):
    summary = pd.read_csv(run_dir / "summary.csv").set_index(["agent", "env_id"])
    for agent in ("oracle", "random"):
        path = tmp_path / f"{agent}.csv"
        manifest = export_submission(run_dir, path, agent=agent)
        verdict = verify_submission(path, allow_partial=True)
        assert verdict.status == "verified", [str(p) for p in verdict.problems]
        assert verdict.partial and manifest.agent == agent
        for result in verdict.envs:
            assert result.score == pytest.approx(summary.loc[(agent, result.env_id), "score"])
            assert (result.tasks, result.repeats, result.test_list_size) == (3, 1, 500)
            assert result.claimed_score == pytest.approx(result.score)
        assert len(verdict.episodes) == 6
    first = verdict.episodes[0]
    assert first.rows[0] == records(path).index(header_of(records(path))) + 2  # 1-based rows


def test_every_scripted_agent_replays(tmp_path):
    # oracle, random and no-tool on chart; their files are accepted, their scores recomputed.
    agents = [make_agent(n, env_ids=[CHART]) for n in ("oracle", "random", "no-tool")]
    evaluate([CHART], agents, tmp_path / "run", limit=4).close()
    for agent in ("oracle", "random", "no-tool"):
        path = tmp_path / f"{agent}.csv"
        export_submission(tmp_path / "run", path, agent=agent)
        verdict = verify_submission(path, allow_partial=True)
        assert verdict.status == "verified", [str(p) for p in verdict.problems]
    assert verdict.envs[0].score == 0.0  # no-tool cannot read these charts


def test_repeats_replay_and_must_all_be_there(tmp_path):
    evaluate([CHART], [make_agent("random")], tmp_path / "run", limit=2, repeats=2).close()
    path = tmp_path / "random.csv"
    export_submission(tmp_path / "run", path)
    verdict = verify_submission(path, allow_partial=True)
    assert verdict.status == "verified" and verdict.envs[0].repeats == 2
    assert verdict.envs[0].episodes == 4
    rows = records(path)
    header = header_of(rows)
    first_task = rows[rows.index(header) + 1][1]
    kept = [r for r in rows if not (r[1] == first_task and r[header.index("repeat")] == "1")]
    problem = the_problem(write(tmp_path / "gap.csv", kept))
    assert problem.column == "repeat" and f"{first_task} repeat 1" in problem.message


def test_a_tampered_action_is_rejected_with_its_episode(oracle_file, tmp_path):
    rows = records(oracle_file)
    header = header_of(rows)
    first = rows.index(header) + 1
    answer = next(
        i for i, r in enumerate(rows) if i >= first and r[header.index("action")][:8] == "<answer>"
    )
    rows[answer][header.index("action")] = "<answer>wrong</answer>"
    found = problems(write(tmp_path / "tampered.csv", rows))
    task = rows[answer][1]
    assert found[0].row == answer + 1 and found[0].column == "score"
    assert f"episode {task} repeat 0: claimed score 1.0, the replay scores 0.0" in found[0].message
    # and the manifest's mean claim no longer holds either, naming the episode's row
    assert found[1].column == "value" and f"row {answer + 1}" in found[1].message


def test_a_false_claimed_score_is_rejected(oracle_file, tmp_path):
    path = edited(oracle_file, tmp_path, lambda r: set_manifest(r, "claimed_score", "0.9", CHART))
    problem = the_problem(path)
    assert "claimed score 0.9, the replay gives 1.0 over 3 episodes" in problem.message
    assert problem.row == find(records(path), "#claimed_score") + 1
    # without per-episode claims the file cannot say which episodes differ
    rows = records(path)
    header = header_of(rows)
    start = rows.index(header)
    for row in rows[start:]:
        del row[5:]
    problem = the_problem(write(tmp_path / "no-claims.csv", rows))
    assert "cannot say which episodes differ" in problem.message


def test_a_false_tool_count_is_rejected(oracle_file, tmp_path):
    path = edited(oracle_file, tmp_path, set_cell("tool_calls", "0", index=2))
    problem = the_problem(path)
    assert "claimed tool_calls 0, the replay has 1" in problem.message


def test_the_episode_must_end_exactly_at_its_last_row(oracle_file, tmp_path):
    rows = records(oracle_file)
    header = header_of(rows)
    first = rows.index(header) + 1  # the oracle's call; the next row answers
    # The claims move to the new last row, where they belong.
    extra = [*rows[first + 1][:3], "2", "<answer>again</answer>", *rows[first + 1][5:]]
    rows[first + 1][5:] = ["", "", ""]
    after = write(tmp_path / "after.csv", [*rows[: first + 2], extra, *rows[first + 2 :]])
    problem = problems(after)[0]
    assert "ended with its answer at turn 1" in problem.message and problem.row == first + 3
    rows = records(oracle_file)
    short = write(tmp_path / "short.csv", [*rows[: first + 1], *rows[first + 2 :]])
    problem = problems(short)[0]
    assert "does not end at its last row" in problem.message and problem.row == first + 1


def test_a_board_that_cannot_render_the_frozen_bytes_refuses_to_verify(oracle_file, monkeypatch):
    import iapo_bench.leaderboard.submission.replay as replay

    monkeypatch.setattr(
        replay, "env_mismatches", lambda families: {CHART: {"pillow": ["10.0", "11.0"]}}
    )
    with pytest.raises(EnvMismatchError, match="cannot replay"):
        verify_submission(oracle_file, allow_partial=True)


def test_a_message_the_env_cut_replays_as_the_env_kept_it(tmp_path):
    # The env reads 32,768 characters and keeps a longer message cut, with a marker: the
    # record holds a little more than the limit, and its replay is cut the same way.
    policy = Scripted(["x" * 40_000, "<answer>1</answer>"])
    evaluate([CHART], [policy], tmp_path / "run", limit=1).close()
    export_submission(tmp_path / "run", tmp_path / "s.csv")
    verdict = verify_submission(tmp_path / "s.csv", allow_partial=True)
    assert verdict.status == "verified", [str(p) for p in verdict.problems]
    assert verdict.episodes[0].parse_errors == {"too_long": 1}
    action = records(tmp_path / "s.csv")[-2][4]
    assert 32_768 < len(action) < 32_768 + Limits().action_slack


def test_a_summary_is_accepted_unverified(run_dir):
    verdict = verify_submission(run_dir / "summary.csv")
    assert verdict.status == "unverified" and verdict.kind == "summary"
    assert {(r["agent"], r["env_id"]) for r in verdict.summary} == {
        (a, e) for a in ("oracle", "random") for e in (CHART, SEARCH)
    }
    assert not verdict.episodes

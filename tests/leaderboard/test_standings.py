import csv
import io
import json
import math

import pytest

from iapo_bench.baselines import make_agent
from iapo_bench.envs import family_for_env_id
from iapo_bench.leaderboard import evaluate
from iapo_bench.leaderboard.board import Board
from iapo_bench.leaderboard.records import EpisodeRecord
from iapo_bench.leaderboard.standings import LEADERBOARD_COLUMNS, build_leaderboard
from iapo_bench.leaderboard.submission import export_submission

CHART = "ToolUse-Chart-v0"
SEARCH = "ToolUse-ImageSearch-v0"


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory):
    """oracle and random on the first 4 chart tasks, twice each (so pass@2 means something)."""
    out = tmp_path_factory.mktemp("run")
    evaluate([CHART], [make_agent("oracle"), make_agent("random")], out, limit=4, repeats=2).close()
    return out


@pytest.fixture(scope="module")
def files(run_dir, tmp_path_factory):
    folder = tmp_path_factory.mktemp("files")
    for agent in ("oracle", "random"):
        export_submission(run_dir, folder / f"{agent}.csv", agent=agent, submitter="Ada")
    return folder


def test_the_leaderboard_merges_runs_and_the_board(run_dir, files, tmp_path):
    board = Board(tmp_path / "board")
    board.submit(files / "oracle.csv", allow_partial=True)
    result = build_leaderboard([run_dir], board, resamples=500)
    rows = {(s.label, s.status): s for s in result.standings}
    # The run's oracle is the submission's episodes: shown once, as verified.
    assert set(rows) == {("oracle", "verified"), ("random", "local")}
    assert any("oracle left out, its episodes are on the board" in n for n in result.notes)
    oracle, random = rows["oracle", "verified"], rows["random", "local"]
    assert (oracle.rank, random.rank) == (1, 2)
    assert (oracle.score, oracle.ci95_low, oracle.ci95_high) == (1.0, 1.0, 1.0)
    assert (oracle.episodes, oracle.tasks, oracle.repeats) == (8, 4, 2)
    assert oracle.submitter == "Ada" and oracle.source.startswith("board:")
    assert oracle.solved_rate == oracle.pass_at_k == oracle.pass_hat_k == 1.0
    assert random.score == 0.0 and random.pass_at_k == 0.0
    assert 0 < random.tool_call_rate <= 1 and random.coverage == 4 / 500
    assert list(result.table().columns) == list(LEADERBOARD_COLUMNS)
    (pair,) = result.comparisons
    assert (pair.a, pair.b, pair.comparison.tasks) == ("oracle", "random", 4)
    assert pair.comparison.difference.estimate == 1.0 and pair.comparison.separated


def test_pass_at_k_over_repeats_on_the_board(tmp_path):
    # Random answers, 3 repeats of 6 chart tasks: the statistics come from the episodes.
    evaluate([CHART], [make_agent("random")], tmp_path / "r", limit=6, repeats=3).close()
    (standing,) = build_leaderboard([tmp_path / "r"], resamples=200).standings
    assert standing.repeats == 3 and standing.episodes == 18
    assert standing.pass_hat_k <= standing.solved_rate <= standing.pass_at_k


def test_what_does_not_belong_is_left_out_with_a_note(tmp_path):
    oracle = make_agent("oracle")
    evaluate([CHART], [oracle], tmp_path / "val", split="validation", limit=2).close()
    evaluate([CHART], [oracle], tmp_path / "rubric", limit=2, rubric="exact_match:2").close()
    result = build_leaderboard([tmp_path / "val", tmp_path / "rubric"])
    assert not result.standings
    assert any("validation split" in n for n in result.notes)
    assert any("rubric 'exact_match:2'" in n for n in result.notes)


def test_a_stale_submission_is_left_out(files, tmp_path):
    board = Board(tmp_path / "board")
    receipt = board.submit(files / "random.csv", allow_partial=True)
    path = receipt.folder / "verdict.json"
    verdict = json.loads(path.read_text())
    verdict["manifest"]["env_version_hashes"][CHART] = "0123456789abcdef"
    path.write_text(json.dumps(verdict))
    result = build_leaderboard([], board)
    assert not result.standings and "another version of the env" in result.notes[0]


def hostile_summary(run_dir, tmp_path, agent):
    rows = list(csv.reader(io.StringIO((run_dir / "summary.csv").read_text())))
    rows[1][0] = agent
    path = tmp_path / "hostile.csv"
    with open(path, "w", newline="") as handle:
        csv.writer(handle).writerows(rows[:2])
    return path


def test_the_leaderboard_files_neutralise_what_submitters_write(run_dir, tmp_path):
    board = Board(tmp_path / "board")
    name = '=HYPERLINK("http://x")|<b>*x*</b>'
    assert board.submit(hostile_summary(run_dir, tmp_path, name)).accepted
    result = build_leaderboard([], board, resamples=100)
    written = result.write(tmp_path / "out")
    assert {p.name for p in written} >= {"leaderboard.csv", "leaderboard.md", "index.html"}
    table = list(csv.reader(io.StringIO((tmp_path / "out" / "leaderboard.csv").read_text())))
    assert table[0] == list(LEADERBOARD_COLUMNS)
    agent = table[1][LEADERBOARD_COLUMNS.index("agent")]
    assert agent == "'" + name  # a spreadsheet shows it as text
    markdown = (tmp_path / "out" / "leaderboard.md").read_text()
    line = next(x for x in markdown.splitlines() if "HYPERLINK" in x)
    assert r'=HYPERLINK("http://x")\|\<b\>\*x\*\</b\>' in line  # no markup, no HTML
    assert line.count(" | ") == 14  # the name's pipe does not open a 16th cell
    (standing,) = result.standings
    assert standing.status == "unverified" and math.isnan(standing.pass_at_k)
    assert standing.tasks is None and math.isnan(standing.coverage)


# --- the same episodes are listed once (matched per agent and env) ----------------------------


def oracle_runs(folder):
    """The oracle on the first 2 tasks of chart alone, and of chart and search together."""
    evaluate([CHART], [make_agent("oracle")], folder / "chart", limit=2).close()
    evaluate([CHART, SEARCH], [make_agent("oracle")], folder / "both", limit=2).close()
    for run in ("chart", "both"):
        export_submission(folder / run, folder / f"{run}.csv")
    return folder


def test_a_submission_of_some_of_a_runs_envs_matches_those_envs(tmp_path):
    oracle_runs(tmp_path)
    board = Board(tmp_path / "board")
    board.submit(tmp_path / "chart.csv", allow_partial=True)
    result = build_leaderboard([tmp_path / "both"], board, resamples=100)
    # The run's chart episodes are the submission's: listed once, verified; search stays local.
    assert [(s.env_id, s.status) for s in result.standings] == [
        (CHART, "verified"),
        (SEARCH, "local"),
    ]
    (note,) = result.notes
    assert f"oracle on {CHART} left out, its episodes are on the board (board:" in note


def test_a_run_of_some_of_a_submissions_envs_is_matched_too(tmp_path):
    oracle_runs(tmp_path)
    board = Board(tmp_path / "board")
    board.submit(tmp_path / "both.csv", allow_partial=True)
    result = build_leaderboard([tmp_path / "chart"], board, resamples=100)
    assert [(s.env_id, s.status) for s in result.standings] == [
        (CHART, "verified"),
        (SEARCH, "verified"),
    ]
    (note,) = result.notes  # all of the run's episodes: the agent is named alone
    assert "oracle left out, its episodes are on the board (board:" in note


def test_two_submissions_sharing_one_envs_episodes_show_them_once(tmp_path):
    # The board stores whole files once; the leaderboard shows one env's episodes once.
    oracle_runs(tmp_path)
    board = Board(tmp_path / "board")
    for run in ("both", "chart"):
        assert board.submit(tmp_path / f"{run}.csv", allow_partial=True).accepted
    result = build_leaderboard([], board, resamples=100)
    assert sorted(s.env_id for s in result.standings) == [CHART, SEARCH]
    (note,) = result.notes
    assert f"on {CHART} left out, the same episodes are on the board as board:" in note


def test_a_board_stored_before_env_hashes_were_kept_still_matches(tmp_path):
    oracle_runs(tmp_path)
    board = Board(tmp_path / "board")
    receipt = board.submit(tmp_path / "chart.csv", allow_partial=True)
    path = receipt.folder / "verdict.json"
    verdict = json.loads(path.read_text())
    assert all(env.pop("content_hash") for env in verdict["envs"])
    path.write_text(json.dumps(verdict))
    result = build_leaderboard([tmp_path / "both"], board, resamples=100)
    assert [(s.env_id, s.status) for s in result.standings] == [
        (CHART, "verified"),
        (SEARCH, "local"),
    ]


# --- the score, its interval and the solved rate are over the same unit: tasks -----------------


class SolvesOne:
    """The oracle on one task; a wrong answer on every other."""

    name = "solves-one"

    def __init__(self, task_id):
        self.task_id = task_id
        self.oracle = make_agent("oracle")

    def act(self, observations, infos):
        messages = self.oracle.act(observations, infos)
        wrong = "<answer>not a value</answer>"
        return [
            m if i["task_id"] == self.task_id else wrong
            for m, i in zip(messages, infos, strict=True)
        ]


def test_the_score_is_a_mean_over_tasks_like_its_interval_and_solved_rate(tmp_path):
    first, second = family_for_env_id(CHART).frozen_test_list().task_ids[:2]
    run = tmp_path / "run"
    evaluate([CHART], [SolvesOne(first)], run, limit=2, repeats=2).close()
    # Stopped before the second task's second repeat was recorded: the first task has 2
    # episodes (solved), the second 1 (failed): 2/3 of the episodes, 1/2 of the tasks.
    path = run / "episodes.jsonl"
    records = [EpisodeRecord.model_validate_json(x) for x in path.read_text().splitlines()]
    assert {(r.task_id, r.repeat, r.score) for r in records} == {
        (first, 0, 1.0),
        (first, 1, 1.0),
        (second, 0, 0.0),
        (second, 1, 0.0),
    }
    kept = [r for r in records if (r.task_id, r.repeat) != (second, 1)]
    path.write_text("".join(r.model_dump_json() + "\n" for r in kept))
    (standing,) = build_leaderboard([run], resamples=500).standings
    assert (standing.episodes, standing.tasks, standing.repeats) == (3, 2, 1)
    assert standing.score == standing.solved_rate == 0.5
    assert (standing.ci95_low, standing.ci95_high) == (0.0, 1.0)  # around 0.5, not 2/3

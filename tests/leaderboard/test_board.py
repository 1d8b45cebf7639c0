import csv
import io
import json
import math

import pytest

from iapo_bench.baselines import make_agent
from iapo_bench.leaderboard import evaluate
from iapo_bench.leaderboard.board import LEADERBOARD_COLUMNS, Board, build_leaderboard
from iapo_bench.leaderboard.submission import export_submission

CHART = "ToolUse-Chart-v0"


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


def snapshot(folder):
    """Every file under ``folder`` with its bytes (and every folder), to compare exactly."""
    if not folder.exists():
        return None
    return {
        str(p.relative_to(folder)): p.read_bytes() if p.is_file() else None
        for p in folder.rglob("*")
    }


def tampered(source, target):
    text = source.read_text("utf-8")
    target.write_text(text.replace("<answer>", "<answer>9", 1), encoding="utf-8")
    return target


def test_an_accepted_file_is_stored_once(files, tmp_path):
    board = Board(tmp_path / "board")
    receipt = board.submit(files / "oracle.csv", allow_partial=True)
    assert receipt.accepted and not receipt.duplicate
    assert receipt.verdict.status == "verified"
    stored = board.submissions()
    assert [s.id for s in stored] == [receipt.submission_id]
    assert stored[0].manifest.agent == "oracle" and stored[0].file_name == "oracle.csv"
    assert len(board.episodes(receipt.submission_id)) == 8  # 4 tasks x 2 repeats
    assert sorted(p.name for p in receipt.folder.iterdir()) == [
        "episodes.jsonl",
        "submission.csv",
        "verdict.json",
    ]
    before = snapshot(tmp_path / "board")
    again = board.submit(files / "oracle.csv", allow_partial=True)
    assert again.duplicate and again.accepted and again.submission_id == receipt.submission_id
    assert snapshot(tmp_path / "board") == before


def test_the_same_actions_under_another_name_are_a_duplicate(files, tmp_path):
    board = Board(tmp_path / "board")
    board.submit(files / "oracle.csv", allow_partial=True)
    renamed = tmp_path / "renamed.csv"
    text = (files / "oracle.csv").read_text("utf-8")
    renamed.write_text(text.replace("#agent,,oracle", "#agent,,my-agent"), encoding="utf-8")
    assert board.submit(renamed, allow_partial=True).duplicate
    assert len(board.submissions()) == 1


def test_a_rejected_file_changes_nothing(files, tmp_path):
    board_dir = tmp_path / "board"
    board = Board(board_dir)
    # A board that does not exist yet is not created by a rejection.
    bad = tampered(files / "oracle.csv", tmp_path / "bad.csv")
    receipt = board.submit(bad, allow_partial=True)
    assert not receipt.accepted and receipt.verdict.problems
    assert not board_dir.exists()
    # An existing board keeps every byte: a validation failure, and a replay failure.
    board.submit(files / "random.csv", allow_partial=True)
    before = snapshot(board_dir)
    assert not board.submit(files / "oracle.csv").accepted  # partial without --allow-partial
    assert not board.submit(tmp_path / "bad.csv", allow_partial=True).accepted
    assert snapshot(board_dir) == before


def test_a_summary_is_stored_as_unverified(run_dir, tmp_path):
    board = Board(tmp_path / "board")
    receipt = board.submit(run_dir / "summary.csv")
    assert receipt.accepted and receipt.verdict.status == "unverified"
    (stored,) = board.submissions()
    assert stored.status == "unverified" and stored.kind == "summary"
    assert {r["agent"] for r in stored.summary} == {"oracle", "random"}
    assert sorted(p.name for p in receipt.folder.iterdir()) == ["submission.csv", "verdict.json"]


def test_an_interrupted_submission_is_ignored(files, tmp_path):
    board = Board(tmp_path / "board")
    board.submit(files / "random.csv", allow_partial=True)
    (tmp_path / "board" / "submissions" / ".incoming-0123-99").mkdir()
    assert len(board.submissions()) == 1


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


def test_a_damaged_board_is_named(files, tmp_path):
    board = Board(tmp_path / "board")
    receipt = board.submit(files / "random.csv", allow_partial=True)
    (receipt.folder / "verdict.json").write_text("{")
    with pytest.raises(ValueError, match="is not a stored submission"):
        board.submissions()


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

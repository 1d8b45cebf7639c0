import pytest

from iapo_bench.baselines import make_agent
from iapo_bench.leaderboard import evaluate
from iapo_bench.leaderboard.board import Board
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


def test_a_damaged_board_is_named(files, tmp_path):
    board = Board(tmp_path / "board")
    receipt = board.submit(files / "random.csv", allow_partial=True)
    (receipt.folder / "verdict.json").write_text("{")
    with pytest.raises(ValueError, match="is not a stored submission"):
        board.submissions()


def test_each_envs_content_hash_is_kept_in_the_verdict(files, tmp_path):
    from iapo_bench.leaderboard.submission import read_submission

    board = Board(tmp_path / "board")
    receipt = board.submit(files / "oracle.csv", allow_partial=True)
    (stored,) = board.submissions()
    parsed, _ = read_submission(files / "oracle.csv", allow_partial=True)
    assert board.env_hashes(stored) == parsed.env_hashes == {CHART: parsed.content_hash}
    assert [e.content_hash for e in receipt.verdict.envs] == [parsed.content_hash]


def test_the_standings_names_are_still_importable_from_here():
    import iapo_bench.leaderboard.board as board
    from iapo_bench.leaderboard import standings

    for name in ("LEADERBOARD_COLUMNS", "SOLVED", "Leaderboard", "PairedResult", "Standing"):
        assert getattr(board, name) is getattr(standings, name)
    assert board.build_leaderboard is standings.build_leaderboard
    with pytest.raises(AttributeError, match="no attribute 'nothing'"):
        board.nothing  # noqa: B018

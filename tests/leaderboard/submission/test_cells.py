import math

from iapo_bench.leaderboard import evaluate
from iapo_bench.leaderboard.submission import (
    escape_cell,
    export_submission,
    unescape_cell,
    verify_submission,
)
from tests.leaderboard.submission.files import CHART, Scripted, records


def test_formula_like_messages_are_escaped_and_replay_exactly(tmp_path):
    messages = ['=HYPERLINK("http://x")', "-1+2", "@SUM(A1)", "\tx", "'=x", "<answer>1</answer>"]
    evaluate([CHART], [Scripted(messages)], tmp_path / "run", limit=2, max_turns=6).close()
    path = tmp_path / "s.csv"
    export_submission(tmp_path / "run", path)
    written = [r[4] for r in records(path)[-6:]]
    assert written == [escape_cell(m) for m in messages]
    assert written[:5] == ['\'=HYPERLINK("http://x")', "'-1+2", "'@SUM(A1)", "'\tx", "''=x"]
    verdict = verify_submission(path, allow_partial=True)
    assert verdict.status == "verified" and verdict.episodes[0].turns == 6
    for message in messages:
        assert unescape_cell(escape_cell(message)) == message
        assert escape_cell(message)[:1] not in "=+-@\t\r"


def test_csv_cells_are_exact_and_inert():
    from iapo_bench.leaderboard.submission.cells import csv_cell

    assert [csv_cell(v) for v in (None, math.nan, 0.1 + 0.2, 3, True)] == [
        "",
        "",
        "0.30000000000000004",  # repr: reads back as the same float
        "3",
        "True",
    ]
    assert csv_cell("=1+1") == "'=1+1" and unescape_cell(csv_cell("=1+1")) == "=1+1"

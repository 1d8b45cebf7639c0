import pytest

from iapo_bench.envs import family_for_env_id
from iapo_bench.leaderboard.submission import Limits, read_submission, verify_submission
from tests.leaderboard.submission.files import (
    CHART,
    SEARCH,
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

# --- coverage of the frozen test lists -------------------------------------------------------


def test_without_allow_partial_every_task_of_the_list_is_needed(oracle_file):
    found = verify_submission(oracle_file).problems
    assert len(found) == 2  # chart and search
    assert "497 of the 500 tasks of the frozen test list are missing" in found[0].message
    assert found[0].column == "task_id"


def test_a_partial_file_must_cover_a_prefix_of_the_list(oracle_file, tmp_path):
    rows = records(oracle_file)
    second = family_for_env_id(CHART).frozen_test_list().task_ids[1]
    path = write(tmp_path / "gap.csv", [r for r in rows if r[1] != second])
    problem = the_problem(path)
    assert "1 of the 3 tasks" in problem.message and second in problem.message


# --- encoding and size ----------------------------------------------------------------------------


def test_a_utf8_byte_order_mark_is_read(oracle_file, tmp_path):
    path = tmp_path / "bom.csv"
    path.write_bytes(b"\xef\xbb\xbf" + oracle_file.read_bytes())
    assert verify_submission(path, allow_partial=True).status == "verified"


def test_utf16_is_refused(oracle_file, tmp_path):
    text = oracle_file.read_text("utf-8")
    with_bom = tmp_path / "utf16.csv"
    with_bom.write_bytes(text.encode("utf-16"))
    problem = the_problem(with_bom)
    assert "UTF-16" in problem.message and problem.line == 1
    without = tmp_path / "utf16le.csv"
    without.write_bytes(text.encode("utf-16-le"))
    assert "NUL" in the_problem(without).message


def test_invalid_utf8_and_nul_are_refused_with_their_line(oracle_file, tmp_path):
    data = oracle_file.read_bytes()
    lines = data.split(b"\n")
    lines[3] = lines[3] + b"\xff"
    bad = tmp_path / "latin.csv"
    bad.write_bytes(b"\n".join(lines))
    problem = the_problem(bad)
    assert "not UTF-8" in problem.message and problem.line == 4
    lines[3] = lines[3][:-1] + b"\x00"
    nul = tmp_path / "nul.csv"
    nul.write_bytes(b"\n".join(lines))
    problem = the_problem(nul)
    assert "NUL" in problem.message and problem.line == 4


def test_size_limits(oracle_file):
    assert (
        "over the limit of 100"
        in the_problem(oracle_file, limits=Limits(max_file_bytes=100)).message
    )
    assert (
        "12 action rows, over the limit of 2"
        in the_problem(oracle_file, limits=Limits(max_rows=2)).message
    )


def test_an_action_longer_than_the_env_reads_is_refused(oracle_file, tmp_path):
    def change(rows):
        header = header_of(rows)
        rows[rows.index(header) + 1][header.index("action")] = "x" * 40_000

    problem = the_problem(edited(oracle_file, tmp_path, change))
    assert problem.column == "action" and "40000 characters" in problem.message


def test_malformed_csv_and_other_files(oracle_file, tmp_path):
    broken = tmp_path / "broken.csv"
    broken.write_text(oracle_file.read_text("utf-8") + 'x,"unterminated\n', encoding="utf-8")
    assert "malformed CSV" in the_problem(broken).message
    other = write(tmp_path / "other.csv", [["name", "value"], ["a", "1"]])
    problem = the_problem(other)
    assert "not a submission" in problem.message and problem.row == 1
    empty = tmp_path / "empty.csv"
    empty.write_text("\n\n")
    assert "empty" in the_problem(empty).message


# --- the manifest ---------------------------------------------------------------------------------

MANIFEST_CASES = [
    # (what is done to the manifest, the problem's column, words of its message)
    (lambda r: r.insert(1, ["#colour", "", "blue"]), "field", "unknown manifest field 'colour'"),
    (lambda r: r.insert(1, ["#agent", "", "again"]), "field", "agent is given twice"),
    (lambda r: r.pop(find(r, "#agent")), "field", "the manifest has no agent"),
    (lambda r: set_manifest(r, "agent", " "), "value", "must not be empty"),
    (lambda r: set_manifest(r, "agent", "a\nb"), "value", "control character"),
    (lambda r: set_manifest(r, "agent", "a" * 201), "value", "over the limit of 200"),
    (lambda r: set_manifest(r, "format", "csv/9"), "value", "unsupported format 'csv/9'"),
    (lambda r: set_manifest(r, "date", "yesterday"), "value", "ISO 8601"),
    (lambda r: set_manifest(r, "max_turns", "four"), "value", "whole number from 2 to 16"),
    (lambda r: set_manifest(r, "max_turns", "99"), "value", "must be from 2 to 16, got 99"),
    (lambda r: r.insert(1, ["#model", CHART, "m"]), "env_id", "model is run-wide"),
    (lambda r: r.insert(1, ["#claimed_score", "", "1"]), "env_id", "per env: give the env id"),
    (lambda r: r.insert(1, ["#agent"]), "field", "a manifest row has 3 cells"),
    (lambda r: r[1].append("extra"), "cell 4", "a manifest row has 3 cells"),
    (
        lambda r: r.insert(1, ["#claimed_score", "ToolUse-Nope-v0", "1"]),
        "env_id",
        "unknown env id 'ToolUse-Nope-v0'",
    ),
    (
        lambda r: set_manifest(r, "env_version_hash", "0123456789abcdef", CHART),
        "value",
        "stale or unknown env_version_hash for ToolUse-Chart-v0",
    ),
    (
        lambda r: set_manifest(r, "test_list_hash", "beef", CHART),
        "value",
        "stale or unknown test_list_hash for ToolUse-Chart-v0",
    ),
    (
        lambda r: r.pop(find(r, "#test_list_hash")),
        "field",
        "ToolUse-Chart-v0 has no test_list_hash",
    ),
    (lambda r: set_manifest(r, "claimed_score", "high", CHART), "value", "must be a number"),
    (lambda r: set_manifest(r, "claimed_score", "nan", CHART), "value", "finite number"),
]


@pytest.mark.parametrize(("change", "column", "words"), MANIFEST_CASES)
def test_every_manifest_problem_is_named_with_its_row_and_cell(
    oracle_file, tmp_path, change, column, words
):
    rows = records(oracle_file)
    change(rows)
    path = write(tmp_path / "bad.csv", rows)
    problem = the_problem(path)
    assert words in problem.message and problem.column == column
    assert problem.row is not None and 1 <= problem.row <= len(rows)


def test_a_manifest_without_envs_or_rows(oracle_file, tmp_path):
    rows = records(oracle_file)
    no_envs = [r for r in rows if r[0] not in ("#env_version_hash", "#test_list_hash")]
    no_envs = [r for r in no_envs if r[0] != "#claimed_score"]
    assert "names no env" in the_problem(write(tmp_path / "a.csv", no_envs[:7])).message
    manifest_only = [r for r in rows if r[0].startswith("#")]
    assert (
        "not followed by a header" in the_problem(write(tmp_path / "b.csv", manifest_only)).message
    )
    declared_only = [r for r in rows if r[0] != SEARCH]
    problem = the_problem(write(tmp_path / "c.csv", declared_only))
    assert (
        "ToolUse-ImageSearch-v0 is declared in the manifest but has no action rows"
        in problem.message
    )


# --- the header and the rows ----------------------------------------------------------------------

ROW_CASES = [
    (set_cell("env_id", "ToolUse-OCR-v0"), "env_id", "is not declared in the manifest"),
    (set_cell("env_id", "ToolUse-Nope-v0"), "env_id", "'ToolUse-Nope-v0' is unknown"),
    (set_cell("task_id", "chart/v0/test/2000000000"), "task_id", "malformed task id"),
    (set_cell("task_id", "chart/v0/train/d0/5"), "task_id", "is not on the frozen test list"),
    (set_cell("task_id", "search/v0/test/d0/2000000000"), "task_id", "not on the frozen test"),
    (set_cell("repeat", "-1"), "repeat", "whole number from 0 to 15"),
    (set_cell("repeat", "16"), "repeat", "must be from 0 to 15, got 16"),
    (set_cell("turn", "4"), "turn", "must be from 0 to 3, got 4"),
    (set_cell("turn", "1.0"), "turn", "whole number"),
    (set_cell("score", "one", index=2), "score", "must be a number"),
    (set_cell("tool_calls", "2.5", index=2), "tool_calls", "whole number"),
    (set_cell("tool_errors", "2", index=2), "tool_errors", "exceeds tool_calls"),
    (set_cell("score", "1.0", index=1), "score", "belong on the episode's last row"),
    (lambda rows: rows.append(rows[-1][:3]), None, "has 3 cells, the header has 8"),
    (lambda rows: rows[-1].append("surplus"), None, "past the header's 8 columns"),
]


@pytest.mark.parametrize(("change", "column", "words"), ROW_CASES)
def test_every_row_problem_is_named_with_its_row_and_column(
    oracle_file, tmp_path, change, column, words
):
    path = edited(oracle_file, tmp_path, change)
    found = problems(path)
    # A bad task id also leaves its episode's coverage short: the first problem is the row's.
    assert words in found[0].message and found[0].column == column, [str(p) for p in found]
    assert found[0].row is not None


def test_header_problems(oracle_file, tmp_path):
    def rename(old, new):
        def change(rows):
            header = header_of(rows)
            header[header.index(old)] = new

        return change

    found = problems(edited(oracle_file, tmp_path, rename("action", "text")))
    assert [p.message for p in found] == [
        "unknown column 'text'",
        "missing columns action (the header is: env_id, task_id, repeat, turn, action...)",
    ]
    problem = the_problem(edited(oracle_file, tmp_path, rename("score", "bonus")))
    assert "unknown column 'bonus'" in problem.message and problem.column == "bonus"
    problem = the_problem(edited(oracle_file, tmp_path, rename("score", "turn")))
    assert "column 'turn' appears twice" in problem.message


def test_duplicated_and_missing_turns(oracle_file, tmp_path):
    rows = records(oracle_file)
    header = header_of(rows)
    first = rows.index(header) + 1
    problem = the_problem(
        write(tmp_path / "dup.csv", [*rows[: first + 1], rows[first], *rows[first + 1 :]])
    )
    assert f"duplicates row {first + 1}" in problem.message and problem.row == first + 2
    gap = [*rows[:first], *rows[first + 1 :]]  # the oracle's tool call (turn 0) removed
    problem = the_problem(write(tmp_path / "gap.csv", gap))
    assert "has no row for turn 0" in problem.message and problem.column == "turn"


def test_problems_beyond_the_limit_are_counted(oracle_file, tmp_path):
    def change(rows):
        header = header_of(rows)
        for row in rows[rows.index(header) + 1 :]:
            row[header.index("repeat")] = "x"

    found = problems(edited(oracle_file, tmp_path, change), limits=Limits(max_problems=3))
    assert len(found) == 4 and found[-1].message.startswith("... and ")


# --- summary-only files ---------------------------------------------------------------------------

SUMMARY_CASES = [
    ("tool_call_rate", "1.5", "is a rate: must be from 0 to 1"),
    ("env_id", "ToolUse-Nope-v0", "unknown env id"),
    ("env_version_hash", "0123456789abcdef", "stale or unknown env_version_hash"),
    ("score", "", "must not be empty"),
    ("score", "2.0", "outside its interval"),
    ("episodes", "0", "must be from 1"),
    ("latency_mean_s", "-1", "must not be negative"),
    ("agent", "", "must not be empty"),
]


@pytest.mark.parametrize(("column", "value", "words"), SUMMARY_CASES)
def test_summary_problems(run_dir, tmp_path, column, value, words):
    rows = records(run_dir / "summary.csv")
    rows[1][rows[0].index(column)] = value
    problem = the_problem(write(tmp_path / "s.csv", rows))
    assert words in problem.message and problem.row == 2
    assert problem.column == column


def test_a_summary_row_given_twice_is_refused(run_dir, tmp_path):
    rows = records(run_dir / "summary.csv")
    problem = the_problem(write(tmp_path / "s.csv", [*rows, rows[1]]))
    assert "given twice (first on row 2)" in problem.message and problem.row == len(rows) + 1


def test_read_submission_keeps_the_manifest_and_episodes(oracle_file):
    parsed, found = read_submission(oracle_file, allow_partial=True)
    assert found == ()
    assert parsed.manifest.agent == "oracle" and parsed.manifest.submitter == "Ada"
    assert parsed.manifest.env_ids == [CHART, SEARCH]
    assert len(parsed.episodes) == 6 and all(len(e.rows) == 2 for e in parsed.episodes)

import csv
import json

import pandas as pd
import pytest

from iapo_bench.baselines import make_agent
from iapo_bench.core import PolicyFailure
from iapo_bench.envs import family_for_env_id
from iapo_bench.leaderboard import evaluate
from iapo_bench.leaderboard.provenance import EnvMismatchError
from iapo_bench.leaderboard.submission import (
    Limits,
    escape_cell,
    export_submission,
    read_submission,
    unescape_cell,
    verify_submission,
)

CHART = "ToolUse-Chart-v0"
SEARCH = "ToolUse-ImageSearch-v0"


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory):
    """A genuine run: oracle and random on the first 3 tasks of chart and search."""
    out = tmp_path_factory.mktemp("run")
    agents = [make_agent("oracle"), make_agent("random")]
    evaluate([CHART, SEARCH], agents, out, limit=3).close()
    return out


@pytest.fixture(scope="module")
def oracle_file(run_dir, tmp_path_factory):
    path = tmp_path_factory.mktemp("sub") / "oracle.csv"
    export_submission(run_dir, path, agent="oracle", submitter="Ada")
    return path


def records(path):
    """The file's CSV records (manifest, header and rows)."""
    with open(path, encoding="utf-8", newline="") as handle:
        return list(csv.reader(handle))


def write(path, rows):
    with open(path, "w", encoding="utf-8", newline="") as handle:
        csv.writer(handle).writerows(rows)
    return path


def find(rows, first, **where):
    """Index of the first record whose first cell is ``first`` (and cells named in ``where``)."""
    header = next(r for r in rows if not r[0].startswith("#"))
    for i, row in enumerate(rows):
        if row[0] == first and all(row[header.index(k)] == v for k, v in where.items()):
            return i
    raise LookupError(first)


def header_of(rows):
    return next(r for r in rows if not r[0].startswith("#"))


def edited(src, tmp_path, change):
    rows = records(src)
    change(rows)
    return write(tmp_path / "edited.csv", rows)


def problems(path, **kwargs):
    verdict = verify_submission(path, allow_partial=True, **kwargs)
    assert verdict.status == "rejected"
    return verdict.problems


def the_problem(path, **kwargs):
    found = problems(path, **kwargs)
    assert len(found) == 1, [str(p) for p in found]
    return found[0]


# --- a genuine run is accepted --------------------------------------------------------------------


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


def test_a_utf8_byte_order_mark_is_read(oracle_file, tmp_path):
    path = tmp_path / "bom.csv"
    path.write_bytes(b"\xef\xbb\xbf" + oracle_file.read_bytes())
    assert verify_submission(path, allow_partial=True).status == "verified"


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


def set_manifest(rows, field, value, env_id=None):
    for row in rows:
        if row[0] == f"#{field}" and (env_id is None or row[1] == env_id):
            row[2] = value
            return
    raise LookupError(field)


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


def set_cell(column, value, index=1):
    def change(rows):
        header = header_of(rows)
        rows[rows.index(header) + index][header.index(column)] = value

    return change


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


# --- the replay -----------------------------------------------------------------------------------


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
    import iapo_bench.leaderboard.submission as submission

    monkeypatch.setattr(
        submission, "env_mismatches", lambda families: {CHART: {"pillow": ["10.0", "11.0"]}}
    )
    with pytest.raises(EnvMismatchError, match="cannot replay"):
        verify_submission(oracle_file, allow_partial=True)


# --- formula injection and what a message may hold ------------------------------------------------


class Scripted:
    """Writes the given messages in turn, whatever it sees."""

    def __init__(self, messages, name="scripted"):
        self.messages = messages
        self.name = name

    def act(self, observations, infos):
        return [self.messages[min(info["turn"], len(self.messages) - 1)] for info in infos]


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


# --- summary-only files ---------------------------------------------------------------------------


def test_a_summary_is_accepted_unverified(run_dir):
    verdict = verify_submission(run_dir / "summary.csv")
    assert verdict.status == "unverified" and verdict.kind == "summary"
    assert {(r["agent"], r["env_id"]) for r in verdict.summary} == {
        (a, e) for a in ("oracle", "random") for e in (CHART, SEARCH)
    }
    assert not verdict.episodes


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

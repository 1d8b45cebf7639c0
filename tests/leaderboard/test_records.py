import math

import pytest

from iapo_bench.baselines import make_agent
from iapo_bench.core import ParseErrorKind
from iapo_bench.leaderboard import evaluate
from iapo_bench.leaderboard.records import (
    SUMMARY_COLUMNS,
    EpisodeRecord,
    ResultsWriter,
    read_run,
    summarize,
)


def record(agent="a", task="t0", score=1.0, **overrides):
    base = dict(
        agent=agent,
        env_id="E",
        env_version_hash="h",
        task_id=task,
        score=score,
        rewards={"exact_match": score},
        answer="1",
        reference="1",
        turns=2,
        tool_calls=1,
        tool_errors=0,
        parse_errors={},
        truncated=False,
        latency_s=0.01,
        messages=["x", "y"],
    )
    return EpisodeRecord(**(base | overrides))


def test_summary_has_the_documented_columns_in_order():
    summary = summarize([record(), record(task="t1", score=0.0)])
    assert list(summary.columns) == [*SUMMARY_COLUMNS, "reward_exact_match"]
    for kind in ParseErrorKind:
        assert f"parse_error_rate_{kind.value}" in summary.columns


def test_summary_reports_every_rubric_component_over_the_episodes_that_voted():
    summary = summarize(
        [
            record(rewards={"exact_match": 1.0, "tool_success": None, "judge.fallback": 1.0}),
            record(task="t1", rewards={"exact_match": 0.0, "tool_success": 0.5}),
            record(agent="b", rewards={"exact_match": 1.0}),
        ]
    )
    a, b = summary.iloc[0], summary.iloc[1]
    assert a["reward_exact_match"] == 0.5 and a["reward_tool_success"] == 0.5
    assert a["reward_judge.fallback"] == 1.0
    assert b["reward_exact_match"] == 1.0 and math.isnan(b["reward_tool_success"])


def test_summary_statistics():
    records = [
        record(task="t0", score=1.0, tool_calls=2, tool_errors=1, turns=3),
        record(
            task="t1",
            score=0.0,
            tool_calls=0,
            tool_errors=0,
            turns=2,
            parse_errors={"malformed_json": 1},
        ),
        record(task="t2", score=1.0, tool_calls=1, tool_errors=0, turns=1),
        record(task="t3", score=0.0, tool_calls=0, turns=2, parse_errors={"no_action": 2}),
    ]
    row = summarize(records).iloc[0]
    assert row["episodes"] == 4
    assert row["score"] == pytest.approx(0.5)
    std_error = math.sqrt(1 / 3) / 2  # sample std of [1, 0, 1, 0] over sqrt(4)
    assert row["std_error"] == pytest.approx(std_error)
    assert row["ci95_low"] == pytest.approx(0.5 - 1.96 * std_error)
    assert row["tool_call_rate"] == pytest.approx(0.5)
    assert row["tool_success_rate"] == pytest.approx(2 / 3)
    assert row["parse_error_rate_malformed_json"] == pytest.approx(1 / 8)
    assert row["parse_error_rate_no_action"] == pytest.approx(2 / 8)
    assert row["mean_turns"] == pytest.approx(2.0)
    assert math.isnan(row["tokens"])


def test_one_row_per_agent_and_env():
    summary = summarize([record("a"), record("b"), record("a", env_id="F")])
    assert sorted(zip(summary["agent"], summary["env_id"], strict=True)) == [
        ("a", "E"),
        ("a", "F"),
        ("b", "E"),
    ]


def test_writer_resumes_and_drops_a_cut_off_last_line(tmp_path):
    with ResultsWriter(tmp_path) as writer:
        writer.append(record(task="t0"))
        writer.append(record(task="t1"))
    path = tmp_path / ResultsWriter.EPISODES
    path.write_text(path.read_text() + '{"agent": "a", "env_i')  # interrupted mid-write
    with ResultsWriter(tmp_path) as writer:
        assert writer.done() == {("a", "E", "t0", 0), ("a", "E", "t1", 0)}
        writer.append(record(task="t2"))
    lines = path.read_text().splitlines()
    assert [EpisodeRecord.model_validate_json(line).task_id for line in lines] == ["t0", "t1", "t2"]


def test_writer_refuses_a_corrupt_line_in_the_middle(tmp_path):
    (tmp_path / ResultsWriter.EPISODES).write_text("garbage\n" + record().model_dump_json() + "\n")
    with pytest.raises(ValueError, match=r"episodes.jsonl:1 is not an episode record"):
        ResultsWriter(tmp_path)


# --- infrastructure errors ----------------------------------------------------------------------


def infra(task="t0", **overrides):
    return record(task=task, status="infrastructure_error", error="policy: endpoint down",
                  score=None, rewards={}, answer=None, **overrides)  # fmt: skip


def test_infrastructure_errors_are_counted_but_never_scored():
    row = summarize([record(task="t0", score=1.0), infra("t1"), infra("t2")]).iloc[0]
    assert row["episodes"] == 1 and row["infrastructure_errors"] == 2
    assert row["score"] == 1.0 and row["mean_turns"] == 2.0


def test_a_later_scored_record_supersedes_an_infrastructure_error():
    records = [infra("t0"), record(task="t1", score=0.0), record(task="t0", score=1.0)]
    row = summarize(records).iloc[0]
    assert row["episodes"] == 2 and row["infrastructure_errors"] == 0
    assert row["score"] == 0.5
    # ... and a scored record is never replaced by a later failure.
    row = summarize([record(task="t0", score=1.0), infra("t0")]).iloc[0]
    assert row["episodes"] == 1 and row["infrastructure_errors"] == 0


def test_only_infrastructure_errors_gives_an_empty_score():
    row = summarize([infra("t0")]).iloc[0]
    assert row["episodes"] == 0 and row["infrastructure_errors"] == 1 and math.isnan(row["score"])


def test_the_writer_plays_infrastructure_errors_again(tmp_path):
    with ResultsWriter(tmp_path) as writer:
        writer.append(record(task="t0"))
        writer.append(infra("t1"))
    with ResultsWriter(tmp_path) as writer:
        assert writer.done() == {("a", "E", "t0", 0)}


# --- any text an agent writes can be recorded ------------------------------------------------


@pytest.mark.parametrize(
    "text",
    ["lone \ud800 surrogate", "\udfff", "nul \x00 and \x1b[31m escapes", "x" * 200_000,
     "emoji 🎉 and pairs \U0001f600", "\ufeff bom"],
)  # fmt: skip
def test_records_survive_any_agent_text(tmp_path, text):
    with ResultsWriter(tmp_path) as writer:
        writer.append(record(messages=[text, "<answer>1</answer>"], answer=text, agent=text))
        writer.write_summary()
    with ResultsWriter(tmp_path) as reread:
        (back,) = reread.records
    assert back.messages[0] == back.answer == back.agent
    assert back.messages[0] == text.replace("\ud800", "\ufffd").replace("\udfff", "\ufffd")
    (tmp_path / ResultsWriter.EPISODES).read_text(encoding="utf-8")  # valid UTF-8 throughout


# --- output folders ---------------------------------------------------------------------------


def test_a_file_as_output_folder_gets_one_clear_error(tmp_path):
    target = tmp_path / "results.csv"
    target.write_text("x")
    with pytest.raises(ValueError, match="is a file"):
        ResultsWriter(target)
    with pytest.raises(ValueError, match="is a file"):
        ResultsWriter(target / "inside")


def test_an_unwritable_output_folder_gets_one_clear_error():
    # /sys refuses new folders even to root, as a read-only mount would.
    with pytest.raises(ValueError, match=r"cannot write results to /sys/iapo-run: Operation"):
        ResultsWriter("/sys/iapo-run")


# --- reading a run folder -----------------------------------------------------------------------


def test_read_run_reads_as_a_resume_does_and_writes_nothing(tmp_path):
    evaluate(["ToolUse-Chart-v0"], [make_agent("oracle")], tmp_path, limit=2).close()
    path = tmp_path / ResultsWriter.EPISODES
    cut = path.read_text() + '{"agent": "a", "env_i'  # interrupted mid-write
    path.write_text(cut)
    metadata, records = read_run(tmp_path)
    assert metadata.split == "test" and metadata.agents == ["oracle"]
    assert [r.score for r in records] == [1.0, 1.0]
    assert path.read_text() == cut  # only a resume drops the cut line from the file
    with ResultsWriter(tmp_path) as writer:
        assert writer.records == records
    assert path.read_text() == cut[: cut.rindex("{")]


def test_read_run_names_what_is_not_a_run(tmp_path):
    with pytest.raises(ValueError, match="is not a run folder"):
        read_run(tmp_path)
    (tmp_path / ResultsWriter.METADATA).write_text("{}")
    with pytest.raises(ValueError, match=r"metadata.json is not the metadata of a run"):
        read_run(tmp_path)
    with (
        ResultsWriter(tmp_path) as writer,
        pytest.raises(ValueError, match=r"not the metadata of a run.*choose a new output folder"),
    ):
        writer.read_metadata()

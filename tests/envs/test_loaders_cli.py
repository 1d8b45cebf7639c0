"""``iapo-bench run --source`` and the README's local-datasets example on public layouts."""

from __future__ import annotations

import json
import runpy
from pathlib import Path

import pandas as pd
import pytest
from typer.testing import CliRunner

from iapo_bench.cli import app
from iapo_bench.envs.loaders import open_source
from tests.envs.public_formats import write_chartqa, write_docvqa

runner = CliRunner()
EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


@pytest.fixture(autouse=True)
def own_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("IAPO_BENCH_CACHE", str(tmp_path / "cache"))


def test_run_on_a_source_scores_its_files_and_records_their_hash(tmp_path):
    folder = write_chartqa(tmp_path)
    out = tmp_path / "results"
    result = runner.invoke(
        app,
        ["run", "--source", f"chartqa:{folder}", "-a", "oracle", "-a", "no-tool", "-o", str(out)],
        terminal_width=200,
    )
    assert result.exit_code == 0, result.output
    summary = pd.read_csv(out / "summary.csv")
    assert set(summary.env_id) == {"ToolUse-Chart-v0"} and set(summary.episodes) == {3}
    assert summary.set_index("agent").loc["oracle", "score"] == 1.0
    metadata = json.loads((out / "metadata.json").read_text())
    source = open_source(f"chartqa:{folder}")
    assert metadata["sources"]["ToolUse-Chart-v0"] == {
        "format": "chartqa",
        "split": "test",
        "content_hash": source.content_hash,
        "files": str(len(source.files)),
        "tasks": "3",
    }
    assert "ToolUse-Chart-v0" not in metadata["test_list_hashes"]  # not scored on the list
    episodes = [json.loads(line) for line in (out / "episodes.jsonl").read_text().splitlines()]
    assert {e["task_id"] for e in episodes} == set(source.task_ids())
    assert metadata["rubric"]["ToolUse-Chart-v0"] == "relaxed_accuracy:1,exact_match:0"


def test_run_rejects_bad_sources_and_mismatched_envs(tmp_path):
    bad = runner.invoke(app, ["run", "--source", "chartqa:/no/such/folder"])
    assert bad.exit_code == 2 and "no such file or folder" in bad.output
    folder = write_chartqa(tmp_path)
    other = runner.invoke(
        app, ["run", "--source", f"chartqa:{folder}", "-e", "ToolUse-OCR-v0", "-a", "oracle"]
    )
    assert other.exit_code == 2 and "--env ToolUse-Chart-v0" in other.output


def test_local_datasets_example_scores_chartqa_and_docvqa_with_their_metrics(tmp_path, capsys):
    chartqa = write_chartqa(tmp_path / "c")
    docvqa = write_docvqa(tmp_path / "d")
    main = runpy.run_path(str(EXAMPLES / "local_datasets.py"), run_name="example")["main"]
    sources = main(
        [f"chartqa:{chartqa}", f"docvqa:{docvqa}", "--agent", "oracle", "-o", str(tmp_path / "r")]
    )
    assert set(sources) == {"ToolUse-Chart-v0", "ToolUse-OCR-v0"}
    metadata = json.loads((tmp_path / "r" / "metadata.json").read_text())
    assert metadata["rubric"]["ToolUse-OCR-v0"] == "anls:1,exact_match:0"
    summary = pd.read_csv(tmp_path / "r" / "summary.csv")
    assert list(summary.score) == [1.0, 1.0] and "reward_anls" in summary


def test_a_run_is_not_resumed_on_changed_files(tmp_path):
    folder = write_chartqa(tmp_path)
    out = tmp_path / "results"
    args = ["run", "--source", f"chartqa:{folder}", "-a", "oracle", "-o", str(out)]
    assert runner.invoke(app, args).exit_code == 0
    (folder / "test_augmented.json").write_text(
        (folder / "test_augmented.json").read_text().replace("160", "161")
    )
    again = runner.invoke(app, args, terminal_width=200)
    assert again.exit_code == 2 and "sources" in again.output

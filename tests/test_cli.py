import subprocess
import sys

import pandas as pd
import pytest
from typer.testing import CliRunner

from iapo_bench.cli import app

runner = CliRunner()


def test_run_prints_a_table_and_writes_the_results_folder(tmp_path):
    out = tmp_path / "results"
    result = runner.invoke(app, ["run", "--limit", "4", "-o", str(out)], terminal_width=200)
    assert result.exit_code == 0, result.output
    assert "iapo-bench results" in result.output
    for agent in ("oracle", "heuristic", "no-tool", "random"):
        assert agent in result.output
    assert {p.name for p in out.iterdir()} == {"episodes.jsonl", "summary.csv", "metadata.json"}
    summary = pd.read_csv(out / "summary.csv")
    # By default every agent runs on every family.
    assert set(summary.env_id) == {
        "ToolUse-Chart-v0", "ToolUse-OCR-v0", "ToolUse-ImageSearch-v0", "ToolUse-Bars-v0"
    }  # fmt: skip
    assert len(summary) == 16


def test_run_rejects_an_unknown_env_id_by_name():
    result = runner.invoke(app, ["run", "--env", "ToolUse-Nope-v0"])
    assert result.exit_code == 2
    assert "unknown env id 'ToolUse-Nope-v0'" in result.output
    assert "ToolUse-Chart-v0" in result.output


def test_run_takes_a_rubric_and_names_a_bad_one(tmp_path):
    bad = runner.invoke(app, ["run", "--rubric", "exact_match:1,bleu:2"])
    assert bad.exit_code == 2 and "unknown reward 'bleu'" in bad.output
    out = tmp_path / "r"
    spec = "exact_match:1,format_valid:0.1,tool_success:0"
    ok = runner.invoke(app, ["run", "-e", "ToolUse-OCR-v0", "-a", "oracle", "--limit", "2",
                             "--rubric", spec, "-o", str(out)])  # fmt: skip
    assert ok.exit_code == 0, ok.output
    summary = pd.read_csv(out / "summary.csv")
    assert summary["score"].iloc[0] == 1.1 and summary["reward_tool_success"].iloc[0] == 1.0


def test_run_rejects_an_unknown_agent_and_split():
    assert "unknown agent 'gpt'" in runner.invoke(app, ["run", "--agent", "gpt"]).output
    assert "split must be one of" in runner.invoke(app, ["run", "--split", "dev"]).output


def test_run_refuses_to_resume_a_different_run(tmp_path):
    runner.invoke(app, ["run", "--limit", "2", "-a", "oracle", "-o", str(tmp_path)])
    result = runner.invoke(
        app, ["run", "--limit", "2", "-a", "oracle", "--max-turns", "3", "-o", str(tmp_path)]
    )
    assert result.exit_code == 2
    assert "max_turns" in result.output


def test_envs_lists_one_line_per_id():
    result = runner.invoke(app, ["envs"])
    assert result.exit_code == 0
    assert result.output.splitlines()[0].startswith("ToolUse-Chart-v0")


def test_show_saves_images_and_prints_the_prompt(tmp_path):
    result = runner.invoke(
        app, ["show", "ToolUse-Chart-v0", "--seed", "3", "-o", str(tmp_path)], terminal_width=200
    )
    assert result.exit_code == 0, result.output
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        "chart-train-d1-3-source.png",
        "chart-train-d1-3.png",
    ]
    assert "<tools>" in result.output and "<image>" in result.output
    assert "Reference answer" in result.output


def test_show_rejects_a_bad_seed():
    result = runner.invoke(
        app, ["show", "ToolUse-Chart-v0", "--split", "test", "--seed", "5000000"]
    )
    assert result.exit_code == 2
    assert "out of range" in result.output


def test_console_script_entry_point_runs():
    out = subprocess.run(
        [sys.executable, "-m", "iapo_bench.cli", "envs"], capture_output=True, text=True, check=True
    )
    assert "ToolUse-Chart-v0" in out.stdout


def test_a_model_agent_that_cannot_load_is_a_clear_error(monkeypatch, tmp_path):
    import iapo_bench.baselines.registry as registry

    def missing(seed):
        raise ValueError('the tiny-vlm policy needs torch: pip install "iapo-bench[train]"')

    monkeypatch.setitem(registry.MODEL_AGENTS, "tiny-vlm", missing)
    result = runner.invoke(app, ["run", "--policy", "tiny-vlm", "-o", str(tmp_path)])
    assert result.exit_code == 2
    assert 'pip install "iapo-bench[train]"' in result.output  # not eaten as rich markup


def test_help_shows_extras_verbatim():
    # Rich reads "[train]" as markup and drops it unless escaped.
    result = runner.invoke(app, ["run", "--help"])
    assert result.exit_code == 0
    text = " ".join(result.output.replace("│", " ").split())  # unwrap the help panel
    assert "needs the [train] extra" in text


def test_run_evaluates_a_model_behind_an_openai_compatible_endpoint(tmp_path):
    import pytest

    pytest.importorskip("openai")
    from tests.chat_server import ChatServer, Reply

    out = tmp_path / "results"
    with ChatServer(lambda body: Reply("<answer>42</answer>")) as server:
        spec = f"openai:served-model@{server.base_url}"
        result = runner.invoke(
            app, ["run", "-a", spec, "-e", "ToolUse-OCR-v0", "--limit", "3", "-o", str(out)]
        )
        assert result.exit_code == 0, result.output
        assert server.requests == 3
    summary = pd.read_csv(out / "summary.csv")
    assert list(summary.agent) == ["openai:served-model"]
    assert summary.episodes.iloc[0] == 3


def test_run_names_a_bad_agent_spec():
    result = runner.invoke(app, ["run", "-a", "openai:m@localhost:8000"])
    assert result.exit_code == 2
    assert "must start with http:// or https://" in " ".join(result.output.split())


def test_bad_output_folders_get_one_line(tmp_path):
    target = tmp_path / "a-file"
    target.write_text("x")
    for folder in (target, "/sys/iapo-run"):
        result = runner.invoke(app, ["run", "-a", "oracle", "--limit", "1", "-o", str(folder)])
        assert result.exit_code == 2
        assert result.output.startswith("error: cannot write results to")
        assert len(result.output.strip().splitlines()) == 1, result.output
        assert "Traceback" not in result.output


def test_a_missing_model_folder_is_named():
    pytest.importorskip("transformers")  # without it the message says to install [train]
    result = runner.invoke(app, ["run", "-a", "hf:/nonexistent", "--limit", "1"])
    assert result.exit_code == 2
    assert "no such folder '/nonexistent'" in result.output


def test_no_tool_prepares_only_the_chosen_envs(tmp_path):
    from iapo_bench.baselines.scripted import _training_priors

    _training_priors.cache_clear()
    result = runner.invoke(
        app, ["run", "-e", "ToolUse-ImageSearch-v0", "-a", "no-tool", "--limit", "1",
              "-o", str(tmp_path)])  # fmt: skip
    assert result.exit_code == 0, result.output
    assert _training_priors.cache_info().currsize == 1  # search's priors, not OCR's 8 s


# --- submissions and the leaderboard -------------------------------------------------------------


def test_run_exports_a_submission_that_submit_verifies_and_stores_once(tmp_path):
    out, path, board = tmp_path / "run", tmp_path / "oracle.csv", tmp_path / "board"
    ran = runner.invoke(app, ["run", "-e", "ToolUse-Chart-v0", "-a", "oracle", "--limit", "2",
                              "-o", str(out), "--export-submission", str(path)])  # fmt: skip
    assert ran.exit_code == 0, ran.output
    assert f"Wrote the submission {path}" in ran.output and path.exists()
    args = ["submit", str(path), "--board", str(board), "--allow-partial"]
    first = runner.invoke(app, args, terminal_width=200)
    assert first.exit_code == 0, first.output
    assert "accepted as VERIFIED: oracle, 2 episodes replayed" in first.output
    assert (
        "ToolUse-Chart-v0: score 1.000 on 2/500 tasks x 1 repeat(s), claimed 1.000" in first.output
    )
    again = runner.invoke(app, args)
    assert again.exit_code == 0 and "already on the board" in again.output
    shown = runner.invoke(app, ["leaderboard", "--board", str(board), "-o", str(tmp_path / "lb")])
    assert shown.exit_code == 0, shown.output
    assert "verified" in shown.output
    assert {p.name for p in (tmp_path / "lb").iterdir()} >= {
        "index.html", "leaderboard.csv", "leaderboard.md", "scores.png"
    }  # fmt: skip


def test_submit_rejects_with_one_line_per_problem(tmp_path):
    runner.invoke(app, ["run", "-e", "ToolUse-Chart-v0", "-a", "oracle", "--limit", "2",
                        "-o", str(tmp_path / "run")])  # fmt: skip
    path = tmp_path / "s.csv"
    assert runner.invoke(app, ["export", str(tmp_path / "run"), "-o", str(path)]).exit_code == 0
    text = path.read_text().replace("#max_turns,,4", "#max_turns,,x\n#colour,,blue")
    path.write_text(text)
    board = tmp_path / "board"
    result = runner.invoke(app, ["submit", str(path), "--board", str(board)], terminal_width=60)
    assert result.exit_code == 2
    lines = result.output.strip().splitlines()  # a narrow terminal wraps none of them
    assert lines[0] == f"rejected: {path}: 2 problem(s)"
    assert lines[1].startswith("row 6, column field: unknown manifest field 'colour'; known:")
    assert lines[2] == "row 5, column value: must be a whole number from 2 to 16, got 'x'"
    assert len(lines) == 3 and not board.exists()


def test_export_and_leaderboard_errors_are_one_line(tmp_path):
    runner.invoke(app, ["run", "-e", "ToolUse-Chart-v0", "-a", "oracle", "-a", "random",
                        "--limit", "1", "-o", str(tmp_path / "run")])  # fmt: skip
    result = runner.invoke(app, ["export", str(tmp_path / "run"), "-o", str(tmp_path / "s.csv")])
    assert result.exit_code == 2 and "holds 2 agents (oracle, random)" in result.output
    assert len(result.output.strip().splitlines()) == 1
    empty = runner.invoke(app, ["leaderboard", "--board", str(tmp_path / "none")])
    assert empty.exit_code == 2 and "nothing to show" in empty.output
    bad = runner.invoke(app, ["run", "--split", "validation", "--export-submission", "x.csv"])
    assert bad.exit_code == 2 and "frozen test lists" in bad.output

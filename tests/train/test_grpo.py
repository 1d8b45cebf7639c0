"""The trainer: every method takes a step, a resume replays exactly, and GRPO learns."""

import json
import math
import shutil
import subprocess
import sys

import pandas as pd
import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("transformers")

from iapo_bench.baselines import make_agent  # noqa: E402
from iapo_bench.leaderboard import run_episodes  # noqa: E402
from iapo_bench.train.grpo import METHODS, TrainConfig, load_config, train  # noqa: E402

TINY = {
    "policy": "tiny-vlm",
    "teacher": "random:96x2",  # wider than the student, with its tokenizer
    "prompts_per_step": 1,
    "group_size": 2,
    "max_new_tokens": 48,
    "learning_rate": 1e-4,
    "micro_batch_size": 2,
    "attribution": {"steps": 4},
}


def config(tmp_path, **values) -> TrainConfig:
    return TrainConfig.model_validate({"run_dir": str(tmp_path / "run")} | TINY | values)


def weights(folder):
    from safetensors.torch import load_file

    return load_file(str(folder / "checkpoint" / "model.safetensors"))


@pytest.mark.parametrize("method", list(METHODS))
def test_every_method_takes_a_step_and_saves_a_loadable_checkpoint(tmp_path, method):
    run_dir = train(config(tmp_path, method=method, steps=1), progress=False)
    row = pd.read_csv(run_dir / "metrics.csv").iloc[0]
    for column in (
        "reward",
        "loss",
        "grad_norm",
        "kl",
        "tool_call_rate",
        "tokens_per_s",
        "time.generation_s",
        "time.update_s",
    ):
        assert math.isfinite(row[column]), column
    expected = {
        "torl": "reward.execution_penalty",
        "trm": "trm",
        "papo": "perception_kl",
        "iapo": "attribution_kl",
        "distill": "distill_kl",
    }
    if method in expected:
        assert math.isfinite(row[expected[method]]), expected[method]
    # Each method's term reaches the reward or the loss with its sign and weight. The env's
    # rubric here: relaxed accuracy, plus 0.1 x format, plus ToRL's penalty where it applies.
    settings = TrainConfig.model_validate(TINY | {"method": method})
    rubric = row["reward.relaxed_accuracy"] + 0.1 * row["reward.format_valid"]
    if method == "torl":
        rubric += row["reward.execution_penalty"]
    terms = 0.0
    if method == "trm":
        terms = settings.trm_weight * row["trm"]
    if method == "iapo":
        terms = -settings.attribution.penalty_weight * row["attribution_kl"]
    assert row["reward"] == pytest.approx(rubric + terms, abs=1e-6)
    extra = row["loss"] - row["loss_policy"]
    if method == "distill":
        assert extra == pytest.approx(settings.distill_beta * row["distill_kl"], rel=1e-4)
    elif method == "papo":
        expected_extra = -settings.papo_gamma * row["perception_kl"] + settings.papo_eta * (
            row["entropy"] + row["masked_entropy"]
        )
        assert extra == pytest.approx(expected_extra, rel=1e-4, abs=1e-7)
    else:
        assert extra == 0.0
    # The checkpoint loads as an agent, with no conversion, and plays an episode.
    agent = make_agent(f"hf:{run_dir}/checkpoint")
    (record,) = run_episodes("ToolUse-Chart-v0", agent, ["chart/v0/test/d1/2000000001"])
    assert record.turns >= 1


def test_a_resumed_run_takes_exactly_the_step_the_uninterrupted_one_took(tmp_path):
    straight = train(config(tmp_path / "a", steps=2), progress=False)
    first = train(config(tmp_path / "b", steps=1), progress=False)
    resumed = train(config(tmp_path / "b", steps=2), progress=False)  # may run longer
    assert first == resumed
    expected, got = weights(straight), weights(resumed)
    assert expected.keys() == got.keys()
    assert all(torch.equal(expected[k], got[k]) for k in expected)

    def measured(frame):  # everything but the clock
        return frame.drop(
            columns=[c for c in frame if c.startswith("time.") or c == "tokens_per_s"]
        )

    a, b = (pd.read_csv(run / "metrics.csv") for run in (straight, resumed))
    pd.testing.assert_frame_equal(measured(a), measured(b))


def test_resuming_under_another_config_is_refused(tmp_path):
    train(config(tmp_path, steps=1), progress=False)
    with pytest.raises(ValueError, match="another config"):
        train(config(tmp_path, steps=2, learning_rate=1e-3), progress=False)


def test_lora_trains_adapters_and_saves_a_merged_checkpoint(tmp_path):
    # With IAPO: attribution runs on the LoRA-wrapped policy too.
    run_dir = train(config(tmp_path, steps=1, lora_rank=4, method="iapo"), progress=False)
    assert math.isfinite(pd.read_csv(run_dir / "metrics.csv").iloc[0]["attribution_kl"])
    assert (run_dir / "checkpoint" / "adapter" / "adapter_config.json").exists()
    merged = weights(run_dir)
    assert not any("lora" in name for name in merged)
    agent = make_agent(f"hf:{run_dir}/checkpoint")
    assert agent.model.config.text_config.hidden_size == 64


def test_bad_configs_name_the_field(tmp_path):
    path = tmp_path / "bad.toml"
    path.write_text('steps = -1\nmethod = "grpo"\nnope = 3\n')
    with pytest.raises(ValueError, match=r"steps: .*greater than or equal to 1 \(got -1\); nope"):
        load_config(path)
    with pytest.raises(ValueError, match="method 'iapo' needs a teacher"):
        TrainConfig(method="iapo")
    path.write_text("steps = 2\n[attribution]\nsteps = 0\n")
    with pytest.raises(ValueError, match=r"attribution\.steps"):
        load_config(path)


def test_the_shipped_recipe_configs_are_valid():
    from importlib import resources

    folder = resources.files("iapo_bench.train").joinpath("configs")
    names = sorted(p.name for p in folder.iterdir() if p.name.endswith(".toml"))
    assert {"teacher_grpo.toml", "student_grpo.toml", "iapo.toml"} <= set(names)
    for name in names:
        load_config(folder / name)


@pytest.mark.slow
def test_a_short_grpo_run_raises_the_reward_of_a_trivially_learnable_task(tmp_path):
    # The reward penalises calling tools, which the warm-started tiny VLM does more often than
    # not: GRPO must teach it to answer directly. Measured with these seeds: -0.56, ... 0.0.
    values = {
        "steps": 10,
        "prompts_per_step": 4,
        "group_size": 4,
        "rubric": "tool_call:-1",
        "learning_rate": 1e-3,
        "beta": 0.0,
        "micro_batch_size": 8,
        "save_every": 100,
    }
    run_dir = train(config(tmp_path, **values), progress=False)
    rewards = pd.read_csv(run_dir / "metrics.csv")["reward"].tolist()
    assert sum(rewards[-3:]) / 3 > sum(rewards[:2]) / 2 + 0.2, rewards


@pytest.mark.slow
def test_two_cpu_processes_under_accelerate_end_with_equal_parameters(tmp_path):
    # PAPO's loss term runs through the DDP-wrapped model too.
    pytest.importorskip("accelerate")
    path = tmp_path / "ddp.toml"
    path.write_text(
        f'run_dir = "{tmp_path / "ddp"}"\nsteps = 1\npolicy = "tiny-vlm"\nprompts_per_step = 2\n'
        'group_size = 4\nmax_new_tokens = 48\nlearning_rate = 1e-3\nrubric = "tool_call:-1"\n'
        'method = "papo"\n'
    )
    # accelerate 1.x's --cpu picks its single-process (or MPI) launcher; --multi_gpu picks
    # torch.distributed's, which on a machine without GPUs runs our Accelerator on the CPU
    # with the gloo backend: two real DDP processes.
    command = [
        sys.executable,
        "-m",
        "accelerate.commands.launch",
        "--multi_gpu",
        "--num_processes",
        "2",
        "--num_machines",
        "1",
        "--mixed_precision",
        "no",
        "--dynamo_backend",
        "no",
        "-m",
        "iapo_bench.train",
        "--config",
        str(path),
    ]
    done = subprocess.run(command, capture_output=True, text=True, timeout=600, check=False)
    assert done.returncode == 0, done.stderr[-3000:]
    ranks = [json.loads((tmp_path / "ddp" / "ranks" / f"rank{r}.json").read_text()) for r in (0, 1)]
    assert ranks[0]["parameters"] == ranks[1]["parameters"]
    from iapo_bench.models.load import load_vlm, state_fingerprint

    assert ranks[0]["parameters"] != state_fingerprint(load_vlm("tiny-vlm")[0])  # an update
    shutil.rmtree(tmp_path / "ddp")

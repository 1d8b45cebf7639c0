"""Cost of a training step on the CPU: every method over GRPO, and our GRPO over TRL's.

Each step is the trainer's own (:func:`iapo_bench.train.grpo.train`, one step in a fresh run
folder), timed by the trainer itself: ``time.<phase>_s`` of its ``metrics.csv``, split into
generation, reward, attribution and update (model loading and the checkpoint fall outside).
Step 0 of a run is drawn from (seed, step) alone, so every run below plays the same tasks
with the same sampling seed: one fixed batch (2 tasks x 4 rollouts, 96 tokens a message at
most, the trainer's default) and, for the methods of (a), the same rollouts (checked).

- ``test_method_step`` (a): each method of the trainer's table (``METHODS``) on the shipped
  tiny VLM (warm-started: it calls tools, so TRM's judge and IAPO's attribution have real
  first decisions to score), teacher ``random:96x2`` as in ``tests/train``, IAPO with m = 8
  IG steps (the default adaptive rule: 7 forward passes along the path, then the 8 nodes).
  A GRPO step runs, untimed, before each round of the method. ``extra_info``: ``step_s``
  and each phase's seconds (the fastest round), the same for GRPO (``grpo_*``), ``ratio``
  (fastest method step over fastest GRPO step), ``dominant`` (the phase that takes most of
  the step) and ``cpu_ratio`` (the same ratio in process CPU seconds of the whole one-step
  run, load and save included: a cross-check that other load cannot inflate). Goal for
  IAPO: ratio <= 2.
- ``test_grpo_step_against_trl`` (b): our GRPO step against TRL's ``GRPOTrainer`` step on
  the same random-weight tiny VLM (saved once, loaded by both), the same tasks (TRL's
  prompts through :mod:`iapo_bench.adapters.trl`, the setup of ``tests/adapters/test_trl.py``),
  group size, batch, AdamW (lr 1e-4, no weight decay, clip 1.0), clip range 0.2/0.28,
  KL weight 0.01 to a reference, one micro-batch, float32 and no activation checkpointing
  (TRL's defaults are bf16 autocast, on the CPU too, and checkpointing on). Random weights
  never end a message early, so the work is fixed: our episodes are two messages of 96
  tokens (the first does not parse, the env answers with ~40 tokens of feedback, the second
  ends the episode), TRL's completion is one of 192 tokens (single-turn: no tool call
  parses). Same generated tokens and loss tokens; ours also pays a second prefill and the
  feedback tokens. TRL's step is timed by a callback from step begin to step end
  (generation, reward, reference, loss, backward, clip, optimizer), its generation by a
  timer around ``generate``; its first step is dropped. ``extra_info``: ``step_s`` (ours)
  and its split, ``trl_step_s``, ``trl_generation_s``, ``ratio_to_trl`` (ours over TRL's:
  goal <= 1) and ``cpu_ratio_to_trl`` (CPU seconds; ours counts its whole run, load and
  save included, so it errs against us). TRL's steps run between our first and second
  rounds, so load that drifts over the run falls on both.

The machine is shared: the fastest round of each is the estimate of its cost (other load
only adds time). Torch runs one intra-op thread, as in ``tests/adapters/test_trl.py``: on a
shared two-core machine two spinning threads make generation several times slower and
erratic. With ``--benchmark-disable`` (CI) each test takes one step of a smaller batch.
"""

from __future__ import annotations

import itertools
import os
import time
from pathlib import Path
from typing import Any

import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("transformers")

import pandas as pd  # noqa: E402
from transformers import TrainerCallback  # noqa: E402

from iapo_bench.models.tiny import build_tiny_vlm  # noqa: E402
from iapo_bench.train.grpo import METHODS, TrainConfig, train  # noqa: E402

PHASES = ("generation", "reward", "attribution", "update")
ROUNDS = 3
COMMON = {
    "teacher": "random:96x2",  # wider than the student, with its tokenizer (as tests/train)
    "learning_rate": 1e-4,
    "steps": 1,
    "attribution": {"steps": 8},
}
# The trainer's default message length: the warm-started model's tool calls (~55 tokens) fit.
BATCH = {"prompts_per_step": 2, "group_size": 4, "max_new_tokens": 96, "micro_batch_size": 8}
SMOKE = {"prompts_per_step": 1, "group_size": 2, "max_new_tokens": 16, "micro_batch_size": 2}
# What each method adds to the metrics: its term was computed.
TERMS = {
    "torl": "reward.execution_penalty",
    "trm": "trm",
    "papo": "perception_kl",
    "iapo": "attribution_kl",
    "distill": "distill_kl",
}


@pytest.fixture(autouse=True)
def one_torch_thread():
    """One intra-op thread: on a shared two-core machine, two spinning threads run erratically."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def _runs(folder: Path, values: dict[str, Any]) -> Any:
    """A function of a method: one step of the trainer in a fresh run folder, its metrics row.

    The row gains ``cpu_s``: the process's CPU seconds over the whole run of one step.
    """
    counter = itertools.count()

    def step(method: str) -> pd.Series:
        run_dir = folder / f"{method}-{next(counter)}"  # never an existing run: no resume
        config = TrainConfig.model_validate(values | {"method": method, "run_dir": str(run_dir)})
        began = time.process_time()
        row = pd.read_csv(train(config, progress=False) / "metrics.csv").iloc[0].copy()
        row["cpu_s"] = time.process_time() - began  # the whole run: load and save too
        return row

    return step


def _tokens(row: pd.Series) -> int:
    """Tokens the step generated (the metrics give them as a rate over the generation time)."""
    return round(row["tokens_per_s"] * row["time.generation_s"])


def _fastest(rows: list[pd.Series]) -> pd.Series:
    return min(rows, key=lambda row: row["time.total_s"])


def _split(row: pd.Series, prefix: str = "") -> dict[str, float]:
    return {f"{prefix}{phase}_s": float(row[f"time.{phase}_s"]) for phase in PHASES}


@pytest.mark.parametrize("method", list(METHODS))
def test_method_step(benchmark, tmp_path, method):
    batch = SMOKE if benchmark.disabled else BATCH
    step = _runs(tmp_path, {"policy": "tiny-vlm"} | COMMON | batch)
    floors: list[pd.Series] = []
    rows: list[pd.Series] = []

    def grpo_first() -> None:
        if not benchmark.disabled:
            floors.append(step("grpo"))

    benchmark.pedantic(lambda: rows.append(step(method)), setup=grpo_first, rounds=ROUNDS)
    for row in rows:
        assert row["time.total_s"] > 0
        if method in TERMS:
            assert pd.notna(row[TERMS[method]]), TERMS[method]
    # One fixed batch: the method played exactly the rollouts GRPO played before it.
    for floor, row in zip(floors, rows, strict=False):  # no floors with timing disabled
        assert _tokens(row) == _tokens(floor)
        for column in ("tool_call_rate", "mean_turns", "reward.relaxed_accuracy"):
            assert row[column] == floor[column], column
    if floors:
        fastest, floor = _fastest(rows), _fastest(floors)
        split = _split(fastest)
        benchmark.extra_info.update(
            step_s=float(fastest["time.total_s"]),
            **split,
            grpo_step_s=float(floor["time.total_s"]),
            **_split(floor, "grpo_"),
            ratio=float(fastest["time.total_s"] / floor["time.total_s"]),
            cpu_ratio=min(r["cpu_s"] for r in rows) / min(f["cpu_s"] for f in floors),
            dominant=max(PHASES, key=lambda phase: split[f"{phase}_s"]),
            rollouts=batch["prompts_per_step"] * batch["group_size"],
            tokens=_tokens(fastest),
        )


class _StepClock(TrainerCallback):
    """Wall and CPU time of each of a Trainer's optimizer steps, and of its ``generate`` calls."""

    def __init__(self, model: Any) -> None:
        self.steps: list[float] = []
        self.cpu: list[float] = []
        self.generation: list[float] = []
        self._began = self._cpu = 0.0
        self._generating = 0.0
        generate = model.generate

        def timed(*args: Any, **kwargs: Any) -> Any:
            began = time.perf_counter()
            try:
                return generate(*args, **kwargs)
            finally:
                self._generating += time.perf_counter() - began

        model.generate = timed  # on the instance: TRL calls it through unwrap_model

    def on_step_begin(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
        self._began, self._cpu, self._generating = time.perf_counter(), time.process_time(), 0.0

    def on_step_end(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
        self.steps.append(time.perf_counter() - self._began)
        self.cpu.append(time.process_time() - self._cpu)
        self.generation.append(self._generating)


def _trl_steps(
    folder: Path, model_dir: Path, task_ids: list[str], batch: dict[str, int], steps: int
) -> tuple[_StepClock, list[dict[str, float]]]:
    """TRL's GRPOTrainer for ``steps`` steps on ``task_ids``, set as our trainer is set."""
    from trl import GRPOConfig, GRPOTrainer

    from iapo_bench.adapters.trl import environment_factories, prompt_dataset, rubric_reward
    from iapo_bench.models.load import load_vlm

    os.environ.setdefault("TRL_EXPERIMENTAL_SILENCE", "1")
    model, processor = load_vlm(str(model_dir))  # its path names TRL's reference model
    model.train()
    clock = _StepClock(model)
    dataset = prompt_dataset("ToolUse-Chart-v0", ids=task_ids)
    group = batch["group_size"]
    args = GRPOConfig(
        output_dir=str(folder),
        per_device_train_batch_size=batch["prompts_per_step"] * group,
        num_generations=group,
        max_completion_length=2 * batch["max_new_tokens"],  # our two messages
        max_tool_calling_iterations=1,  # as max_turns = 2
        max_steps=steps,
        shuffle_dataset=False,
        learning_rate=1e-4,
        lr_scheduler_type="constant",
        optim="adamw_torch",
        weight_decay=0.0,
        max_grad_norm=1.0,
        beta=0.01,
        epsilon=0.2,
        epsilon_high=0.28,
        temperature=1.0,
        top_p=1.0,
        activation_checkpointing=False,  # TRL's default is on; ours is off
        bf16=False,  # TRL's default is bf16 autocast, on the CPU too; ours is float32 there
        logging_steps=1,
        report_to="none",
        use_cpu=True,
        save_strategy="no",
    )
    trainer = GRPOTrainer(
        model=model,
        reward_funcs=[rubric_reward],
        args=args,
        train_dataset=dataset,
        processing_class=processor,
        environment_factory=environment_factories(dataset),
        callbacks=[clock],
    )
    trainer.train()
    logs = [entry for entry in trainer.state.log_history if "completions/mean_length" in entry]
    return clock, logs


# Our trainer resets accelerate's process-wide state that TRL's Trainer set, and says so.
@pytest.mark.filterwarnings("ignore:accelerate was set up in this process")
@pytest.mark.filterwarnings("ignore:`is_gradient_checkpointing` is deprecated:FutureWarning")
def test_grpo_step_against_trl(benchmark, tmp_path):
    pytest.importorskip("trl")
    pytest.importorskip("datasets")
    from iapo_bench.train.grpo import _task_ids  # the tasks our step 0 plays

    batch = SMOKE if benchmark.disabled else BATCH
    model_dir = tmp_path / "tiny-random"
    model, processor = build_tiny_vlm(seed=0)
    model.save_pretrained(model_dir)
    processor.save_pretrained(model_dir)
    values = {"policy": str(model_dir), "learning_rate": 1e-4, "steps": 1} | batch
    step = _runs(tmp_path, values)
    config = TrainConfig.model_validate(values | {"run_dir": str(tmp_path / "unused")})
    task_ids = _task_ids(config, 0, 0, 1)
    trl_steps = 1 if benchmark.disabled else ROUNDS + 1  # the first is dropped below
    rows: list[pd.Series] = []
    peer: list[Any] = []

    def trl_after_our_first() -> None:
        if len(rows) == 1 or benchmark.disabled:
            peer.extend(_trl_steps(tmp_path / "trl", model_dir, task_ids, batch, trl_steps))

    benchmark.pedantic(lambda: rows.append(step("grpo")), setup=trl_after_our_first, rounds=ROUNDS)
    clock, logs = peer
    assert len(clock.steps) == len(logs) == trl_steps
    kept = range(1 if trl_steps > 1 else 0, trl_steps)
    trl_step = min(clock.steps[i] for i in kept)
    trl_generation = clock.generation[min(kept, key=lambda i: clock.steps[i])]
    rollouts = batch["prompts_per_step"] * batch["group_size"]
    trl_tokens = round(logs[-1]["completions/mean_length"] * rollouts)
    ours = _fastest(rows)
    assert ours["mean_turns"] == 2.0  # random weights: no message parses, both turns are taken
    if not benchmark.disabled:
        benchmark.extra_info.update(
            step_s=float(ours["time.total_s"]),
            **_split(ours),
            tokens=_tokens(ours),
            trl_step_s=trl_step,
            trl_generation_s=trl_generation,
            trl_rest_s=trl_step - trl_generation,
            trl_tokens=trl_tokens,
            ratio_to_trl=float(ours["time.total_s"]) / trl_step,
            cpu_ratio_to_trl=min(r["cpu_s"] for r in rows) / min(clock.cpu[i] for i in kept),
            rollouts=rollouts,
        )

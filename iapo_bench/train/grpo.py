"""The reference GRPO trainer, and every method of the IAPO paper's comparison as a setting of it.

Read it top to bottom, as CleanRL's ``ppo.py``: the config (every field documented), the
method presets, then :func:`train`, one loop. Each step plays ``prompts_per_step`` train tasks
``group_size`` times with the policy (multi-turn, token-in/token-out: :mod:`.rollout`), scores
them, turns the rewards into group-normalised advantages and takes one clipped-ratio update
with a KL to a frozen reference.

==========  ==================================================================================
method      what differs from GRPO (the preset fills these fields unless the config sets them)
==========  ==================================================================================
``grpo``    outcome reward + a small format reward (VTool-R1, the paper's baseline)
``torl``    + ToRL's execution penalty (``execution_penalty``)
``trm``     + a judge-scored tool-call reward (``trm_weight``; the LLM judge, ``tool_call``
            template, scoring with the teacher model)
``papo``    + PAPO's perception loss: the masked-image KL and its two entropy terms
            (``papo_gamma``, ``papo_eta``) on the first decision
``iapo``    + IAPO's attribution penalty: reward - lambda * KL(teacher || student block
            attributions) of the first decision (``attribution``)
``distill`` + a token-level KL to the same teacher (``distill_beta``): does attribution
            alignment beat plain distillation with the same teacher?
==========  ==================================================================================

Defaults follow the paper where it speaks (group size 5, learning rate 1e-6, KL weight 0.01);
the rest are ours and say why in their docstrings. The recipe (teacher trained with GRPO;
student cold-started with GRPO; then any method from the same checkpoint) is the TOML files
in ``iapo_bench/train/configs/``.

Run with ``iapo-bench train --config FILE`` or, on several processes or GPUs,
``accelerate launch --num_processes N -m iapo_bench.train --config FILE`` (on CPUs:
``--multi_gpu --num_processes N --num_machines 1``; accelerate's ``--cpu`` alone starts one
process, not N): each process plays its share of the step's tasks, and accelerate's DDP
averages the gradients.
Generation stays in process (transformers' ``generate``). To generate with a vLLM server
instead, replace :func:`~iapo_bench.train.rollout.play`'s ``generate`` call with requests to
the server (completions from token ids, with ``logprobs``), pushing the policy's weights to it
after each update: the rollouts keep the same ids, so nothing else changes.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import math
import time
from pathlib import Path
from typing import Any, Literal

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, model_validator

from iapo_bench.models.attribution import AttributionConfig

__all__ = ["METHODS", "TrainConfig", "load_config", "train"]

Method = Literal["grpo", "torl", "trm", "papo", "iapo", "distill"]

METHODS: dict[str, dict[str, Any]] = {
    "grpo": {},
    "torl": {"execution_penalty": 1.0},
    "trm": {"trm_weight": 0.5},
    "papo": {"papo_gamma": 0.02, "papo_eta": 0.03},
    "iapo": {"iapo": True},
    "distill": {"distill_beta": 0.05},
}
"""What each method turns on over plain GRPO (values used unless the config sets them)."""


class TrainConfig(BaseModel):
    """Everything a training run depends on; recorded in the run folder as ``config.json``."""

    model_config = ConfigDict(extra="forbid", frozen=True, use_attribute_docstrings=True)

    # -- the run ---------------------------------------------------------------------------
    run_dir: str = "iapo-results/train"
    """The run folder: config, metrics.csv, checkpoint/. An existing one is resumed."""
    seed: int = 0
    """Seeds the task order, sampling and everything random: a run replays exactly."""
    steps: int = Field(default=100, ge=1)
    """Optimizer steps to take."""
    method: Method = "grpo"
    """The method of the paper's comparison (see the module docstring's table)."""

    # -- models ----------------------------------------------------------------------------
    policy: str = "tiny-vlm"
    """The policy to train: tiny-vlm, random:WIDTHxLAYERS, random:qwen2.5-vl-3b, or a folder."""
    teacher: str | None = None
    """The teacher (iapo, distill, trm): any name the policy takes; frozen."""
    dtype: Literal["auto", "float32", "bfloat16"] = "auto"
    """Weights' precision: auto is bfloat16 mixed precision on a GPU, float32 on a CPU."""
    lora_rank: int = Field(default=0, ge=0)
    """LoRA rank on the language model's projections (0: train every weight)."""
    lora_alpha: float = Field(default=16.0, gt=0)
    """LoRA's scale numerator (the update is alpha / rank times the low-rank product)."""
    gradient_checkpointing: bool = False
    """Recompute activations in the backward pass: less memory, about 30% more time."""

    # -- data ------------------------------------------------------------------------------
    env_ids: tuple[str, ...] = ("ToolUse-Chart-v0",)
    """The envs whose train split tasks are drawn from (uniformly per task)."""
    difficulties: tuple[int, ...] | None = None
    """Difficulty levels to draw from (None: every level of each env)."""
    prompts_per_step: int = Field(default=4, ge=1)
    """Tasks per step and process (B)."""
    group_size: int = Field(default=5, ge=2)
    """Rollouts per task (G; the paper's 5): the group its advantages are normalised in."""
    max_turns: int = Field(default=2, ge=2)
    """Messages per episode: 2 is the paper's setting (a tool call, then the answer)."""

    # -- sampling --------------------------------------------------------------------------
    max_new_tokens: int = Field(default=96, ge=1)
    """Tokens per generated message at most."""
    temperature: float = Field(default=1.0, gt=0)
    """Sampling temperature of rollouts (1.0: the policy's own distribution)."""
    top_p: float = Field(default=1.0, gt=0, le=1)
    """Nucleus sampling mass of rollouts: must stay 1 (the loss scores the full distribution)."""

    # -- optimisation ----------------------------------------------------------------------
    learning_rate: float = Field(default=1e-6, gt=0)
    """AdamW's learning rate (the paper's 1e-6 for 3B models; tiny models need far more)."""
    weight_decay: float = Field(default=0.0, ge=0)
    """AdamW's decoupled weight decay."""
    warmup_steps: int = Field(default=0, ge=0)
    """Linear learning-rate warm-up, then constant."""
    max_grad_norm: float = Field(default=1.0, gt=0)
    """Gradients are clipped to this global norm."""
    beta: float = Field(default=0.01, ge=0)
    """Weight of the k3 KL to the frozen reference (the paper's 0.01; 0 drops the reference)."""
    clip_low: float = Field(default=0.2, ge=0)
    """The ratio is clipped below at 1 - clip_low."""
    clip_high: float = Field(default=0.28, ge=0)
    """The ratio is clipped above at 1 + clip_high (DAPO's clip-higher: more exploration)."""
    updates_per_step: int = Field(default=1, ge=1)
    """Optimizer updates per batch of rollouts (GRPO's mu; with 1 the ratio is always 1)."""
    micro_batch_size: int = Field(default=4, ge=1)
    """Rollouts per forward and backward pass (gradient accumulation over the rest)."""
    scale_rewards: bool = True
    """Divide advantages by their group's std (GRPO); False keeps the raw difference."""

    # -- rewards and method terms ------------------------------------------------------------
    rubric: str | None = None
    """The env rubric (None: each env's default plus format_valid at format_weight)."""
    format_weight: float = Field(default=0.1, ge=0)
    """Weight of the format reward (share of messages that parse as one action)."""
    execution_penalty: float | None = None
    """ToRL: weight of the execution penalty (-0.5 for a failed or skipped tool call)."""
    trm_weight: float | None = None
    """TRM: weight of the judge's tool-call score (probability that the call is sound)."""
    trm_judge: str | None = None
    """TRM: the judge model (None: the teacher)."""
    papo_gamma: float | None = None
    """PAPO: weight of the masked-image KL, maximised (0.02 as PAPO-G's)."""
    papo_eta: float | None = None
    """PAPO: weight of both entropy terms, minimised (0.03 as PAPO-D's)."""
    papo_mask_ratio: float = Field(default=0.6, ge=0, le=1)
    """PAPO: share of image patches blackened (the paper's 0.6)."""
    iapo: bool | None = None
    """IAPO: add -lambda * D to each rollout's reward (lambda: attribution.penalty_weight)."""
    attribution: AttributionConfig = AttributionConfig()
    """IAPO's attribution setting: method, steps, baseline, partition, lambda, KL direction."""
    distill_beta: float | None = None
    """Distillation control: weight of the token-level KL(teacher || policy) on its tokens."""

    # -- logging ---------------------------------------------------------------------------
    save_every: int = Field(default=1, ge=1)
    """Checkpoint every this many steps (and at the end): a crash loses at most that many."""
    tensorboard: bool = False
    """Also log the metrics to TensorBoard (RUN_DIR/tensorboard)."""

    @model_validator(mode="after")
    def _fill_method(self) -> TrainConfig:
        preset = METHODS[self.method]
        for name, value in preset.items():
            if getattr(self, name) is None:
                object.__setattr__(self, name, value)
        for name in ("execution_penalty", "trm_weight", "papo_gamma", "papo_eta", "distill_beta"):
            if getattr(self, name) is None:
                object.__setattr__(self, name, 0.0)
        if self.iapo is None:
            object.__setattr__(self, "iapo", False)
        if self.top_p < 1:
            raise ValueError(
                "top_p: the loss scores tokens under the full distribution at the sampling "
                "temperature; nucleus sampling would make every update off-policy"
            )
        needs_teacher = self.iapo or self.distill_beta or (self.trm_weight and not self.trm_judge)
        if needs_teacher and self.teacher is None:
            raise ValueError(f"teacher: method {self.method!r} needs a teacher model")
        return self


def load_config(path: str | Path, **overrides: Any) -> TrainConfig:
    """A config from a TOML file (its ``[attribution]`` table is the attribution setting).

    ``overrides`` replace the file's values (the CLI's ``--set key=value``). Raises
    ``ValueError`` naming the file and, on one line each, every bad field.
    """
    import pydantic

    from iapo_bench.tomlfile import read_toml

    values = read_toml(path)
    for key, value in overrides.items():  # a table overridden field by field
        if isinstance(value, dict) and isinstance(values.get(key), dict):
            values[key] = values[key] | value
        else:
            values[key] = value
    try:
        return TrainConfig.model_validate(values)
    except pydantic.ValidationError as error:
        problems = []
        for item in error.errors(include_url=False):
            field = ".".join(str(part) for part in item["loc"]) or "config"
            given = f" (got {item['input']!r})" if "input" in item and item["loc"] else ""
            problems.append(f"{field}: {item['msg']}{given}")
        raise ValueError(f"{path}: " + "; ".join(problems)) from None


# -- the loop --------------------------------------------------------------------------------


@dataclasses.dataclass
class _Models:
    """The policy and the frozen models around it."""

    policy: Any
    processor: Any
    reference: Any
    teacher: Any
    teacher_processor: Any


def _task_ids(config: TrainConfig, step: int, rank: int, world: int) -> list[str]:
    """This process's tasks of ``step``: drawn from (seed, step) alone, so a resume replays."""
    from iapo_bench.envs import family_for_env_id
    from iapo_bench.envs.family import SPLIT_SEEDS

    rng = np.random.default_rng([config.seed, step])
    ids = []
    for _ in range(config.prompts_per_step * world):
        family = family_for_env_id(config.env_ids[int(rng.integers(len(config.env_ids)))])
        levels = [d for d in config.difficulties or family.difficulties if d in family.difficulties]
        level = levels[int(rng.integers(len(levels)))]
        seed = SPLIT_SEEDS["train"].start + int(rng.integers(len(SPLIT_SEEDS["train"])))
        ids.append(family.task_id("train", level, seed))
    return ids[rank * config.prompts_per_step : (rank + 1) * config.prompts_per_step]


def _rubric(config: TrainConfig, env_id: str) -> str:
    """The env's rubric: its default (outcome) plus the format reward and ToRL's penalty."""
    from iapo_bench.envs import family_for_env_id

    if config.rubric is not None:
        return config.rubric
    spec = family_for_env_id(env_id).default_rubric
    if config.format_weight:
        spec += f",format_valid:{config.format_weight:g}"
    if config.execution_penalty:
        spec += f",execution_penalty:{config.execution_penalty:g}"
    return spec


def _load_models(config: TrainConfig, device: Any, resume_from: Path | None) -> _Models:
    """The policy (resumed from a checkpoint if there is one), the reference and the teacher."""
    from iapo_bench.models.load import load_vlm

    resumed = resume_from is not None and not config.lora_rank
    policy, processor = load_vlm(str(resume_from) if resumed else config.policy, seed=config.seed)
    if config.lora_rank:
        from peft import LoraConfig, PeftModel, get_peft_model

        if resume_from is not None:
            policy = PeftModel.from_pretrained(policy, resume_from / "adapter", is_trainable=True)
        else:
            targets = (
                r".*language_model.*\.(q_proj|k_proj|v_proj|o_proj|gate_proj|up_proj|down_proj)"
            )
            lora = LoraConfig(
                r=config.lora_rank, lora_alpha=config.lora_alpha, target_modules=targets
            )
            policy = get_peft_model(policy, lora)
    reference = None
    if config.beta > 0 and not config.lora_rank:  # with LoRA the base, adapters off, is it
        reference, _ = load_vlm(config.policy, seed=config.seed)
    teacher = teacher_processor = None
    if config.teacher is not None and (config.iapo or config.distill_beta or config.trm_weight):
        teacher, teacher_processor = load_vlm(config.teacher, seed=config.seed)
    for frozen in (reference, teacher):
        if frozen is not None:
            frozen.requires_grad_(False)
            frozen.to(device)
    if (
        config.distill_beta
        and teacher_processor.tokenizer.get_vocab() != processor.tokenizer.get_vocab()
    ):
        raise ValueError(
            "distill_beta: the distillation control needs a teacher with the policy's tokenizer"
        )
    if config.gradient_checkpointing:
        policy.gradient_checkpointing_enable()
    return _Models(policy.to(device), processor, reference, teacher, teacher_processor)


def _reference_logprobs(
    config: TrainConfig,
    models: _Models,
    policy: Any,
    batch: Any,
    mask: Any,
    scoring: dict[str, Any],
) -> Any:
    """Log-probabilities of the generated tokens under the frozen reference (None at beta 0)."""
    from iapo_bench.train.loss import generated_distributions

    if config.beta == 0:
        return None
    if config.lora_rank:  # the base model with the adapters switched off
        with policy.disable_adapter():
            return generated_distributions(policy, batch, mask, **scoring)[0]
    return generated_distributions(models.reference, batch, mask, **scoring)[0]


def _update(
    config: TrainConfig,
    accelerator: Any,
    policy: Any,
    optimizer: Any,
    models: _Models,
    rollouts: list[Any],
    advantages: list[float],
    image_inputs: Any,
    seed: int,
) -> dict[str, float]:
    """``updates_per_step`` clipped-ratio updates over the rollouts; returns the loss terms.

    Only generated tokens carry loss (the mask), each weighted by its rollout's advantage;
    the loss is their mean over the whole batch (tokens of long and short rollouts weigh
    alike), accumulated over micro-batches of ``micro_batch_size`` rollouts.
    """
    import torch

    from iapo_bench.models.generate import suppressed_token_ids
    from iapo_bench.models.inputs import pack
    from iapo_bench.train.loss import (
        generated_distributions,
        generated_mask,
        kl_full,
        policy_loss,
    )

    unwrapped = accelerator.unwrap_model(policy)
    device = accelerator.device
    tokenizer = models.processor.tokenizer
    pad = tokenizer.pad_token_id
    # Scored under the distribution the tokens were sampled from (temperature, no vision ids).
    scoring = {"temperature": config.temperature, "suppressed": suppressed_token_ids(tokenizer)}
    chunks = [
        rollouts[i : i + config.micro_batch_size]
        for i in range(0, len(rollouts), config.micro_batch_size)
    ]
    total_tokens = max(1, sum(r.completion_tokens for r in rollouts))

    def inputs(chunk: list[Any]) -> tuple[dict[str, Any], Any]:
        batch = pack([r.ids for r in chunk], [r.images for r in chunk], image_inputs, pad)
        mask = generated_mask([r.generated for r in chunk], batch["input_ids"].shape[1])
        return {k: v.to(device) for k, v in batch.items()}, mask.to(device)

    # The old and reference log-probabilities, once per step, without gradients.
    fixed: list[dict[str, Any]] = []
    with torch.no_grad(), accelerator.autocast():
        for chunk in chunks:
            batch, mask = inputs(chunk)
            old = (
                generated_distributions(unwrapped, batch, mask, **scoring)[0]
                if config.updates_per_step > 1
                else None
            )
            reference = _reference_logprobs(config, models, unwrapped, batch, mask, scoring)
            fixed.append({"old": old, "reference": reference})

    totals: dict[str, float] = {}
    for _ in range(config.updates_per_step):
        optimizer.zero_grad()
        for index, chunk in enumerate(chunks):
            batch, mask = inputs(chunk)
            per_token = torch.cat(
                [
                    torch.full((r.completion_tokens,), a)
                    for r, a in zip(
                        chunk, advantages[index * config.micro_batch_size :], strict=False
                    )
                ]
            )
            sync = index == len(chunks) - 1
            context = accelerator.no_sync(policy) if not sync else contextlib.nullcontext()
            with context, accelerator.autocast():
                chosen, distributions = generated_distributions(policy, batch, mask, **scoring)
                old = fixed[index]["old"] if fixed[index]["old"] is not None else chosen.detach()
                loss_per_token, stats = policy_loss(
                    chosen,
                    old,
                    fixed[index]["reference"],
                    per_token.to(device),
                    config.clip_low,
                    config.clip_high,
                    config.beta,
                )
                loss = loss_per_token.sum() / total_tokens
                _add(totals, "loss_policy", float(loss.detach()))
                _add(totals, "clip_fraction", float(stats["clipped"].sum()) / total_tokens)
                if "kl" in stats:
                    _add(totals, "kl", float(stats["kl"].sum()) / total_tokens)
                if config.distill_beta:
                    with torch.no_grad():
                        teacher = generated_distributions(models.teacher, batch, mask, **scoring)[1]
                    distill = kl_full(teacher, distributions).sum() / total_tokens
                    loss = loss + config.distill_beta * distill
                    _add(totals, "distill_kl", float(distill.detach()))
                if config.papo_gamma or config.papo_eta:
                    perception = _perception_loss(config, policy, models, chunk, seed)
                    loss = loss + perception["loss"] * len(chunk) / len(rollouts)
                    for name in ("perception_kl", "entropy", "masked_entropy"):
                        _add(totals, name, perception[name] * len(chunk) / len(rollouts))
                _add(totals, "loss", float(loss.detach()))
                del distributions
            accelerator.backward(loss)
        norm = accelerator.clip_grad_norm_(policy.parameters(), config.max_grad_norm)
        _add(totals, "grad_norm", float(norm))
        optimizer.step()
    return {name: value / config.updates_per_step for name, value in totals.items()}


def _perception_loss(
    config: TrainConfig, policy: Any, models: _Models, chunk: list[Any], seed: int
) -> dict[str, Any]:
    """PAPO's terms on the chunk's first decisions: -gamma * KL + eta * (H + H_masked)."""
    from iapo_bench.models.papo import masked_image_terms
    from iapo_bench.train.terms import first_prompt

    terms = masked_image_terms(
        policy,
        models.processor,
        [first_prompt(r) for r in chunk],
        [r.first_decision for r in chunk],
        mask_ratio=config.papo_mask_ratio,
        seed=seed,
    )
    kl = torch_mean([t.kl for t in terms])
    seen = torch_mean([t.entropy for t in terms])
    blind = torch_mean([t.masked_entropy for t in terms])
    loss = -config.papo_gamma * kl + config.papo_eta * (seen + blind)
    return {
        "loss": loss,
        "perception_kl": float(kl.detach()),
        "entropy": float(seen.detach()),
        "masked_entropy": float(blind.detach()),
    }


def torch_mean(values: list[Any]) -> Any:
    """The mean over every element of a list of 1-D tensors (each token weighs alike)."""
    import torch

    return torch.cat(values).mean()


def _add(totals: dict[str, float], name: str, value: float) -> None:
    totals[name] = totals.get(name, 0.0) + value


def train(config: TrainConfig, *, progress: bool = True) -> Path:
    """Run (or resume) the training ``config`` describes; returns the run folder.

    Writes ``config.json``, ``metrics.csv`` (:mod:`iapo_bench.train.metrics`) and
    ``checkpoint/`` (:mod:`iapo_bench.train.checkpoint`), which ``iapo-bench run -a
    hf:RUN_DIR/checkpoint`` evaluates. A resumed run takes exactly the step the uninterrupted
    run would have: tasks and sampling are seeded by (seed, step), and the optimizer's state
    is restored.
    """
    import gymnasium as gym
    import torch

    from iapo_bench.models.generate import sampling_seed
    from iapo_bench.models.inputs import ImageInputs
    from iapo_bench.models.load import state_fingerprint
    from iapo_bench.train.checkpoint import latest_checkpoint, load_state, save_checkpoint
    from iapo_bench.train.loss import group_advantages
    from iapo_bench.train.metrics import MetricsLog, progress_bar, step_row
    from iapo_bench.train.rollout import Sampling, play
    from iapo_bench.train.terms import attribution_penalties, make_trm_judge, trm_scores

    run_dir = Path(config.run_dir)
    gpu = torch.cuda.is_available()
    mixed = "bf16" if config.dtype == "bfloat16" or (config.dtype == "auto" and gpu) else "no"
    accelerator = _accelerator(cpu=not gpu, mixed_precision=mixed)
    rank, world = accelerator.process_index, accelerator.num_processes

    # -- set up, or resume ---------------------------------------------------------------
    checkpoint = latest_checkpoint(run_dir) if run_dir.exists() else None
    saved = load_state(checkpoint) if checkpoint is not None else None
    if saved is not None and _fixed(saved["config"]) != _fixed(config.model_dump(mode="json")):
        raise ValueError(
            f"{run_dir} holds a run with another config; resume it with the same "
            "config, or choose a new run_dir"
        )
    start_step = saved["step"] if saved is not None else 0
    torch.manual_seed(config.seed)
    models = _load_models(config, accelerator.device, checkpoint)
    trainable = [p for p in models.policy.parameters() if p.requires_grad]
    optimizer = torch.optim.AdamW(
        trainable, lr=config.learning_rate, weight_decay=config.weight_decay
    )
    warmup = config.warmup_steps
    scheduler = torch.optim.lr_scheduler.LambdaLR(
        optimizer, lambda s: min(1.0, (s + 1) / warmup) if warmup else 1.0
    )
    if saved is not None:
        optimizer.load_state_dict(saved["optimizer"])
        scheduler.load_state_dict(saved["scheduler"])
    policy, optimizer = accelerator.prepare(models.policy, optimizer)
    if accelerator.is_main_process:
        run_dir.mkdir(parents=True, exist_ok=True)
        (run_dir / "config.json").write_text(config.model_dump_json(indent=2) + "\n")
    # Everything that holds a thread, a connection or a file is closed however the run ends.
    closing = contextlib.ExitStack()
    log = MetricsLog(run_dir, start_step, config.tensorboard, accelerator)
    closing.callback(log.close)
    envs = {
        env_id: [
            gym.make(env_id, max_turns=config.max_turns, rubric=_rubric(config, env_id)).unwrapped
            for _ in range(config.prompts_per_step * config.group_size)
        ]
        for env_id in config.env_ids
    }
    for pool in envs.values():
        for env in pool:
            closing.callback(env.close)
    sampling = Sampling(config.max_new_tokens, config.temperature, config.top_p)
    judge = None
    if config.trm_weight:
        judge_model, judge_processor = (models.teacher, models.teacher_processor)
        if config.trm_judge is not None:
            from iapo_bench.models.load import load_vlm

            judge_model, judge_processor = load_vlm(config.trm_judge, seed=config.seed)
        judge = make_trm_judge(
            judge_model, judge_processor, config.trm_judge or str(config.teacher)
        )
        closing.callback(judge.close)

    # -- the loop ------------------------------------------------------------------------
    show = progress and accelerator.is_main_process
    with closing, progress_bar(config.steps, start_step, show) as bar:
        for step in range(start_step, config.steps):
            began = time.perf_counter()
            task_ids = _task_ids(config, step, rank, world)
            free = {env_id: list(pool) for env_id, pool in envs.items()}
            step_envs = [
                free[_env_of(t, config)].pop() for t in task_ids for _ in range(config.group_size)
            ]
            image_inputs = ImageInputs(models.processor)
            unwrapped = accelerator.unwrap_model(policy)
            unwrapped.eval()

            # 1. Rollouts: G episodes of each task, all in flight at once, token-in/token-out.
            with accelerator.autocast():
                rollouts = play(
                    unwrapped,
                    models.processor,
                    step_envs,
                    task_ids,
                    config.group_size,
                    sampling,
                    sampling_seed(config.seed, step, rank),
                    image_inputs,
                )
            seconds = {"generation": time.perf_counter() - began}

            # 2. Rewards: the env's rubric (outcome, format, ToRL's penalty), then TRM's judge.
            marker = time.perf_counter()
            rewards = np.array([r.reward for r in rollouts], dtype=np.float64)
            terms: dict[str, float] = {}
            if judge is not None:
                scores = trm_scores(judge, rollouts)
                rewards += config.trm_weight * np.asarray(scores)
                terms["trm"] = float(np.mean(scores))
            seconds["reward"] = time.perf_counter() - marker

            # 3. IAPO: reward -= lambda * KL(teacher || student) of the first decision's blocks.
            marker = time.perf_counter()
            if config.iapo:
                penalties = attribution_penalties(
                    unwrapped,
                    models.processor,
                    models.teacher,
                    models.teacher_processor,
                    rollouts,
                    config.attribution,
                )
                rewards += np.asarray([p.reward for p in penalties])
                terms |= _attribution_metrics(penalties)
            seconds["attribution"] = time.perf_counter() - marker

            # 4. Group-normalised advantages, then the clipped-ratio update(s).
            marker = time.perf_counter()
            advantages = group_advantages(rewards.tolist(), config.group_size, config.scale_rewards)
            unwrapped.train()
            losses = _update(
                config,
                accelerator,
                policy,
                optimizer,
                models,
                rollouts,
                advantages,
                image_inputs,
                sampling_seed(config.seed, step, rank, "papo"),
            )
            scheduler.step()
            seconds["update"] = time.perf_counter() - marker
            seconds["total"] = time.perf_counter() - began

            # 5. Metrics, and a checkpoint every save_every steps.
            row = step_row(
                step, rollouts, rewards.tolist(), terms, losses, seconds, scheduler.get_last_lr()[0]
            )
            log.write(row)
            bar.advance(row)
            if (step + 1) % config.save_every == 0 or step + 1 == config.steps:
                accelerator.wait_for_everyone()
                if accelerator.is_main_process:
                    state = {
                        "step": step + 1,
                        "optimizer": optimizer.state_dict(),
                        "scheduler": scheduler.state_dict(),
                        "config": config.model_dump(mode="json"),
                    }
                    save_checkpoint(
                        run_dir,
                        accelerator.unwrap_model(policy),
                        models.processor,
                        state,
                        lora=bool(config.lora_rank),
                    )
                accelerator.wait_for_everyone()
    if world > 1:  # each rank says what it ended with: DDP keeps them equal
        ranks = run_dir / "ranks"
        ranks.mkdir(parents=True, exist_ok=True)
        fingerprint = state_fingerprint(accelerator.unwrap_model(policy))
        (ranks / f"rank{rank}.json").write_text(
            json.dumps({"rank": rank, "parameters": fingerprint})
        )
    return run_dir


_EXTENDABLE = ("steps", "save_every", "tensorboard")
"""Fields a resumed run may change: it may run longer, or log and save differently."""


def _fixed(values: dict[str, Any]) -> dict[str, Any]:
    """A config's values that a resumed run must share with the run it resumes."""
    return {k: v for k, v in values.items() if k not in _EXTENDABLE}


def _accelerator(**options: Any) -> Any:
    """Accelerate's ``Accelerator``; a process-wide state another library set up is replaced.

    accelerate keeps one state per process; a TRL trainer run before in the same process (a
    notebook, a test session) leaves it set to its own precision, and a new ``Accelerator``
    with other settings raises. Out of a distributed launch that state holds nothing we need.
    """
    import warnings

    from accelerate import Accelerator
    from accelerate.state import AcceleratorState

    try:
        return Accelerator(**options)
    except ValueError as error:
        if "already been initialized" not in str(error):
            raise
        warnings.warn(
            f"accelerate was set up in this process with other settings ({error}); "
            "resetting it for this training run",
            stacklevel=3,
        )
        AcceleratorState._reset_state(reset_partial_state=True)
        return Accelerator(**options)


def _env_of(task_id: str, config: TrainConfig) -> str:
    """The env id (of the run's) whose family a task id belongs to."""
    from iapo_bench.envs import family_for_env_id

    family = task_id.split("/", 1)[0]
    return next(e for e in config.env_ids if family_for_env_id(e).name == family)


def _attribution_metrics(penalties: list[Any]) -> dict[str, float]:
    """The step's mean D, p and q per block, and the student's mean completeness error."""
    out = {"attribution_kl": float(np.mean([p.divergence for p in penalties]))}
    for name in penalties[0].p:
        out[f"p.{name}"] = float(np.mean([p.p[name] for p in penalties]))
        out[f"q.{name}"] = float(np.mean([p.q[name] for p in penalties]))
    errors = [
        p.student.completeness_error
        for p in penalties
        if math.isfinite(p.student.completeness_error)
    ]
    out["completeness_error"] = float(np.mean(errors)) if errors else math.nan
    return out

"""``iapo-bench reproduce``: the IAPO paper's comparison at small scale, end to end.

The paper (Qwen2.5-VL-3B, six chart and table test sets) compares plain GRPO, ToRL's execution
penalty, a tool process reward model and IAPO, each continued from one GRPO-cold-started
student; a teacher trained with GRPO supplies IAPO's attributions. This is that recipe, run by
:func:`~iapo_bench.train.grpo.train` and evaluated by the harness, in stages that each skip
themselves when their output is complete (an interrupted study resumes):

1. ``teacher-bc``, ``teacher``: a wider VLM behaviour-cloned on oracle episodes, then GRPO;
2. ``student-bc``, ``student``: a smaller VLM behaviour-cloned less, then a GRPO cold start;
3. ``arms/<method>-s<seed>``: every method of the trainer's table (GRPO, ToRL, TRM, PAPO,
   IAPO and the distillation control), each from the cold-started student, same budget, each
   seed;
4. ``eval/<model>/<split>``: each arm, the teacher, the student and the blind student (every
   image blanked: the text-only shortcut) on the validation seeds and the frozen test list;
   for each arm, the attribution KL to the teacher and the share of image attribution on the
   evidence, on the first decisions of test episodes;
5. ``report.md`` and ``report.csv`` (the paper's table: accuracy per difficulty and average,
   tool-call and tool-success rates, attribution KL, evidence share, with bootstrap 95%
   intervals; the paired difference of each method minus GRPO), ``curves.png`` (rewards over
   steps), ``configs/`` and ``commands.sh`` (the exact settings and the equivalent commands).

Settings are chosen on the validation seeds only (``eval/*/validation``); the frozen test
list is scored once per model. :data:`PRESETS` holds ``cpu`` (this machine, under an hour),
``smoke`` (one step of each stage on the tiniest models: CI) and ``gpu`` (bigger models;
``--teacher``/``--student`` take local checkpoints such as a Qwen2.5-VL-3B/7B pair).
"""

from __future__ import annotations

import json
import math
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from pydantic import BaseModel, ConfigDict, Field

from iapo_bench.models.attribution import AttributionConfig

__all__ = ["PRESETS", "StudyPreset", "reproduce"]

METHOD_ORDER = ("grpo", "torl", "trm", "papo", "iapo", "distill")
"""The arms, in the paper's order (the distillation control last)."""


class StudyPreset(BaseModel):
    """Everything the study depends on; written to ``study.json`` in the output folder."""

    model_config = ConfigDict(extra="forbid", frozen=True, use_attribute_docstrings=True)

    env_id: str = "ToolUse-Bars-v0"
    """The env whose tasks the study trains and tests on."""
    teacher_model: str = "random:128x2"
    """The teacher's starting point (a model name or folder); wider than the student."""
    student_model: str = "random:64x2"
    """The student's starting point."""
    min_pixels: int | None = Field(default=None, ge=28 * 28)
    """Images smaller than this are scaled up before the models see them (the processor's
    floor, saved with every checkpoint); None keeps the processor's own (56 x 56: the Bars
    image is 4 image tokens). 112 px learned no better on validation and cost 1.6x."""
    teacher_bc_episodes: int = Field(default=8000, ge=0)
    """Oracle episodes the teacher is cloned on (0: no cloning)."""
    teacher_bc_epochs: int = Field(default=3, ge=1)
    """Passes over the teacher's cloning examples."""
    student_bc_episodes: int = Field(default=8000, ge=0)
    """Oracle episodes the student is cloned on."""
    student_bc_epochs: int = Field(default=1, ge=1)
    """Passes over the student's cloning examples: fewer than the teacher's, so it starts
    below it (cloning from random init learns to look in a jump, between one and three
    passes here)."""
    teacher_bc_learning_rate: float = Field(default=2e-3, gt=0)
    """The teacher's cloning peak learning rate (one-cycle schedule)."""
    student_bc_learning_rate: float = Field(default=3e-3, gt=0)
    """The student's cloning peak learning rate: the narrower model takes a higher one."""
    bc_batch_size: int = Field(default=8, ge=1)
    """Examples per cloning step."""
    teacher_steps: int = Field(default=4, ge=1)
    """GRPO steps of the teacher."""
    student_steps: int = Field(default=4, ge=1)
    """GRPO steps of the student's cold start."""
    arm_steps: int = Field(default=16, ge=1)
    """Steps of every arm: the same budget for each method."""
    seeds: tuple[int, ...] = (0, 1, 2)
    """The arms' seeds (task order and sampling)."""
    methods: tuple[str, ...] = METHOD_ORDER
    """The arms' methods."""
    train: dict[str, Any] = Field(
        default_factory=lambda: {
            "prompts_per_step": 4,
            "group_size": 5,
            "max_new_tokens": 56,  # the oracle's call is 48 tokens with its end of turn
            "learning_rate": 3e-4,
            "micro_batch_size": 10,
            "beta": 0.01,
        }
    )
    """TrainConfig fields every stage shares (the arms' method presets fill in the rest)."""
    attribution: AttributionConfig = AttributionConfig(steps=8, quadrature="gauss-legendre")
    """IAPO's attribution setting for the IAPO arm and the evaluation's attribution metrics."""
    validation_tasks: int = Field(default=60, ge=1)
    """Validation tasks each model is scored on (settings are chosen on these)."""
    test_limit: int | None = 150
    """Frozen test tasks each model is scored on (None: the whole list)."""
    attribution_samples: int = Field(default=24, ge=0)
    """Test episodes whose first decision is attributed (KL to the teacher, evidence share)."""


PRESETS: dict[str, StudyPreset] = {
    "cpu": StudyPreset(),
    "smoke": StudyPreset(
        teacher_model="random:64x1",
        student_model="random:64x1",
        teacher_bc_episodes=8,
        student_bc_episodes=4,
        teacher_steps=1,
        student_steps=1,
        arm_steps=1,
        seeds=(0,),
        train={
            "prompts_per_step": 1,
            "group_size": 2,
            "max_new_tokens": 24,
            "learning_rate": 1e-4,
            "micro_batch_size": 2,
        },
        attribution=AttributionConfig(steps=2),
        validation_tasks=4,
        test_limit=4,
        attribution_samples=2,
    ),
    "gpu": StudyPreset(
        teacher_model="random:qwen2.5-vl-7b",
        student_model="random:qwen2.5-vl-3b",
        min_pixels=None,
        validation_tasks=300,
        test_limit=None,
        attribution=AttributionConfig(steps=32),
        attribution_samples=200,
        teacher_bc_episodes=4000,
        student_bc_episodes=1000,
        teacher_steps=200,
        student_steps=100,
        arm_steps=200,
        train={
            "prompts_per_step": 8,
            "group_size": 5,
            "max_new_tokens": 64,
            "learning_rate": 1e-6,
            "micro_batch_size": 4,
            "beta": 0.01,
        },
    ),
}
"""The study's presets: ``cpu`` (the default), ``smoke`` (CI) and ``gpu``."""


def _complete(run_dir: Path) -> bool:
    from iapo_bench.train.checkpoint import latest_checkpoint

    return latest_checkpoint(run_dir) is not None and (run_dir / "done").exists()


def _clone_stage(
    folder: Path,
    model_name: str,
    episodes: int,
    epochs: int,
    learning_rate: float,
    preset: StudyPreset,
    seed: int,
    log: Callable[[str], None],
) -> Path:
    """Behaviour-clone ``model_name`` on oracle episodes into ``folder``; skipped when done."""
    if (folder / "done").exists():
        return folder
    from iapo_bench.models.load import load_vlm
    from iapo_bench.train.bc import bc_examples, clone

    began = time.perf_counter()
    model, processor = load_vlm(model_name, seed=seed)
    if preset.min_pixels is not None:
        size = processor.image_processor.size
        processor.image_processor.size = {
            "shortest_edge": preset.min_pixels,
            "longest_edge": size["longest_edge"],
        }
    if episodes:
        examples = list(bc_examples([preset.env_id], episodes, seed=seed))
        losses = clone(
            model,
            processor,
            examples,
            epochs=epochs,
            learning_rate=learning_rate,
            seed=seed,
            log_every=100,
            batch_size=preset.bc_batch_size,
        )
        log(
            f"{folder.name}: cloned on {len(examples)} messages, {epochs} epoch(s), final loss "
            f"{np.mean(losses[-20:]):.3f}, {time.perf_counter() - began:.0f} s"
        )
    folder.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(folder)
    processor.save_pretrained(folder)
    (folder / "done").write_text(f"{time.perf_counter() - began:.1f}\n")
    return folder


def _train_stage(config: Any, log: Callable[[str], None]) -> Path:
    """Train ``config`` (resuming it if it was interrupted); skipped when done."""
    from iapo_bench.train.grpo import train

    run_dir = Path(config.run_dir)
    if _complete(run_dir):
        return run_dir
    began = time.perf_counter()
    train(config, progress=False)
    seconds = time.perf_counter() - began
    (run_dir / "done").write_text(f"{seconds:.1f}\n")
    log(f"{run_dir.name}: {config.method}, {config.steps} steps, {seconds:.0f} s")
    return run_dir


def _evaluate(name: str, agent: Any, preset: StudyPreset, out: Path) -> dict[str, Path]:
    """Score ``agent`` on the validation seeds and the frozen test list; result folders."""
    from iapo_bench.leaderboard.harness import evaluate

    folders = {}
    for split, limit in (("validation", preset.validation_tasks), ("test", preset.test_limit)):
        folder = out / "eval" / name / split
        if not (folder / "summary.csv").exists():
            evaluate(
                [preset.env_id],
                [agent],
                folder,
                split=split,
                limit=limit,
                max_turns=2,
                batch_size=32,
                workers=1,
            ).close()
        folders[split] = folder
    return folders


def _episodes(folder: Path) -> pd.DataFrame:
    from iapo_bench.leaderboard.records import ResultsWriter, latest_records

    with ResultsWriter(folder) as writer:
        records = latest_records(writer.records)
    return pd.DataFrame([r.model_dump() for r in records if r.status == "ok"])


def _attribution_metrics(
    checkpoint: Path, teacher: Path, episodes: pd.DataFrame, preset: StudyPreset
) -> dict[str, float]:
    """The mean attribution KL to the teacher and evidence share of first decisions."""
    from iapo_bench.envs import family_for_env_id
    from iapo_bench.envs.family import load_task
    from iapo_bench.models.load import load_vlm
    from iapo_bench.rewards.attribution import attribution_penalty, first_turn_prompt

    if preset.attribution_samples == 0 or episodes.empty:
        return dict.fromkeys(("attribution_kl", "evidence_share", "completeness_error"), math.nan)
    family = family_for_env_id(preset.env_id)
    sample = episodes.head(preset.attribution_samples)
    prompts, decisions = [], []
    for task_id, messages in zip(sample["task_id"], sample["messages"], strict=True):
        task = load_task(task_id)
        tools = [t.schema for t in family.tools_for(task)]
        prompts.append(first_turn_prompt(task, tools, family.prompt_style))
        decisions.append(messages[0])
    student, teacher_model = load_vlm(str(checkpoint)), load_vlm(str(teacher))
    penalties = []
    for start in range(0, len(prompts), 8):  # batches of eight decisions
        penalties += attribution_penalty(
            student,
            teacher_model,
            prompts[start : start + 8],
            decisions[start : start + 8],
            preset.attribution,
        )
    shares = [p.student.evidence_share for p in penalties if p.student.evidence_share is not None]
    errors = [p.student.completeness_error for p in penalties]
    return {
        "attribution_kl": float(np.mean([p.divergence for p in penalties])),
        "evidence_share": float(np.mean(shares)) if shares else math.nan,
        "completeness_error": float(np.mean([e for e in errors if e is not None] or [math.nan])),
    }


def _arm_config(preset: StudyPreset, out: Path, method: str, seed: int) -> Any:
    from iapo_bench.train.grpo import TrainConfig

    return TrainConfig.model_validate(
        preset.train
        | {
            "run_dir": str(out / "arms" / f"{method}-s{seed}"),
            "method": method,
            "seed": seed,
            "steps": preset.arm_steps,
            "policy": str(out / "student" / "checkpoint"),
            "teacher": str(out / "teacher" / "checkpoint"),
            "env_ids": (preset.env_id,),
            "attribution": preset.attribution,
        }
    )


def _stage_config(preset: StudyPreset, out: Path, name: str, policy: Path, steps: int) -> Any:
    from iapo_bench.train.grpo import TrainConfig

    return TrainConfig.model_validate(
        preset.train
        | {
            "run_dir": str(out / name),
            "method": "grpo",
            "seed": 0,
            "steps": steps,
            "policy": str(policy),
            "env_ids": (preset.env_id,),
        }
    )


def reproduce(
    out_dir: str | Path,
    preset: StudyPreset | str = "cpu",
    *,
    teacher: str | None = None,
    student: str | None = None,
    log: Callable[[str], None] = print,
) -> Path:
    """Run (or resume) the whole study into ``out_dir``; returns the report's path.

    ``teacher``/``student`` replace the preset's starting models (a local Qwen2.5-VL-7B and
    -3B, say). Raises ``ValueError`` when ``out_dir`` holds a study with other settings.
    """
    from transformers.utils import logging as transformers_logging

    from iapo_bench.baselines.blind import Blind
    from iapo_bench.baselines.vlm import TransformersVLMPolicy

    transformers_logging.disable_progress_bar()  # one line per stage instead of bars per load
    preset = PRESETS[preset] if isinstance(preset, str) else preset
    updates = {k: v for k, v in {"teacher_model": teacher, "student_model": student}.items() if v}
    preset = preset.model_copy(update=updates)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    study = out / "study.json"
    if study.exists() and json.loads(study.read_text()) != json.loads(preset.model_dump_json()):
        raise ValueError(f"{out} holds a study with other settings; choose a new folder")
    study.write_text(preset.model_dump_json(indent=2) + "\n")
    began = time.perf_counter()

    # 1-2. The teacher and the student: cloned, then GRPO.
    stages, stage_configs = {}, []
    for name, model, episodes, epochs, learning_rate, steps in (
        (
            "teacher",
            preset.teacher_model,
            preset.teacher_bc_episodes,
            preset.teacher_bc_epochs,
            preset.teacher_bc_learning_rate,
            preset.teacher_steps,
        ),
        (
            "student",
            preset.student_model,
            preset.student_bc_episodes,
            preset.student_bc_epochs,
            preset.student_bc_learning_rate,
            preset.student_steps,
        ),
    ):
        cloned = _clone_stage(
            out / f"{name}-bc", model, episodes, epochs, learning_rate, preset, 0, log
        )
        config = _stage_config(preset, out, name, cloned, steps)
        stage_configs.append(config)
        stages[name] = _train_stage(config, log) / "checkpoint"

    # 3. The arms: every method, every seed, from the cold-started student.
    arms = {(m, s): _arm_config(preset, out, m, s) for m in preset.methods for s in preset.seeds}
    for config in arms.values():
        _train_stage(config, log)

    # 4. Evaluation: validation seeds (for choosing settings) and the frozen test list.
    def policy(path: Path, name: str) -> Any:
        return TransformersVLMPolicy.from_pretrained(str(path), name=name, max_new_tokens=64)

    results: dict[str, dict[str, Path]] = {
        "teacher": _evaluate("teacher", policy(stages["teacher"], "teacher"), preset, out),
        "student": _evaluate("student", policy(stages["student"], "student"), preset, out),
        "blind student": _evaluate(
            "blind-student", Blind(policy(stages["student"], "student")), preset, out
        ),
    }
    for (method, seed), config in arms.items():
        name = f"{method}-s{seed}"
        checkpoint = Path(config.run_dir) / "checkpoint"
        results[name] = _evaluate(name, policy(checkpoint, name), preset, out)
    attribution = {}
    for (method, seed), config in arms.items():
        cached = out / "eval" / f"{method}-s{seed}" / "attribution.json"
        if not cached.exists():
            episodes = _episodes(results[f"{method}-s{seed}"]["test"])
            metrics = _attribution_metrics(
                Path(config.run_dir) / "checkpoint", stages["teacher"], episodes, preset
            )
            cached.write_text(json.dumps(metrics))
        attribution[method, seed] = json.loads(cached.read_text())

    # 5. The report.
    from iapo_bench.train.study_report import write_report

    checkpoints = {"teacher": stages["teacher"], "student": stages["student"]}
    checkpoints |= {f"{m}-s{s}": Path(c.run_dir) / "checkpoint" for (m, s), c in arms.items()}
    path = write_report(out, preset, results, arms, attribution, stage_configs, checkpoints)
    log(f"study done in {time.perf_counter() - began:.0f} s: {path}")
    return path

"""The report of ``iapo-bench reproduce``: the paper's table, the paired differences, curves.

:func:`write_report` reads the study folder (the harness's result folders and the training
runs' ``metrics.csv``) and writes:

- ``report.csv``: one row per model and split: accuracy per difficulty and on average with
  bootstrap 95% intervals over tasks, tool-call and tool-success rates, and for the arms the
  attribution KL to the teacher and the share of image attribution on the evidence;
- ``report.md``: the same as markdown tables (test, then validation), the paired difference
  of every method minus GRPO on the same tasks with its interval, and the stages' times;
- ``curves.png``: mean reward per step of every method (seeds averaged, each seed faint),
  and the teacher's and student's GRPO stages;
- ``configs/`` and ``commands.sh``: every training stage as a TOML config and the commands
  that rerun the study's stages one by one.

An arm's seeds count as repeats of each task: its per-task score is the mean over seeds, and
intervals resample tasks (the unit the test list samples), as the leaderboard does.
"""

from __future__ import annotations

import json
import math
import shlex
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from iapo_bench.envs.family import parse_task_id
from iapo_bench.leaderboard.stats import bootstrap_ci, paired_comparison

__all__ = ["load_episodes", "model_row", "write_report"]


def load_episodes(folder: Path) -> pd.DataFrame:
    """The scored episodes of one harness result folder (latest record of each)."""
    from iapo_bench.leaderboard.records import ResultsWriter, latest_records

    with ResultsWriter(folder) as writer:
        records = latest_records(writer.records)
    frame = pd.DataFrame([r.model_dump() for r in records if r.status == "ok"])
    if not frame.empty:
        frame["difficulty"] = [parse_task_id(t)[3] for t in frame["task_id"]]
        frame["score"] = frame["score"].fillna(0.0).astype(float)
    return frame


def _interval(values: list[float]) -> str:
    if not values:
        return ""
    ci = bootstrap_ci(values)
    return f"{100 * ci.estimate:.1f} [{100 * ci.low:.1f}, {100 * ci.high:.1f}]"


def _per_task(frames: list[pd.DataFrame]) -> pd.Series:
    """Each task's score, averaged over the frames (an arm's seeds) that played it."""
    kept = [f[["task_id", "score"]] for f in frames if not f.empty]
    if not kept:  # every episode of the model failed outside it
        return pd.Series(dtype=float)
    return pd.concat(kept).groupby("task_id")["score"].mean()


def model_row(name: str, split: str, frames: list[pd.DataFrame]) -> dict[str, Any]:
    """One row of the table: a model (one frame, or one per seed) on one split."""
    frames = [f for f in frames if not f.empty]
    row: dict[str, Any] = {"model": name, "split": split, "seeds": len(frames)}
    if not frames:
        return row
    scores = _per_task(frames)
    difficulty = pd.Series({t: parse_task_id(t)[3] for t in scores.index})
    for level in sorted(difficulty.unique()):
        row[f"d{level}"] = _interval(scores[difficulty == level].tolist())
    row["average"] = _interval(scores.tolist())
    row["average_mean"] = float(scores.mean())
    episodes = pd.concat(frames)
    calls = int(episodes["tool_calls"].sum())
    row["tool_call_rate"] = float((episodes["tool_calls"] > 0).mean())
    row["tool_success_rate"] = (
        float((calls - episodes["tool_errors"].sum()) / calls) if calls else math.nan
    )
    row["tasks"] = len(scores)
    return row


def _paired(frames: Mapping[str, list[pd.DataFrame]], base: str) -> list[dict[str, Any]]:
    """Every method minus ``base`` on the same tasks (per-task means over seeds)."""
    reference = _per_task(frames.get(base, [])).to_dict()
    rows = []
    for method, method_frames in frames.items():
        if method == base or not reference:
            continue
        scores = _per_task(method_frames).to_dict()
        if not set(scores) & set(reference):
            continue
        comparison = paired_comparison(scores, reference)
        d = comparison.difference
        rows.append(
            {
                "comparison": f"{method} - {base}",
                "tasks": comparison.tasks,
                "difference": f"{100 * d.estimate:+.1f} [{100 * d.low:+.1f}, {100 * d.high:+.1f}]",
                "separated": comparison.separated,
            }
        )
    return rows


def _markdown(frame: pd.DataFrame) -> str:
    """A pandas frame as a GitHub markdown table (no tabulate dependency)."""
    columns = list(frame.columns)
    lines = ["| " + " | ".join(columns) + " |", "|" + "---|" * len(columns)]
    for values in frame.itertuples(index=False):
        cells = []
        for value in values:
            if isinstance(value, float):
                cells.append("" if math.isnan(value) else f"{value:.3g}")
            else:
                cells.append(str(value))
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def _curves(out: Path, arms: Mapping[tuple[str, int], Any], methods: list[str]) -> Path:
    from matplotlib.figure import Figure

    from iapo_bench.train.metrics import METRICS

    figure = Figure(figsize=(10, 3.6), layout="constrained")
    stages_axis, arms_axis = figure.subplots(1, 2)
    for stage in ("teacher", "student"):
        path = out / stage / METRICS
        if path.exists():
            frame = pd.read_csv(path)
            stages_axis.plot(frame["step"], frame["reward"].rolling(5, min_periods=1).mean(),
                             label=f"{stage} (GRPO)")  # fmt: skip
    stages_axis.set_title("teacher and student cold start: reward", fontsize=10)
    for method in methods:
        series = []
        for (m, _), config in arms.items():
            path = Path(config.run_dir) / METRICS
            if m == method and path.exists():
                series.append(pd.read_csv(path).set_index("step")["reward"])
        if not series:
            continue
        joined = pd.concat(series, axis=1)
        line = arms_axis.plot(joined.index, joined.mean(axis=1).rolling(5, min_periods=1).mean(),
                              label=method)[0]  # fmt: skip
        for column in joined:
            arms_axis.plot(joined.index, joined[column], color=line.get_color(), alpha=0.15)
    arms_axis.set_title("arms from the cold-started student: reward (seeds' mean)", fontsize=10)
    for axis in (stages_axis, arms_axis):
        axis.set_xlabel("step")
        axis.grid(alpha=0.3)
        axis.legend(fontsize=7)
    path = out / "curves.png"
    figure.savefig(path, dpi=110)
    return path


def _configs_and_commands(out: Path, preset: Any, configs: list[Any], evaluated: list[str]) -> None:
    """``configs/*.toml`` for every training stage, and ``commands.sh`` that reruns them."""
    import shutil

    folder = out / "configs"
    if folder.exists():
        shutil.rmtree(folder)
    folder.mkdir(parents=True)
    commands = [
        "#!/usr/bin/env bash",
        "# The study's stages one by one (what `iapo-bench reproduce` runs). The behaviour-",
        "# cloning warm starts (teacher-bc/, student-bc/) are made by iapo_bench.train.bc.clone",
        f"# inside `iapo-bench reproduce --preset ...`; settings: {out.name}/study.json.",
        "set -euo pipefail",
    ]
    for config in configs:
        values = config.model_dump(mode="json", exclude_none=True)
        attribution = values.pop("attribution", {})
        lines = [f"{key} = {json.dumps(value)}" for key, value in values.items()]
        lines += ["", "[attribution]"]
        lines += [f"{key} = {json.dumps(value)}" for key, value in attribution.items()]
        path = folder / f"{Path(config.run_dir).name}.toml"
        path.write_text("\n".join(lines) + "\n")
        commands.append(f"iapo-bench train --config {shlex.quote(str(path))}")
    for name in evaluated:
        commands.append(
            f"iapo-bench run -a hf:{shlex.quote(name)} -e {preset.env_id} --split validation "
            f"--limit {preset.validation_tasks} --max-turns 2"
        )
        limit = f" --limit {preset.test_limit}" if preset.test_limit else ""
        commands.append(
            f"iapo-bench run -a hf:{shlex.quote(name)} -e {preset.env_id} --max-turns 2{limit}"
        )
    (out / "commands.sh").write_text("\n".join(commands) + "\n")


def _attribution_setting(config: Any) -> str:
    a = config
    method = f"IG, m = {a.steps}, {a.quadrature} nodes" if a.method == "ig" else a.method
    return (
        f"{method}, baseline {a.baseline} (images {a.image_baseline}), partition {a.partition}, "
        f"lambda {a.penalty_weight}, {a.direction} KL"
    )


def write_report(
    out: Path,
    preset: Any,
    results: Mapping[str, Mapping[str, Path]],
    arms: Mapping[tuple[str, int], Any],
    attribution: Mapping[tuple[str, int], Mapping[str, float]],
    stage_configs: list[Any] | None = None,
    checkpoints: Mapping[str, Path] | None = None,
) -> Path:
    """Write ``report.md``, ``report.csv``, ``curves.png``, ``configs/`` and ``commands.sh``.

    ``results`` maps a model's name (``teacher``, ``student``, ``blind student``,
    ``<method>-s<seed>``) to its result folders per split; ``arms`` maps (method, seed) to the
    arm's training config; ``attribution`` to its attribution metrics. Returns report.md.
    """
    methods = [m for m in dict.fromkeys(m for m, _ in arms)]
    rows, paired = [], {}
    for split in ("test", "validation"):
        frames: dict[str, list[pd.DataFrame]] = {}
        for name in ("teacher", "student", "blind student"):
            if name in results and split in results[name]:
                frames[name] = [load_episodes(results[name][split])]
        for method in methods:
            frames[method] = [
                load_episodes(results[f"{method}-s{seed}"][split])
                for (m, seed) in arms
                if m == method and f"{method}-s{seed}" in results
            ]
        for name, model_frames in frames.items():
            row = model_row(name, split, model_frames)
            # Measured on test episodes: shown in the test rows only.
            metrics = [v for (m, _), v in attribution.items() if m == name and split == "test"]
            for key in ("attribution_kl", "evidence_share", "completeness_error"):
                values = [v[key] for v in metrics if not math.isnan(v.get(key, math.nan))]
                row[key] = float(np.mean(values)) if values else math.nan
            rows.append(row)
        paired[split] = _paired({m: frames[m] for m in methods}, "grpo")
    table = pd.DataFrame(rows)
    table.to_csv(out / "report.csv", index=False)
    curves = _curves(out, arms, methods)
    configs = list(stage_configs or []) + list(arms.values())
    _configs_and_commands(out, preset, configs, [str(p) for p in (checkpoints or {}).values()])

    shown = [c for c in table.columns if c not in ("split", "average_mean")]
    lines = [
        f"# IAPO at small scale: the paper's comparison on {preset.env_id}",
        "",
        f"Teacher {preset.teacher_model}, student {preset.student_model}; arms: "
        f"{', '.join(methods)}, seeds {list(preset.seeds)}, {preset.arm_steps} steps each. "
        "Accuracy in % with bootstrap 95% intervals over tasks (an arm's seeds averaged per "
        "task); attribution KL and evidence share on the first decisions of "
        f"{preset.attribution_samples} test episodes; attribution "
        f"{_attribution_setting(preset.attribution)}.",
    ]
    for split in ("test", "validation"):
        part = table[table["split"] == split][shown]
        title = "frozen test list" if split == "test" else "validation seeds (settings chosen here)"
        lines += ["", f"## {title}", "", _markdown(part)]
        if paired[split]:
            lines += ["", f"Paired differences on the {split} tasks (percentage points):", ""]
            lines.append(_markdown(pd.DataFrame(paired[split])))
    times = []
    for folder in sorted(out.glob("**/done")):
        seconds = folder.read_text().strip()
        times.append(f"{folder.parent.relative_to(out)}: {float(seconds):.0f} s")
    lines += ["", "## Stage times", "", "; ".join(times), "", f"![curves]({curves.name})", ""]
    path = out / "report.md"
    path.write_text("\n".join(lines))
    return path

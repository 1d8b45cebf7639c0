"""What a training run reports: one row of metrics per step, to CSV (and TensorBoard), and a bar.

``RUN_DIR/metrics.csv`` has one row per step: ``step``, ``reward`` (the mean total the
advantages were computed from) and ``reward.<component>`` for every rubric component,
``kl`` (to the reference), the method's terms (``trm``, ``attribution_kl``, ``p.<block>``,
``q.<block>``, ``perception_kl``, ``distill_kl``), ``tool_call_rate``, ``tool_success_rate``,
``answer_rate``, ``tokens_per_s`` (generated tokens over generation time), ``loss``,
``grad_norm``, ``clip_fraction``, ``learning_rate`` and ``time.<phase>_s`` for generation,
reward, attribution, update and the whole step. A resumed run keeps the rows of the steps
before it and rewrites the file after each step (it is small), so a crash never leaves half
a row.
"""

from __future__ import annotations

import contextlib
import math
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

__all__ = ["METRICS", "MetricsLog", "progress_bar", "step_row"]

METRICS = "metrics.csv"
"""The metrics file inside a run folder."""


def step_row(
    step: int,
    rollouts: Sequence[Any],
    rewards: Sequence[float],
    terms: Mapping[str, float],
    losses: Mapping[str, float],
    seconds: Mapping[str, float],
    learning_rate: float,
) -> dict[str, float]:
    """One step's metrics from its rollouts, rewards, method terms, losses and timings."""
    calls = [t for r in rollouts for t in r.trajectory.tool_calls]
    row: dict[str, float] = {"step": float(step), "reward": float(np.mean(rewards))}
    components: dict[str, list[float]] = {}
    for rollout in rollouts:
        for name, value in rollout.components.items():
            if value is not None and math.isfinite(value):
                components.setdefault(name, []).append(value)
    row |= {f"reward.{name}": float(np.mean(v)) for name, v in sorted(components.items())}
    row["tool_call_rate"] = float(np.mean([bool(r.trajectory.tool_calls) for r in rollouts]))
    row["tool_success_rate"] = (
        float(np.mean([t.result is not None and t.result.ok for t in calls])) if calls else math.nan
    )
    row["answer_rate"] = float(np.mean([r.trajectory.answer is not None for r in rollouts]))
    row["mean_turns"] = float(np.mean([r.turns for r in rollouts]))
    tokens = sum(r.completion_tokens for r in rollouts)
    row["tokens_per_s"] = tokens / seconds["generation"] if seconds["generation"] else math.nan
    row |= {name: float(value) for name, value in terms.items()}
    row |= {name: float(value) for name, value in losses.items()}
    row["learning_rate"] = float(learning_rate)
    row |= {f"time.{phase}_s": float(value) for phase, value in seconds.items()}
    return row


class MetricsLog:
    """Writes ``metrics.csv`` (main process only) and, if asked, TensorBoard scalars."""

    def __init__(self, run_dir: Path, start_step: int, tensorboard: bool, accelerator: Any):
        self.path = run_dir / METRICS
        self.main = accelerator.is_main_process
        self.rows: list[dict[str, float]] = []
        if self.main and self.path.exists():
            previous = pd.read_csv(self.path)
            kept = previous[previous["step"] < start_step]
            self.rows = [
                {k: v for k, v in row.items() if not pd.isna(v)} for row in kept.to_dict("records")
            ]
        self.writer = None
        if tensorboard and self.main:
            from torch.utils.tensorboard import SummaryWriter

            self.writer = SummaryWriter(str(run_dir / "tensorboard"))

    def write(self, row: Mapping[str, float]) -> None:
        """Add one step's row; the CSV is rewritten whole (then renamed: never half a row)."""
        if not self.main:
            return
        self.rows.append(dict(row))
        partial = self.path.with_suffix(".csv.partial")
        pd.DataFrame(self.rows).to_csv(partial, index=False)
        partial.replace(self.path)
        if self.writer is not None:
            step = int(row["step"])
            for name, value in row.items():
                if name != "step" and math.isfinite(value):
                    self.writer.add_scalar(name, value, step)

    def close(self) -> None:
        """Flush TensorBoard."""
        if self.writer is not None:
            self.writer.close()


class _Bar:
    def __init__(self, progress: Any, task: Any) -> None:
        self.progress, self.task = progress, task

    def advance(self, row: Mapping[str, float]) -> None:
        if self.progress is not None:
            text = f"reward {row['reward']:.3f}  tool calls {row['tool_call_rate']:.2f}"
            self.progress.update(self.task, advance=1, status=text)


@contextlib.contextmanager
def progress_bar(total: int, done: int, show: bool) -> Iterator[_Bar]:
    """A rich progress bar over the steps, showing the last reward (nothing when not ``show``)."""
    if not show:
        yield _Bar(None, None)
        return
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        TextColumn,
        TimeElapsedColumn,
        TimeRemainingColumn,
    )

    columns = (
        TextColumn("training"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        TimeRemainingColumn(),
        TextColumn("{task.fields[status]}"),
    )
    with Progress(*columns) as progress:
        task = progress.add_task("train", total=total, completed=done, status="")
        yield _Bar(progress, task)

"""``iapo-bench plot RUN_DIR``: the learning curves of a training run, as a PNG beside it.

One panel per group of metrics from ``metrics.csv``: the reward and its components, the
tool-call and tool-success rates, the KL terms (to the reference, IAPO's attribution KL,
PAPO's perception KL, the distillation KL), the image block's attribution share (student p
and teacher q), and where the step's time goes. Curves are smoothed with a running mean
over ``window`` steps, the raw values drawn faintly behind.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from iapo_bench.train.metrics import METRICS

__all__ = ["plot_run"]

_PANELS: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("reward", ("reward", "reward.relaxed_accuracy", "reward.exact_match", "reward.format_valid")),
    ("tool use", ("tool_call_rate", "tool_success_rate", "answer_rate")),
    ("KL terms", ("kl", "attribution_kl", "perception_kl", "distill_kl")),
    ("image attribution share", ("p.I", "q.I")),
    ("seconds per step", ("time.generation_s", "time.reward_s", "time.attribution_s",
                          "time.update_s")),
)  # fmt: skip


def plot_run(run_dir: str | Path, window: int = 5, out: str | Path | None = None) -> Path:
    """Draw the run's curves into ``out`` (default ``RUN_DIR/curves.png``); returns the path.

    Raises ``ValueError`` when the folder holds no ``metrics.csv``.
    """
    from matplotlib.figure import Figure  # no pyplot: the caller's backend is left alone

    run_dir = Path(run_dir)
    path = run_dir / METRICS
    if not path.exists():
        raise ValueError(f"{run_dir} holds no {METRICS}: is it a training run folder?")
    frame = pd.read_csv(path)
    panels = [(t, [c for c in cols if c in frame]) for t, cols in _PANELS]
    panels = [(t, cols) for t, cols in panels if cols]
    figure = Figure(figsize=(6.4, 2.4 * len(panels)), layout="constrained")
    axes = figure.subplots(len(panels), 1, squeeze=False)[:, 0]
    for axis, (title, columns) in zip(axes, panels, strict=True):
        for column in columns:
            raw = frame[column]
            line = axis.plot(frame["step"], raw.rolling(window, min_periods=1).mean(),
                             label=column)[0]  # fmt: skip
            axis.plot(frame["step"], raw, color=line.get_color(), alpha=0.2, linewidth=0.8)
        axis.set_title(title, fontsize=10)
        axis.grid(alpha=0.3)
        axis.legend(fontsize=7, loc="best")
    axes[-1].set_xlabel("step")
    figure.suptitle(run_dir.name, fontsize=11)
    target = Path(out) if out is not None else run_dir / "curves.png"
    figure.savefig(target, dpi=110)
    return target

"""Checkpoints of a training run: the model as a loadable folder, and the trainer's state.

``RUN_DIR/checkpoint/`` holds the policy as ``save_pretrained`` writes it, with its processor,
so ``iapo-bench run -a hf:RUN_DIR/checkpoint`` evaluates it with no conversion (a LoRA run
saves its adapters merged in, and the adapters alone under ``adapter/`` for resuming), and
``trainer_state.pt``: the step, the optimizer and scheduler states and the config. A
checkpoint is written whole into ``checkpoint.partial/`` and swapped in by renames, so an
interruption leaves the previous one (``checkpoint.old/`` for the moment of the swap).
"""

from __future__ import annotations

import copy
import shutil
from pathlib import Path
from typing import Any

__all__ = ["CHECKPOINT", "STATE", "latest_checkpoint", "load_state", "save_checkpoint"]

CHECKPOINT = "checkpoint"
"""The folder of the latest checkpoint inside a run folder."""
STATE = "trainer_state.pt"
"""The trainer's state inside a checkpoint."""


def save_checkpoint(
    run_dir: Path,
    model: Any,
    processor: Any,
    state: dict[str, Any],
    lora: bool = False,
) -> Path:
    """Write the model, processor and ``state`` as the run's checkpoint; returns its folder."""
    import torch

    partial = run_dir / f"{CHECKPOINT}.partial"
    if partial.exists():
        shutil.rmtree(partial)
    partial.mkdir(parents=True)
    if lora:
        model.save_pretrained(partial / "adapter")
        merged = copy.deepcopy(model).merge_and_unload()
        merged.save_pretrained(partial)
        del merged
    else:
        model.save_pretrained(partial)
    processor.save_pretrained(partial)
    torch.save(state, partial / STATE)
    final, old = run_dir / CHECKPOINT, run_dir / f"{CHECKPOINT}.old"
    if old.exists():
        shutil.rmtree(old)
    if final.exists():
        final.rename(old)
    partial.rename(final)
    if old.exists():
        shutil.rmtree(old)
    return final


def latest_checkpoint(run_dir: Path) -> Path | None:
    """The run's complete checkpoint folder, if it has one (an interrupted swap included)."""
    for name in (CHECKPOINT, f"{CHECKPOINT}.old"):
        folder = run_dir / name
        if (folder / STATE).exists():
            return folder
    return None


def load_state(folder: Path) -> dict[str, Any]:
    """The trainer's state saved in a checkpoint folder."""
    import torch

    return torch.load(folder / STATE, map_location="cpu", weights_only=False)

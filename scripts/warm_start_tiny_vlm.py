"""Warm-start the tiny VLM by behaviour cloning on oracle episodes; writes the shipped weights.

    python scripts/warm_start_tiny_vlm.py [EPISODES=600] [EPOCHS=3]

Seeded end to end (model init, episode seeds, example order), so it reproduces the files in
``iapo_bench/models/assets/tiny-vlm`` on the same library versions and thread count (two).
Measure what it learned with ``iapo-bench run --policy tiny-vlm`` (valid calls, answers,
scores on the frozen test tasks).
"""

import sys
import time
from pathlib import Path

import torch

from iapo_bench.models.tiny import build_tiny_vlm
from iapo_bench.train.bc import bc_examples, clone

OUT = Path(__file__).resolve().parents[1] / "iapo_bench" / "models" / "assets" / "tiny-vlm"
EPISODES = int(sys.argv[1]) if len(sys.argv) > 1 else 600
EPOCHS = int(sys.argv[2]) if len(sys.argv) > 2 else 3
# The three families the shipped weights were cloned on (later families are not in them).
ENVS = ["ToolUse-Chart-v0", "ToolUse-OCR-v0", "ToolUse-ImageSearch-v0"]

if __name__ == "__main__":
    torch.set_num_threads(2)
    model, processor = build_tiny_vlm(seed=0)
    began = time.time()
    examples = list(bc_examples(ENVS, EPISODES, seed=0))
    print(f"{len(examples)} examples from {EPISODES} oracle episodes")
    losses = clone(model, processor, examples, epochs=EPOCHS, seed=0)
    recent = sum(losses[-100:]) / 100
    print(f"trained in {time.time() - began:.0f} s; last 100 steps' loss {recent:.3f}")
    model.save_pretrained(OUT)
    processor.save_pretrained(OUT)
    size = sum(p.stat().st_size for p in OUT.iterdir()) / 1e6
    print(f"wrote {OUT} ({size:.1f} MB)")

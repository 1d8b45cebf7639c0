"""The README's completeness table: IG's error per baseline and quadrature, at m = 8 and 32.

The prompt is the first turn of chart task 0 (the one the tests use) and the decision is the
oracle's tool call. Each cell is the completeness error |sum_j a_j - (f(e) - f(e'))| /
|f(e) - f(e')| of integrated gradients on one model: random tiny Qwen2.5-VLs of width 64 and
128 (seeded, the project's tokenizer) and the shipped tiny VLM. Run from the repository root:
``python docs/attribution_completeness.py`` (a few CPU minutes) prints the markdown table.
"""

from typing import Any

import gymnasium as gym

import iapo_bench.envs  # noqa: F401  (registers the ids)
from iapo_bench.baselines import OracleAgent
from iapo_bench.models.attribution import AttributionConfig, attribute
from iapo_bench.models.blocks import Prompt
from iapo_bench.models.load import load_vlm

SETTINGS: dict[str, dict[str, Any]] = {
    "zeros, uniform (the paper's summary)": {
        "baseline": "zeros",
        "image_baseline": "same",
        "quadrature": "uniform",
    },
    "zeros, adaptive": {"baseline": "zeros", "image_baseline": "same", "quadrature": "adaptive"},
    "mean / white image, uniform": {"quadrature": "uniform"},
    "mean / white image, adaptive (default)": {},
}
"""Rows: the text / image baselines and the quadrature rule (other fields at their defaults)."""

MODELS = {"random, width 64": "random:64x2", "random, width 128": "random:128x2"}
STEPS = (8, 32)


def percent(share: float) -> str:
    """A share as a percentage with two significant digits (whole numbers from 10%).

    >>> percent(1.2647), percent(0.0952), percent(0.0068)
    ('126%', '9.5%', '0.68%')
    """
    value = 100 * share
    if value >= 10:
        return f"{value:.0f}%"
    return f"{value:.1f}%" if value >= 1 else f"{value:.2f}%"


def main() -> None:
    """Attribute the oracle's first call under every setting and model; print the table."""
    env = gym.make("ToolUse-Chart-v0").unwrapped
    obs, info = env.reset(seed=0)
    decision = OracleAgent().act([obs], [info])[0] + "<|im_end|>"
    prompt = Prompt(messages=info["messages"], images=obs["images"])
    models = {name: load_vlm(spec, seed=0) for name, spec in MODELS.items()}
    models["shipped tiny VLM"] = load_vlm("tiny-vlm")
    print("| e' (text / image), nodes | " + " | ".join(models) + " |")
    print("|---|" + "---|" * len(models))
    for label, fields in SETTINGS.items():
        cells = []
        for model, processor in models.values():
            errors = []
            for steps in STEPS:
                config = AttributionConfig(steps=steps, **fields)
                [result] = attribute(model, processor, [prompt], [decision], config)
                errors.append(percent(result.completeness_error))
            cells.append(" / ".join(errors))
        print(f"| {label} | " + " | ".join(cells) + " |", flush=True)


if __name__ == "__main__":
    main()

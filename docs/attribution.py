"""The README's IAPO attribution example: p, q and D for one chart task, and a heat map.

The student is the shipped tiny VLM; it generates its first decision for a chart task, and
that decision (its exact token ids) is attributed to the prompt's blocks under the student
(p) and forced through a teacher (q); D = KL(q || p). The teacher is a random Qwen2.5-VL
twice as wide and one layer deeper, sharing the tokenizer: the package ships no stronger
model, and this one needs no download and shows that blocks line up across widths and
depths. Pass ``--teacher PATH`` to use a real one (a local Qwen2.5-VL folder, e.g. a
GRPO-trained teacher as in the paper).

Run from the repository root: ``python docs/attribution.py`` prints the figures and saves
``docs/attribution-heatmap.png``: the student's per-token attribution over the image (with
the task's evidence regions outlined) beside p and q as bars.
"""

import argparse

import gymnasium as gym
import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np
from matplotlib.patches import Rectangle

import iapo_bench  # noqa: F401  (registers the ids)
from iapo_bench.baselines.vlm import TINY_VLM_PATH, TransformersVLMPolicy
from iapo_bench.envs import load_task
from iapo_bench.models.attribution import AttributionConfig
from iapo_bench.models.tiny import build_tiny_vlm
from iapo_bench.rewards.attribution import attribution_penalty, first_turn_prompt


def main(teacher_path: str | None, out: str) -> None:
    """Attribute the student's first decision on one chart task; print and plot."""
    env = gym.make("ToolUse-Chart-v0", difficulty=1)
    obs, info = env.reset(seed=3)
    task = load_task(info["task_id"])
    student = TransformersVLMPolicy.from_pretrained(str(TINY_VLM_PATH), max_new_tokens=96)
    [generation] = student.generate([obs], [info])
    print("question:", task.question)
    print("student's first decision:", generation.text)
    if teacher_path is None:
        teacher = build_tiny_vlm(seed=0, hidden=128, layers=3)
    else:
        teacher = TransformersVLMPolicy.from_pretrained(teacher_path)

    config = AttributionConfig()  # IG, m = 32, mean/blank baselines, adaptive nodes
    prompt = first_turn_prompt(task, info["tools"], info["prompt_style"])
    [penalty] = attribution_penalty(student, teacher, [prompt], [generation.completion_ids], config)
    mine, theirs = penalty.student, penalty.teacher
    print("blocks:   ", "  ".join(f"{b:>6}" for b in penalty.p))
    print("p student:", "  ".join(f"{v:6.3f}" for v in penalty.p.values()))
    print("q teacher:", "  ".join(f"{v:6.3f}" for v in penalty.q.values()))
    print(
        f"D = KL(q || p) = {penalty.divergence:.4f}; reward term -lambda D = {penalty.reward:.4f}"
    )
    for name, result in (("student", mine), ("teacher", theirs)):
        print(
            f"{name}: f(e) = {result.f_input:.2f}, f(e') = {result.f_baseline:.2f}, "
            f"completeness error {100 * result.completeness_error:.2f}%, "
            f"evidence share {result.evidence_share:.3f} (area {result.evidence_area:.3f})"
        )

    image = mine.images[0]
    magnitude = np.abs(mine.token_scores[image.start : image.start + image.count])
    grid = magnitude.reshape(image.rows, image.cols)
    figure, (left, right) = plt.subplots(
        1, 2, figsize=(11, 4.2), gridspec_kw={"width_ratios": [1.6, 1]}
    )
    left.imshow(task.image)
    shown = left.imshow(
        grid,
        cmap="magma",
        alpha=0.55,
        extent=(0, image.width, image.height, 0),
        interpolation="nearest",
    )
    for box in prompt.evidence:
        left.add_patch(
            Rectangle((box.x0, box.y0), box.width, box.height, fill=False, color="cyan", lw=1.5)
        )
    left.set_title("student: |a_j| over the image's tokens (evidence in cyan)", fontsize=10)
    left.axis("off")
    figure.colorbar(shown, ax=left, fraction=0.035)
    blocks = list(penalty.p)
    x = np.arange(len(blocks))
    right.bar(x - 0.2, [penalty.p[b] for b in blocks], 0.4, label="p (student)")
    right.bar(x + 0.2, [penalty.q[b] for b in blocks], 0.4, label="q (teacher)")
    right.set_xticks(x, ["system", "query", "image", "tools"])
    right.set_ylabel("share of attribution")
    right.set_title(f"block distributions, D = KL(q || p) = {penalty.divergence:.3f}", fontsize=10)
    right.legend()
    figure.tight_layout()
    figure.savefig(out, dpi=110)
    print("saved", out)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--teacher", help="a local Qwen2.5-VL folder to use as the teacher")
    parser.add_argument("--out", default="docs/attribution-heatmap.png")
    arguments = parser.parse_args()
    main(arguments.teacher, arguments.out)

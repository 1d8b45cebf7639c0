"""The README's worked examples: a hard task of each family, solved with a tool, then an answer.

Run from the repository root: ``python docs/example.py`` saves the pictures under docs/.
"""

import gymnasium as gym
from PIL import Image

import iapo_bench  # noqa: F401  (registers the ids)


def solve(env_id: str, seed: int, difficulty: int, actions: list[str], name: str) -> float:
    """Play ``actions`` on one task; save what was shown and what the tool returned."""
    env = gym.make(env_id, difficulty=difficulty)
    obs, info = env.reset(seed=seed)
    print(env_id, "asks:", info["messages"][1]["content"][1]["text"])
    Image.fromarray(obs["images"][0]).save(f"docs/{name}-shown.png")
    for step, action in enumerate(actions):
        obs, reward, terminated, _, info = env.step(action)
        if not terminated:
            print("  the tool said:", info["messages"][-1]["content"][0]["text"][:200])
            suffix = "" if step == 0 else f"-{step + 1}"
            Image.fromarray(obs["images"][-1]).save(f"docs/{name}-tool{suffix}.png")
    print("  reward", reward, info["rewards"])
    return reward


def call(name: str, arguments: str) -> str:
    """A tool call as the model writes it."""
    return f'<tool_call>{{"name": "{name}", "arguments": {arguments}}}</tool_call>'


solve(
    "ToolUse-Chart-v0",
    36,
    2,
    [call("zoom", '{"box": [210, 236, 246, 256], "factor": 4}'), "<answer>16</answer>"],
    "example",
)
solve(
    "ToolUse-OCR-v0",
    10,
    2,
    [call("zoom", '{"box": [150, 92, 240, 120], "factor": 4}'), "<answer>WN2K-4362-W2</answer>"],
    "example-ocr",
)
solve(
    "ToolUse-ImageSearch-v0",
    4,
    3,
    [
        call("search_images", '{"query": [86, 147, 268, 329], "k": 5}'),
        call("open_item", '{"item_id": "G-00682"}'),
        "<answer>308</answer>",
    ],
    "example-search",
)

"""The README's worked example: one hard chart task, solved by a zoom then an answer."""

import gymnasium as gym
from PIL import Image

import iapo_bench  # noqa: F401  (registers ToolUse-Chart-v0)

env = gym.make("ToolUse-Chart-v0", difficulty=2)
obs, info = env.reset(seed=36)
print(info["messages"][1]["content"][1]["text"])  # the question
Image.fromarray(obs["images"][0]).save("docs/example-shown.png")

call = (
    '<tool_call>{"name": "zoom", "arguments": {"box": [210, 236, 246, 256], "factor": 4}}'
    "</tool_call>"
)
obs, reward, terminated, truncated, info = env.step(call)
print(info["messages"][-1]["content"][0]["text"])  # what the tool said
Image.fromarray(obs["images"][-1]).save("docs/example-zoom.png")

obs, reward, terminated, truncated, info = env.step("The zoom reads 16. <answer>16</answer>")
print(reward, terminated, info["rewards"])

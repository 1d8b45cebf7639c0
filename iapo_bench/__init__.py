"""iapo-bench: tool-use environments, rewards, baselines and a leaderboard for small VLMs.

Importing the package registers the Gymnasium ids (``ToolUse-Chart-v0``)::

    import gymnasium as gym
    import iapo_bench

    env = gym.make("ToolUse-Chart-v0")
    obs, info = env.reset(seed=3)

The method it implements is IAPO (arXiv 2606.11652); see the README for the layout.
"""

from importlib.metadata import PackageNotFoundError, version

from iapo_bench import envs as envs  # registers the env ids

try:
    __version__ = version("iapo-bench")
except PackageNotFoundError:  # running from a source tree without an install
    __version__ = "0+unknown"

__all__ = ["__version__", "envs"]

"""iapo-bench: tool-use environments, rewards, baselines and a leaderboard for small VLMs.

Importing the package registers the Gymnasium ids (``ToolUse-Chart-v0``)::

    import gymnasium as gym
    import iapo_bench

    env = gym.make("ToolUse-Chart-v0")
    obs, info = env.reset(seed=3)

It imports nothing else: the ids are registered the moment gymnasium is imported (see
:mod:`iapo_bench._registration`), and subpackages load when first used
(``iapo_bench.envs``, ``iapo_bench.rewards``, ...), so the bottom layer
(``import iapo_bench.core``) stands alone.

The method it implements is IAPO (arXiv 2606.11652); see the README for the layout.
"""

import importlib
from importlib.metadata import PackageNotFoundError, version
from typing import Any

from iapo_bench._registration import register_when_gymnasium_loads

try:
    __version__ = version("iapo-bench")
except PackageNotFoundError:  # running from a source tree without an install
    __version__ = "0+unknown"

_SUBPACKAGES = (
    "adapters",
    "baselines",
    "envs",
    "leaderboard",
    "models",
    "rewards",
    "tools",
    "train",
)

__all__ = ["__version__", *_SUBPACKAGES]

register_when_gymnasium_loads()


def __getattr__(name: str) -> Any:
    # ``iapo_bench.envs`` and friends load on first use (PEP 562).
    if name in _SUBPACKAGES:
        return importlib.import_module(f"iapo_bench.{name}")
    raise AttributeError(f"module 'iapo_bench' has no attribute {name!r}")

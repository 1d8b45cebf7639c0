"""Gymnasium environments of multimodal tool-use tasks, and the task families behind them.

Importing this package registers every family and its Gymnasium id (``ToolUse-Chart-v0``,
``ToolUse-OCR-v0``, ``ToolUse-ImageSearch-v0``); ``gym.make("iapo_bench:ToolUse-Chart-v0")``
imports it for you. Local copies of public datasets play through the same ids:
``gym.make("ToolUse-Chart-v0", source="chartqa:/path/to/ChartQA Dataset/test")``
(:mod:`iapo_bench.envs.loaders`).
"""

import gymnasium as gym

from iapo_bench.envs.bars.family import BarsFamily
from iapo_bench.envs.chart.family import ChartFamily
from iapo_bench.envs.env import ToolUseEnv
from iapo_bench.envs.family import (
    SPLIT_SEEDS,
    FrozenTestList,
    TaskFamily,
    TaskSource,
    families,
    get_family,
    load_task,
    parse_task_id,
    register_family,
)
from iapo_bench.envs.loaders import FORMATS, open_source
from iapo_bench.envs.ocr.family import OcrFamily
from iapo_bench.envs.search.family import SearchFamily
from iapo_bench.envs.spaces import ImageSpace, UnicodeText

__all__ = [
    "FORMATS",
    "SPLIT_SEEDS",
    "BarsFamily",
    "ChartFamily",
    "FrozenTestList",
    "ImageSpace",
    "OcrFamily",
    "SearchFamily",
    "TaskFamily",
    "TaskSource",
    "ToolUseEnv",
    "UnicodeText",
    "env_ids",
    "families",
    "family_for_env_id",
    "get_family",
    "load_task",
    "open_source",
    "parse_task_id",
    "register_family",
]

register_family(ChartFamily())
register_family(OcrFamily())
register_family(SearchFamily())
register_family(BarsFamily())


def env_ids() -> list[str]:
    """The Gymnasium ids of every registered family."""
    return [family.env_id for family in families().values()]


def family_for_env_id(env_id: str) -> TaskFamily:
    """The family behind a Gymnasium id (``KeyError`` naming the known ids otherwise)."""
    env_id = env_id.removeprefix("iapo_bench:")
    for family in families().values():
        if family.env_id == env_id:
            return family
    raise KeyError(f"unknown env id {env_id!r}; known: {env_ids()}")


for _family in families().values():
    if _family.env_id not in gym.registry:
        gym.register(
            id=_family.env_id,
            entry_point="iapo_bench.envs.env:ToolUseEnv",
            kwargs={"family": _family.name},
        )

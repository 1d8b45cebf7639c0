"""The Gymnasium ids of the built-in families, registered without importing the package.

``import iapo_bench`` must make ``gym.make("ToolUse-Chart-v0")`` work, yet importing the
bottom layer (``iapo_bench.core``) must not import gymnasium or the envs. So the package
registers these ids with gymnasium's registry as soon as gymnasium is imported: at once when
it already is, otherwise through a one-shot import hook that runs right after gymnasium
finishes loading. The entry point imports :mod:`iapo_bench.envs` only when an env is made.
Families added later with :func:`iapo_bench.envs.register_family` register their own ids
when :mod:`iapo_bench.envs` is imported.
"""

from __future__ import annotations

import importlib.abc
import importlib.machinery
import importlib.util
import sys
from types import ModuleType
from typing import Any

__all__ = ["ENV_IDS", "register_env_ids", "register_when_gymnasium_loads"]

ENV_IDS: dict[str, str] = {
    "ToolUse-Chart-v0": "chart",
    "ToolUse-OCR-v0": "ocr",
    "ToolUse-ImageSearch-v0": "search",
    "ToolUse-Bars-v0": "bars",
}
"""Built-in Gymnasium ids and the family each makes (a test holds this to the families)."""

ENTRY_POINT = "iapo_bench.envs.env:ToolUseEnv"
"""What ``gym.make`` imports and calls, with ``family=`` the id's family."""


def register_env_ids() -> None:
    """Register :data:`ENV_IDS` with gymnasium's registry (ids already there are kept)."""
    import gymnasium

    for env_id, family in ENV_IDS.items():
        if env_id not in gymnasium.registry:
            gymnasium.register(id=env_id, entry_point=ENTRY_POINT, kwargs={"family": family})


class _Loader(importlib.abc.Loader):
    """Gymnasium's own loader, then our registration."""

    def __init__(self, loader: Any) -> None:
        self.loader = loader

    def create_module(self, spec: importlib.machinery.ModuleSpec) -> ModuleType | None:
        return self.loader.create_module(spec)

    def exec_module(self, module: ModuleType) -> None:
        self.loader.exec_module(module)
        register_env_ids()


class _Hook(importlib.abc.MetaPathFinder):
    """Finds gymnasium with the other finders and wraps its loader; removes itself."""

    def find_spec(self, name: str, path: Any, target: Any = None) -> Any:
        if name != "gymnasium":
            return None
        if self in sys.meta_path:
            sys.meta_path.remove(self)
        spec = importlib.util.find_spec(name)
        if spec is not None and spec.loader is not None:
            spec.loader = _Loader(spec.loader)
        return spec


def register_when_gymnasium_loads() -> None:
    """Register the ids now if gymnasium is imported, else right after it is."""
    if "gymnasium" in sys.modules:
        register_env_ids()
    elif not any(isinstance(finder, _Hook) for finder in sys.meta_path):
        sys.meta_path.insert(0, _Hook())

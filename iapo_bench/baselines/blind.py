"""A policy that sees no image: the text-only shortcut of any policy.

``Blind(policy)`` hands the policy every observation with each image replaced by a white one
of the same size (so the prompt, its image tokens and every position stay as they were): what
the policy scores so is what it can do from the text alone. A task that needs its image scores
far lower blind; a policy that scores the same blind never looked. ``iapo-bench run -a
blind:SPEC`` evaluates the blind form of any agent spec (``blind:tiny-vlm``).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

__all__ = ["Blind"]


class Blind:
    """``policy`` with every image it is shown blanked (white, same size)."""

    def __init__(self, policy: Any) -> None:
        self.policy = policy
        self.name = f"blind:{policy.name}"
        self.model_name = getattr(policy, "model_name", None)
        self.chat_template_hash = getattr(policy, "chat_template_hash", None)
        self.settings = {**dict(getattr(policy, "settings", None) or {}), "images": "blanked"}

    def act(
        self, observations: Sequence[dict[str, Any]], infos: Sequence[dict[str, Any]]
    ) -> list[Any]:
        """The policy's messages for the observations with their images blanked."""
        blanked = [
            {**obs, "images": tuple(np.full_like(image, 255) for image in obs["images"])}
            for obs in observations
        ]
        return self.policy.act(blanked, infos)

    @property
    def last_usage(self) -> Any:
        """The wrapped policy's usage of its last call."""
        return getattr(self.policy, "last_usage", None)

    def reseed(self, seed: int) -> None:
        """Reseed the wrapped policy."""
        reseed = getattr(self.policy, "reseed", None)
        if callable(reseed):
            reseed(seed)

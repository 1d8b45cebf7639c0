"""A policy that is a transformers vision-language model: Qwen2.5-VL first, any chat VLM next.

:class:`TransformersVLMPolicy` renders each observation's chat (the env's ``info["messages"]``,
with its images put into their placeholders by :mod:`iapo_bench.models.inputs`) with the
processor's chat template, generates for the whole batch at once, and returns the new text.
What the trainer needs is kept from the last call in :attr:`~TransformersVLMPolicy.last`:
each episode's prompt token ids, the generated token ids and their log-probabilities under
the sampling distribution.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from iapo_bench.baselines.base import Info, Observation
from iapo_bench.models.inputs import encode
from iapo_bench.models.load import TINY_VLM_PATH

__all__ = [
    "TINY_VLM_PATH",
    "Generation",
    "TransformersVLMPolicy",
    "require_train_extra",
    "tiny_vlm_policy",
]


class Generation(BaseModel):
    """One generated message and the token bookkeeping a trainer needs."""

    model_config = ConfigDict(frozen=True)

    text: str = Field(description="The decoded message, special tokens removed.")
    prompt_ids: tuple[int, ...] = Field(description="The prompt's token ids, padding removed.")
    completion_ids: tuple[int, ...] = Field(
        description="The generated token ids, up to and including the end-of-turn token."
    )
    logprobs: tuple[float, ...] = Field(
        description="Log-probability of each generated token under the sampling distribution."
    )


class TransformersVLMPolicy:
    """A local transformers VLM as a batched :class:`~iapo_bench.baselines.base.Policy`.

    The env's system message already holds the tools (schemas in a Hermes ``<tools>`` block,
    as Qwen2.5's template writes them, or signatures in a family's compact prompt style), so
    they reach the model through the chat template without being passed a second time as
    ``tools=``.

    Args:
        model: A ``*ForConditionalGeneration`` vision-language model.
        processor: Its processor (image processor, tokenizer, chat template).
        name: The name results show; defaults to the model's name or path.
        max_new_tokens: Tokens generated per message at most.
        temperature: Sampling temperature; 0 decodes greedily.
        top_p: Nucleus sampling mass.
        seed: Seeds sampling together with each batch's prompts, so a run can be replayed.
    """

    def __init__(
        self,
        model: Any,
        processor: Any,
        *,
        name: str | None = None,
        max_new_tokens: int = 128,
        temperature: float = 0.0,
        top_p: float = 1.0,
        seed: int = 0,
    ) -> None:
        self.model = model
        self.processor = processor
        self.model_name = getattr(model, "name_or_path", "") or type(model).__name__
        self.name = name or self.model_name
        self.max_new_tokens = max_new_tokens
        self.temperature = temperature
        self.top_p = top_p
        self.seed = seed
        self.last: list[Generation] = []
        """The generations of the last :meth:`act`, in order."""

    @classmethod
    def from_pretrained(cls, path: str, **options: Any) -> TransformersVLMPolicy:
        """A policy from any model name :func:`~iapo_bench.models.load.load_vlm` knows.

        A local folder (or hub id) holding a model and its processor, ``tiny-vlm`` or
        ``random:...``. Raises ``ValueError`` naming the problem when nothing loads.
        """
        from iapo_bench.models.load import load_vlm

        model, processor = load_vlm(path)
        return cls(model, processor, **options)

    @property
    def settings(self) -> dict[str, float | int | str]:
        """What changes what it writes: its weights and generation settings (recorded).

        The weights' hash keeps runs and the output cache from mixing two checkpoints saved
        under one folder name (a training run overwrites its checkpoint).
        """
        from iapo_bench.models.load import weights_sha256

        return {
            "weights_sha256": weights_sha256(self.model)[:16],
            "max_new_tokens": self.max_new_tokens,
            "temperature": self.temperature,
            "top_p": self.top_p,
        }

    @property
    def chat_template_hash(self) -> str:
        """SHA-256 of the chat template, recorded with results."""
        return hashlib.sha256((self.processor.chat_template or "").encode()).hexdigest()[:16]

    def reseed(self, seed: int) -> None:
        """Sample with ``seed`` from now on (the harness reseeds before each repeat)."""
        self.seed = seed

    def act(self, observations: Sequence[Observation], infos: Sequence[Info]) -> list[str]:
        """One generated message per observation, generated as one batch."""
        self.last = self.generate(observations, infos)
        return [generation.text for generation in self.last]

    @property
    def last_usage(self) -> list[dict[str, int]]:
        """Prompt and generated token counts of the last :meth:`act`, for the harness."""
        return [
            {"prompt_tokens": len(g.prompt_ids), "completion_tokens": len(g.completion_ids)}
            for g in self.last
        ]

    def generate(
        self, observations: Sequence[Observation], infos: Sequence[Info]
    ) -> list[Generation]:
        """Generate for a batch and keep the token ids and log-probs of each message."""
        from iapo_bench.models.generate import sample, sampling_seed

        batch = encode(
            self.processor,
            [info["messages"] for info in infos],
            [obs["images"] for obs in observations],
        ).to(self.model.device)
        tokenizer = self.processor.tokenizer
        # Seeded by the seed and the batch's prompts, not by how many calls came before: a
        # batch samples the same wherever and whenever it runs (workers, resumes).
        digest = hashlib.sha256(batch["input_ids"].cpu().numpy().tobytes()).hexdigest()
        outputs = sample(
            self.model,
            tokenizer,
            batch,
            max_new_tokens=self.max_new_tokens,
            temperature=self.temperature,
            top_p=self.top_p,
            seed=sampling_seed(self.seed, digest),
            logprobs=True,
        )
        generations = []
        for row, (ids, logprobs, _) in enumerate(outputs):
            prompt = batch["input_ids"][row][batch["attention_mask"][row].bool()].tolist()
            generations.append(
                Generation(
                    text=tokenizer.decode(ids, skip_special_tokens=True),
                    prompt_ids=tuple(prompt),
                    completion_ids=tuple(ids),
                    logprobs=tuple(logprobs or ()),
                )
            )
        return generations


def require_train_extra(who: str) -> None:
    """Raise ``ValueError`` saying how to install torch and transformers when they are missing."""
    try:
        import torch  # noqa: F401
        import transformers  # noqa: F401
    except ImportError:
        raise ValueError(
            f"{who} needs torch and transformers: pip install torch (the CPU build: "
            'torch==2.13.0), then pip install "iapo-bench[train]"'
        ) from None


def tiny_vlm_policy(seed: int = 0) -> TransformersVLMPolicy:
    """The embedded default model: the warm-started tiny VLM, greedy, loaded offline.

    Raises ``ValueError`` when torch and transformers (the ``[train]`` extra) are missing.
    """
    require_train_extra("the tiny-vlm policy")
    return TransformersVLMPolicy.from_pretrained(
        str(TINY_VLM_PATH), name="tiny-vlm", max_new_tokens=96, seed=seed
    )

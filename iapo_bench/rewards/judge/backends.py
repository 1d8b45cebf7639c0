"""Judge models: the :class:`JudgeBackend` protocol and its two backends.

- :class:`JudgeReply`: what a backend makes of one prompt (its raw output, maybe a score).
- :class:`OpenAIJudge`: a model behind any OpenAI-compatible endpoint (OpenAI, vLLM, SGLang,
  Ollama), asked through the judge's :class:`~iapo_bench.aio.Requester`.
- :class:`TransformersJudge`: a local causal LM, scored by the probabilities it gives the
  template's answers (its output always parses: the strict reading of replies does not
  concern it).

The openai, torch and transformers imports are lazy: this module imports without them.
"""

from __future__ import annotations

import asyncio
import functools
import itertools
import threading
from collections.abc import Sequence
from typing import Any, Protocol

from pydantic import BaseModel, ConfigDict, Field

from iapo_bench.aio import BadReply, Endpoint, Requester
from iapo_bench.rewards.judge.templates import JudgeTemplate

__all__ = ["JudgeBackend", "JudgeReply", "OpenAIJudge", "TransformersJudge"]


class JudgeReply(BaseModel):
    """What a backend makes of one prompt: its raw output, and a score if it computed one."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    raw: str = Field(description="The raw output, kept for audit.")
    score: float | None = Field(
        default=None,
        ge=0.0,
        le=1.0,
        description="The score, for backends that score the answers themselves; "
        "None to read it from ``raw`` with the template.",
    )


class JudgeBackend(Protocol):
    """A judge model. :class:`~iapo_bench.rewards.judge.LLMJudge` calls :meth:`complete`.

    An endpoint takes one prompt a call (``max_batch = 1``) and gets its concurrency from
    the judge's requester; a local model takes a batch and runs it as one forward pass. The
    template is passed along for backends that score its answers themselves, and the judge's
    requester for backends that need its client (made for :attr:`endpoint`).
    """

    name: str
    """Identifies the model and where it runs; part of the cache key."""
    max_batch: int
    """The most prompts one :meth:`complete` call takes."""
    endpoint: Endpoint | None
    """The server the judge's requester makes a client for; None for a local model."""

    @property
    def provenance(self) -> dict[str, Any]:
        """The model and the request settings that can change a verdict (JSON-ready)."""
        ...

    async def complete(
        self, prompts: Sequence[str], template: JudgeTemplate, requester: Requester
    ) -> list[JudgeReply]:
        """One reply per prompt, in order; raises when the model cannot be reached."""
        ...


class OpenAIJudge:
    """A judge behind any OpenAI-compatible chat endpoint (OpenAI, vLLM, SGLang, Ollama).

    The judge's :class:`~iapo_bench.aio.Requester` owns the client (one per event loop), the
    timeout and the retries; this class says what to ask: the prompt as one user message,
    temperature 0, at most ``max_tokens`` tokens back. The API key is read from the
    environment variable ``api_key_env`` when the client is made, never stored; local
    servers that need none get ``"EMPTY"``. Needs the ``[judge]`` extra (the ``openai``
    client, 2.x or 3.x).

    Args:
        model: The model name the endpoint serves.
        base_url: The endpoint, e.g. ``"http://localhost:8000/v1"``; None for OpenAI's.
        api_key_env: The environment variable holding the API key.
        max_tokens: The longest reply asked for; a verdict needs a word.
    """

    max_batch = 1

    def __init__(
        self,
        model: str,
        base_url: str | None = None,
        api_key_env: str = "OPENAI_API_KEY",
        max_tokens: int = 8,
    ) -> None:
        try:
            import openai  # noqa: F401
        except ImportError:
            raise ImportError(
                "OpenAIJudge needs the openai client: pip install 'iapo-bench[judge]'"
            ) from None
        if not model:
            raise ValueError("model must be a non-empty model name")
        if max_tokens < 1:
            raise ValueError(f"max_tokens must be >= 1, got {max_tokens}")
        self.model, self.max_tokens = model, max_tokens
        self.endpoint = Endpoint(base_url=base_url, api_key_env=api_key_env)
        self.name = f"openai:{model}@{self.endpoint.url}"

    @property
    def base_url(self) -> str | None:
        """The endpoint's base URL; None for OpenAI's."""
        return self.endpoint.base_url

    @property
    def api_key_env(self) -> str:
        """The environment variable holding the API key."""
        return self.endpoint.api_key_env

    @property
    def provenance(self) -> dict[str, Any]:
        """The model, the endpoint and the sampling settings sent with every request."""
        return {
            "name": self.name,
            "model": self.model,
            "base_url": self.endpoint.url,
            "temperature": 0.0,
            "max_tokens": self.max_tokens,
        }

    async def complete(
        self, prompts: Sequence[str], template: JudgeTemplate, requester: Requester
    ) -> list[JudgeReply]:
        """One chat completion per prompt (temperature 0), run concurrently."""
        client = requester.client()

        async def ask(prompt: str) -> JudgeReply:
            response = await client.chat.completions.create(
                model=self.model,
                messages=[{"role": "user", "content": prompt}],
                max_tokens=self.max_tokens,
                temperature=0,
            )
            try:
                content = response.choices[0].message.content
            except (AttributeError, IndexError, KeyError, TypeError) as error:
                raise BadReply(f"the reply is not a chat completion: {error}") from None
            return JudgeReply(raw=content or "")

        return list(await asyncio.gather(*(ask(p) for p in prompts)))

    def __reduce__(self) -> tuple[Any, tuple[Any, ...]]:
        return (OpenAIJudge, (self.model, self.base_url, self.api_key_env, self.max_tokens))

    def __repr__(self) -> str:
        return f"OpenAIJudge({self.model!r}, base_url={self.base_url!r})"


class TransformersJudge:
    """A judge run locally: a transformers causal LM, scored by what it would answer.

    Instead of generating text, it reads the probability the model gives each of the
    template's answers right after the prompt (YES and NO; or 0 to 10), normalised over
    them, and scores their expected value: p(YES) for ``yes_no``. A batch of prompts is one
    left-padded forward pass under ``torch.no_grad()``. Its output always parses, even from a
    random model; the raw output lists the answers with their probabilities
    (``"YES p=0.613, NO p=0.387"``).

    The prompt goes through the tokenizer's chat template when it has one (else it is
    followed by a new line). Answers that are
    one token each are read from the next-token distribution; otherwise (tokenizers that
    split "10" into digits) each answer's whole token sequence is scored, ended by the
    end-of-sequence token so that "1" does not take the probability of "10".

    Args:
        model: A causal LM (``AutoModelForCausalLM``); it is put in eval mode.
        tokenizer: Its tokenizer.
        device: Where to run it; None keeps the model where it is.
        batch_size: The most prompts one forward pass takes.
        name: Names the model in the cache key; by default its path, or for a model without
            one (built in memory) a hash of its weights.
    """

    def __init__(
        self,
        model: Any,
        tokenizer: Any,
        device: str | None = None,
        batch_size: int = 8,
        name: str | None = None,
    ) -> None:
        import inspect

        if batch_size < 1:
            raise ValueError(f"batch_size must be >= 1, got {batch_size}")
        self.model = (model if device is None else model.to(device)).eval()
        self.tokenizer = tokenizer
        self.max_batch = batch_size
        self._name = name
        self._lock = threading.Lock()  # one forward pass at a time: they share the cores
        parameters = inspect.signature(self.model.forward).parameters
        self._keeps_logits = "logits_to_keep" in parameters

    @classmethod
    def from_pretrained(
        cls, path: str, device: str = "cpu", batch_size: int = 8, **model_kwargs: Any
    ) -> TransformersJudge:
        """A judge from a local folder or hub id (loaded as the user names it)."""
        from transformers import AutoModelForCausalLM, AutoTokenizer

        tokenizer = AutoTokenizer.from_pretrained(path)
        model = AutoModelForCausalLM.from_pretrained(path, **model_kwargs)
        return cls(model, tokenizer, device=device, batch_size=batch_size, name=str(path))

    @functools.cached_property
    def name(self) -> str:
        """``"transformers:<path>"``, or a hash of the weights for a model without a path."""
        if self._name or getattr(self.model, "name_or_path", ""):
            return f"transformers:{self._name or self.model.name_or_path}"
        from iapo_bench.models.load import state_fingerprint

        return f"transformers:{type(self.model).__name__}:{state_fingerprint(self.model)[:16]}"

    endpoint = None
    """A local model has no endpoint: its judge's requester makes no client."""

    @property
    def provenance(self) -> dict[str, Any]:
        """What identifies its verdicts: the model (its path, or a hash of its weights)."""
        return {"name": self.name, "scoring": "answer probabilities"}

    async def complete(
        self,
        prompts: Sequence[str],
        template: JudgeTemplate,
        requester: Requester | None = None,
    ) -> list[JudgeReply]:
        """Score the prompts in a worker thread, so the event loop (and its timeouts) go on."""
        return await asyncio.to_thread(self.score, prompts, template)

    def score(self, prompts: Sequence[str], template: JudgeTemplate) -> list[JudgeReply]:
        """One reply per prompt: the expected score and the answers' probabilities."""
        probabilities = self.answer_probabilities(prompts, template.answers)
        replies = []
        for row in probabilities:
            order = sorted(range(len(row)), key=lambda i: -row[i])
            raw = ", ".join(f"{template.answers[i]} p={row[i]:.3f}" for i in order)
            score = sum(p * s for p, s in zip(row, template.scores, strict=True))
            replies.append(JudgeReply(raw=raw, score=min(1.0, max(0.0, score))))
        return replies

    def answer_probabilities(
        self, prompts: Sequence[str], answers: Sequence[str]
    ) -> list[list[float]]:
        """For each prompt, the probability of each answer, normalised over the answers."""
        import torch

        prompt_ids = [self._prompt_ids(p) for p in prompts]
        answer_ids = [self.tokenizer(a, add_special_tokens=False)["input_ids"] for a in answers]
        firsts = [ids[0] for ids in answer_ids if len(ids) == 1]
        with self._lock, torch.no_grad():
            if len(firsts) == len(answers) and len(set(firsts)) == len(firsts):
                log_p = self._log_probs(prompt_ids, keep=1)[:, 0, firsts]
            else:
                log_p = self._sequence_log_probs(prompt_ids, answer_ids)
            return torch.softmax(log_p.double(), dim=-1).tolist()

    def _prompt_ids(self, prompt: str) -> list[int]:
        tokenizer = self.tokenizer
        if getattr(tokenizer, "chat_template", None):
            text = tokenizer.apply_chat_template(
                [{"role": "user", "content": prompt}], add_generation_prompt=True, tokenize=False
            )
            return list(tokenizer(text, add_special_tokens=False)["input_ids"])
        return list(tokenizer(prompt + "\n")["input_ids"])

    def _sequence_log_probs(self, prompt_ids: list[list[int]], answer_ids: list[list[int]]) -> Any:
        import torch

        prefix = any(a != b and a == b[: len(a)] for a, b in itertools.permutations(answer_ids, 2))
        eos = self.tokenizer.eos_token_id
        if prefix and eos is not None:
            answer_ids = [[*ids, eos] for ids in answer_ids]
        longest = max(map(len, answer_ids))
        rows = [p + a for p in prompt_ids for a in answer_ids]
        # Position longest - n + j of the kept window predicts token j of an answer of n.
        log_p = self._log_probs(rows, keep=longest + 1)
        totals = torch.zeros(len(rows), dtype=log_p.dtype)
        for r in range(len(rows)):
            ids = answer_ids[r % len(answer_ids)]
            for j, token in enumerate(ids):
                totals[r] += log_p[r, longest - len(ids) + j, token]
        return totals.view(len(prompt_ids), len(answer_ids))

    def _log_probs(self, rows: list[list[int]], keep: int) -> Any:
        """Log-probabilities at the last ``keep`` positions of each row, left-padded."""
        import torch

        tokenizer = self.tokenizer
        pad = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else 0
        width = max(map(len, rows))
        ids = torch.tensor([[pad] * (width - len(r)) + r for r in rows])
        mask = torch.tensor([[0] * (width - len(r)) + [1] * len(r) for r in rows])
        # Positions count real tokens only, so a padded row reads as it would alone.
        positions = (mask.cumsum(-1) - 1).clamp(min=0)
        device = next(self.model.parameters()).device
        extra = {"logits_to_keep": keep} if self._keeps_logits else {}
        logits = self.model(
            input_ids=ids.to(device),
            attention_mask=mask.to(device),
            position_ids=positions.to(device),
            **extra,
        ).logits[:, -keep:]
        return torch.log_softmax(logits.float(), dim=-1).cpu()

    def __repr__(self) -> str:
        return f"TransformersJudge({self.name!r})"

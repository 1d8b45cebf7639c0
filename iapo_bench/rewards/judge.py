"""LLM judge reward: ask a judge model whether an answer means the same as the reference.

Exact match fails answers that are right in other words ("five" for "5", "Sept. 3" for
"3 September"); a judge model reads them as a person would. VTool-R1 scores its answers so.

- :class:`JudgeInput`, :class:`Verdict`, :class:`JudgeRecord`: what is judged, the outcome
  (with the judge's raw output, kept for audit) and a cached record.
- :class:`JudgeTemplate`, :data:`TEMPLATES`: the prompts: ``"yes_no"`` (reply YES or NO,
  VTool-R1 style) and ``"graded"`` (an integer 0 to 10, scored as a tenth of it).
- :class:`JudgeBackend`: the protocol a judge model implements, and its two backends:
  :class:`OpenAIJudge` (any OpenAI-compatible endpoint: OpenAI, vLLM, SGLang, Ollama) and
  :class:`TransformersJudge` (a local causal LM, scored by the probabilities it gives the
  template's answers).
- :class:`JudgeCache`: the persistent SQLite cache of verdicts.
- :class:`LLMJudge`: the reward. Batched and concurrent, with timeouts, retries with
  backoff, the cache, and a flagged fallback to exact match when the judge is unavailable.
- :func:`judge_from_env`: the judge a rubric spec's ``llm_judge`` names, from the environment.

The judge never fails an episode: when the endpoint is down, slow or returns something
unreadable, every attempt is retried and then the verdict is exact match's, marked
``fallback=True`` with the error kept. Fallbacks are never cached, so a later run with the
judge up judges them again. The openai, torch and transformers imports are lazy: this module
imports without them.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime
import functools
import hashlib
import itertools
import json
import logging
import os
import random
import re
import sqlite3
import threading
import weakref
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any, Literal, Protocol

from pydantic import BaseModel, ConfigDict, Field, model_validator

from iapo_bench.aio import (
    backoff_delay,
    check_request_settings,
    openai_client,
    start_loop,
    stop_loop,
)
from iapo_bench.cache import cache_root
from iapo_bench.core import AnswerType, Task, Trajectory
from iapo_bench.rewards.match import match_text

__all__ = [
    "TEMPLATES",
    "JudgeBackend",
    "JudgeCache",
    "JudgeInput",
    "JudgeRecord",
    "JudgeReply",
    "JudgeTemplate",
    "LLMJudge",
    "OpenAIJudge",
    "TransformersJudge",
    "Verdict",
    "default_cache_path",
    "judge_from_env",
]

logger = logging.getLogger(__name__)

_FROZEN = ConfigDict(frozen=True, extra="forbid")


class JudgeInput(BaseModel):
    """One answer to judge against its reference.

    >>> JudgeInput(question="How many?", reference="5", prediction="five").answer_type.value
    'text'
    """

    model_config = _FROZEN

    question: str = Field(description="The question the answer replies to.")
    reference: str = Field(description="The reference answer.")
    prediction: str = Field(description="The answer to judge.")
    answer_type: AnswerType = Field(
        default=AnswerType.TEXT, description="How exact match compares them (the fallback)."
    )


class Verdict(BaseModel):
    """The outcome of judging one answer: a score in [0, 1] and where it came from."""

    model_config = _FROZEN

    score: float = Field(ge=0.0, le=1.0, description="The judge's score, or the fallback's.")
    raw: str | None = Field(
        default=None, description="The judge's raw output (the last one, when it failed)."
    )
    fallback: bool = Field(
        default=False, description="Whether the score is exact match's, the judge having failed."
    )
    error: str | None = Field(default=None, description="Why the judge failed, on a fallback.")
    cached: bool = Field(default=False, description="Whether it was read from the cache.")


class JudgeRecord(BaseModel):
    """One cached verdict, with everything it was keyed by: the audit trail of a judge."""

    model_config = _FROZEN

    key: str = Field(description="The cache key, SHA-256 of everything below but the outcome.")
    judge: str = Field(description="The backend's name (model and endpoint).")
    template: str = Field(description="The template's name.")
    template_sha256: str = Field(description="The template's hash.")
    input: JudgeInput = Field(description="What was judged.")
    score: float = Field(description="The judge's score.")
    raw: str = Field(description="The judge's raw output.")
    created: str = Field(description="When it was judged (UTC, ISO 8601).")


class JudgeTemplate(BaseModel):
    """A judge prompt and the replies it allows, each with its score.

    The text holds ``{question}``, ``{reference}``, ``{prediction}`` and ``{answer_type}``. A
    reply is read by its first allowed answer (a whole word, any case).

    >>> TEMPLATES["yes_no"].parse("yes, it matches"), TEMPLATES["graded"].parse("7/10")
    (1.0, 0.7)
    >>> TEMPLATES["yes_no"].parse("maybe?") is None
    True
    """

    model_config = _FROZEN

    name: str = Field(description="A short name, part of the cache key.")
    text: str = Field(description="The prompt, with the four fields to fill.")
    answers: tuple[str, ...] = Field(min_length=1, description="The replies it allows.")
    scores: tuple[float, ...] = Field(description="The score of each allowed reply, in [0, 1].")

    @model_validator(mode="after")
    def _check(self) -> JudgeTemplate:
        if len(self.scores) != len(self.answers):
            raise ValueError(f"{len(self.answers)} answers but {len(self.scores)} scores")
        if not all(0.0 <= s <= 1.0 for s in self.scores):
            raise ValueError(f"scores must lie in [0, 1], got {self.scores}")
        try:
            self.text.format(question="", reference="", prediction="", answer_type="")
        except (KeyError, IndexError, ValueError) as error:
            raise ValueError(f"template text has an unknown or broken field: {error}") from None
        return self

    @property
    def sha256(self) -> str:
        """The hash of its text, answers and scores; part of the cache key."""
        payload = json.dumps([self.text, self.answers, self.scores])
        return hashlib.sha256(payload.encode()).hexdigest()

    def render(self, item: JudgeInput) -> str:
        """The prompt for one answer."""
        return self.text.format(
            question=item.question,
            reference=item.reference,
            prediction=item.prediction,
            answer_type=item.answer_type.value,
        )

    def parse(self, raw: str) -> float | None:
        """The score of the first allowed answer in ``raw``, or None when there is none."""
        # Longest first, so that "10" is not read as "1"; "7.5" is no answer at all.
        choices = "|".join(re.escape(a) for a in sorted(self.answers, key=len, reverse=True))
        found = re.search(rf"(?<![\w.])({choices})(?!\w|\.\d)", raw, re.IGNORECASE)
        if found is None:
            return None
        index = [a.casefold() for a in self.answers].index(found[1].casefold())
        return self.scores[index]


_HEADER = """\
You are grading an answer to a question about an image. Decide whether the predicted answer \
means the same as the reference answer. Ignore differences of formatting, capitalisation, \
articles and wording that do not change the meaning; numbers must agree in value, dates in \
day.

Question: {question}
Answer type: {answer_type}
Reference answer: {reference}
Predicted answer: {prediction}

"""

TEMPLATES: dict[str, JudgeTemplate] = {
    "yes_no": JudgeTemplate(
        name="yes_no",
        text=_HEADER + "Does the predicted answer match the reference answer? "
        "Reply with exactly one word: YES or NO.",
        answers=("YES", "NO"),
        scores=(1.0, 0.0),
    ),
    "graded": JudgeTemplate(
        name="graded",
        text=_HEADER + "How well does the predicted answer match the reference answer, from 0 "
        "to 10? 10 is fully correct, 0 is wrong; give partial credit only to a partly right "
        "answer (such as a list with some of its items). Reply with one integer from 0 to 10.",
        answers=tuple(str(n) for n in range(11)),
        scores=tuple(n / 10 for n in range(11)),
    ),
}
"""The judge templates by name."""


class JudgeReply(BaseModel):
    """What a backend makes of one prompt: its raw output, and a score if it computed one."""

    model_config = _FROZEN

    raw: str = Field(description="The raw output, kept for audit.")
    score: float | None = Field(
        default=None,
        ge=0.0,
        le=1.0,
        description="The score, for backends that score the answers themselves; "
        "None to read it from ``raw`` with the template.",
    )


class JudgeBackend(Protocol):
    """A judge model. :class:`LLMJudge` calls :meth:`complete` with at most ``max_batch`` prompts.

    An endpoint takes one prompt a call (``max_batch = 1``) and gets its concurrency from
    the judge; a local model takes a batch and runs it as one forward pass. The template is
    passed along for backends that score its answers themselves. A backend may also have an
    ``async def aclose()``, which :meth:`LLMJudge.close` awaits.
    """

    name: str
    """Identifies the model and where it runs; part of the cache key."""
    max_batch: int
    """The most prompts one :meth:`complete` call takes."""

    async def complete(self, prompts: Sequence[str], template: JudgeTemplate) -> list[JudgeReply]:
        """One reply per prompt, in order; raises when the model cannot be reached."""
        ...


class OpenAIJudge:
    """A judge behind any OpenAI-compatible chat endpoint (OpenAI, vLLM, SGLang, Ollama).

    The API key is read from the environment variable ``api_key_env`` when the client is
    made, never stored; local servers that need none get ``"EMPTY"``. Needs the ``[judge]``
    extra (the ``openai`` client, 2.x or 3.x).

    Args:
        model: The model name the endpoint serves.
        base_url: The endpoint, e.g. ``"http://localhost:8000/v1"``; None for OpenAI's.
        api_key_env: The environment variable holding the API key.
        timeout: Seconds the HTTP client waits for one reply.
        max_tokens: The longest reply asked for; a verdict needs a word.
    """

    max_batch = 1

    def __init__(
        self,
        model: str,
        base_url: str | None = None,
        api_key_env: str = "OPENAI_API_KEY",
        timeout: float = 30.0,
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
        if timeout <= 0:
            raise ValueError(f"timeout must be > 0, got {timeout}")
        if max_tokens < 1:
            raise ValueError(f"max_tokens must be >= 1, got {max_tokens}")
        self.model, self.base_url, self.api_key_env = model, base_url, api_key_env
        self.timeout, self.max_tokens = timeout, max_tokens
        self.name = f"openai:{model}@{base_url or 'https://api.openai.com/v1'}"
        # An async client belongs to the event loop it first ran on: one per loop.
        self._clients: weakref.WeakKeyDictionary[Any, Any] = weakref.WeakKeyDictionary()

    def _client(self) -> Any:
        return openai_client(self._clients, self.base_url, self.api_key_env, self.timeout)

    async def complete(self, prompts: Sequence[str], template: JudgeTemplate) -> list[JudgeReply]:
        """One chat completion per prompt (temperature 0), run concurrently."""
        client = self._client()

        async def ask(prompt: str) -> JudgeReply:
            response = await client.chat.completions.create(
                model=self.model,
                messages=[{"role": "user", "content": prompt}],
                max_tokens=self.max_tokens,
                temperature=0,
            )
            return JudgeReply(raw=response.choices[0].message.content or "")

        return list(await asyncio.gather(*(ask(p) for p in prompts)))

    async def aclose(self) -> None:
        """Close the client of the running event loop, if it has one."""
        client = self._clients.pop(asyncio.get_running_loop(), None)
        if client is not None:
            await client.close()

    def __reduce__(self) -> tuple[Any, tuple[Any, ...]]:
        # Pickled as its settings: clients belong to event loops and do not travel.
        settings = (self.base_url, self.api_key_env, self.timeout, self.max_tokens)
        return (OpenAIJudge, (self.model, *settings))

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
        digest = hashlib.sha256()
        for key, tensor in sorted(self.model.state_dict().items()):
            data = tensor.detach().cpu()
            data = data.float() if data.is_floating_point() else data  # numpy has no bfloat16
            digest.update(key.encode())
            digest.update(data.contiguous().numpy().tobytes())
        return f"transformers:{type(self.model).__name__}:{digest.hexdigest()[:16]}"

    async def complete(self, prompts: Sequence[str], template: JudgeTemplate) -> list[JudgeReply]:
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


def default_cache_path() -> Path:
    """``judge.sqlite3`` in the package's cache folder (:func:`iapo_bench.cache.cache_root`)."""
    return cache_root() / "judge.sqlite3"


_COLUMNS = ("key", "judge", "template", "template_sha256", "input", "score", "raw", "created")


class JudgeCache:
    """Judge verdicts stored in SQLite, shared by every judge, thread and process using the file.

    Keyed by the judge's name, the template (name and hash) and the input (:meth:`key`). Only
    the judge's own verdicts are stored, with their raw output; :meth:`records` reads them back.

    >>> import tempfile
    >>> cache = JudgeCache(Path(tempfile.mkdtemp()) / "judge.sqlite3")
    >>> item = JudgeInput(question="How many?", reference="5", prediction="five")
    >>> key = JudgeCache.key("openai:m@url", TEMPLATES["yes_no"], item)
    >>> cache.put("openai:m@url", TEMPLATES["yes_no"], item, Verdict(score=1.0, raw="YES"))
    >>> cache.get_many([key])[key].raw, len(cache)
    ('YES', 1)
    """

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._lock = threading.Lock()
        self._db = sqlite3.connect(self.path, timeout=30.0, check_same_thread=False)
        with self._lock, self._db:
            self._db.execute(
                "CREATE TABLE IF NOT EXISTS verdicts (key TEXT PRIMARY KEY, judge TEXT NOT NULL, "
                "template TEXT NOT NULL, template_sha256 TEXT NOT NULL, input TEXT NOT NULL, "
                "score REAL NOT NULL, raw TEXT NOT NULL, created TEXT NOT NULL)"
            )

    @staticmethod
    def key(judge: str, template: JudgeTemplate, item: JudgeInput) -> str:
        """SHA-256 of the judge, the template's name and hash, and the input."""
        payload = [judge, template.name, template.sha256, *item.model_dump(mode="json").values()]
        return hashlib.sha256(json.dumps(payload).encode()).hexdigest()

    def get_many(self, keys: Sequence[str]) -> dict[str, Verdict]:
        """The cached verdicts among ``keys`` (marked ``cached``), by key."""
        found: dict[str, Verdict] = {}
        unique = list(dict.fromkeys(keys))
        with self._lock:
            for start in range(0, len(unique), 500):  # SQLite caps a query's parameters
                chunk = unique[start : start + 500]
                marks = ",".join("?" * len(chunk))
                rows = self._db.execute(
                    f"SELECT key, score, raw FROM verdicts WHERE key IN ({marks})", chunk
                )
                for key, score, raw in rows:
                    found[key] = Verdict(score=score, raw=raw, cached=True)
        return found

    def put(self, judge: str, template: JudgeTemplate, item: JudgeInput, verdict: Verdict) -> None:
        """Store one verdict of the judge; fallbacks are refused (they are not its verdicts)."""
        self.put_many(judge, template, [(item, verdict)])

    def put_many(
        self, judge: str, template: JudgeTemplate, pairs: Iterable[tuple[JudgeInput, Verdict]]
    ) -> None:
        """Store the judge's verdicts of these inputs, in one transaction."""
        now = datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds")
        rows = []
        for item, verdict in pairs:
            if verdict.fallback:
                raise ValueError("a fallback verdict is not the judge's and is never cached")
            key = self.key(judge, template, item)
            row = (key, judge, template.name, template.sha256, item.model_dump_json())
            rows.append((*row, verdict.score, verdict.raw or "", now))
        marks = ",".join("?" * len(_COLUMNS))
        with self._lock, self._db:
            self._db.executemany(
                f"INSERT OR REPLACE INTO verdicts ({', '.join(_COLUMNS)}) VALUES ({marks})", rows
            )

    def records(self, judge: str | None = None) -> list[JudgeRecord]:
        """Every cached verdict (of one judge, if named), oldest first: the audit trail."""
        query = f"SELECT {', '.join(_COLUMNS)} FROM verdicts"
        query += " WHERE judge = ? ORDER BY created, rowid" if judge else " ORDER BY created, rowid"
        with self._lock:
            rows = self._db.execute(query, (judge,) if judge else ()).fetchall()
        records = []
        for row in rows:
            fields = dict(zip(_COLUMNS, row, strict=True))
            records.append(JudgeRecord.model_validate({**fields, "input": json.loads(row[4])}))
        return records

    def __len__(self) -> int:
        with self._lock:
            return self._db.execute("SELECT COUNT(*) FROM verdicts").fetchone()[0]

    def close(self) -> None:
        """Close the database."""
        with self._lock:
            self._db.close()


class LLMJudge:
    """The LLM judge reward: a score in [0, 1] for an answer, from a judge model.

    Misses of the cache go to the backend, at most ``concurrency`` calls at a time (per
    event loop), each within ``timeout`` seconds; a failed call or an unreadable reply is
    retried ``retries`` times, after ``backoff * 2**k`` seconds with jitter. An answer the
    judge still cannot give gets exact match's score (:func:`~iapo_bench.rewards.match.match_text`),
    flagged ``fallback`` with the error kept: the judge never raises for an unavailable
    model, nor silently substitutes one score for another. With no backend, every verdict is
    that fallback ("no judge configured").

    As a reward, ``judge(trajectory, task)`` returns ``{"value": score, "fallback": 0 or 1}``,
    which a :class:`~iapo_bench.rewards.rubric.Rubric` reports as ``llm_judge`` and
    ``llm_judge.fallback``. :attr:`grouped` judges a whole GRPO group concurrently.

    >>> judge = LLMJudge(None, cache_path=False)
    >>> judge.verdicts([JudgeInput(question="How many?", reference="5", prediction="five")])[0]
    Verdict(score=0.0, raw=None, fallback=True, error='no judge configured', cached=False)

    Args:
        backend: The judge model (:class:`OpenAIJudge`, :class:`TransformersJudge`), or None.
        template: A name of :data:`TEMPLATES` or a :class:`JudgeTemplate`.
        concurrency: The most backend calls in flight at once.
        timeout: Seconds one backend call may take before it counts as failed.
        retries: How many times a failed call is tried again.
        backoff: Seconds before the first retry; doubled for each next one.
        cache_path: The SQLite file; None for :func:`default_cache_path`, False for no cache.
    """

    def __init__(
        self,
        backend: JudgeBackend | None,
        template: str | JudgeTemplate = "yes_no",
        concurrency: int = 8,
        timeout: float = 30.0,
        retries: int = 3,
        backoff: float = 0.5,
        cache_path: str | Path | Literal[False] | None = None,
    ) -> None:
        if isinstance(template, str):
            if template not in TEMPLATES:
                raise ValueError(f"unknown judge template {template!r}; known: {list(TEMPLATES)}")
            template = TEMPLATES[template]
        check_request_settings(concurrency, timeout, retries, backoff)
        self.backend, self.template = backend, template
        self.concurrency = concurrency
        self.timeout = timeout
        self.retries = retries
        self.backoff = backoff
        self.cache: JudgeCache | None = None
        if cache_path is not False and backend is not None:
            self.cache = JudgeCache(default_cache_path() if cache_path is None else cache_path)
        self.name = self.__name__ = "llm_judge"
        self._semaphores: weakref.WeakKeyDictionary[Any, asyncio.Semaphore] = (
            weakref.WeakKeyDictionary()
        )
        self._loop: asyncio.AbstractEventLoop | None = None
        self._loop_lock = threading.Lock()
        self._random = random.Random()

    # -- judging -----------------------------------------------------------------------------

    async def averdicts(self, inputs: Iterable[JudgeInput]) -> list[Verdict]:
        """The verdict of each input, in order: from the cache, else judged concurrently.

        Identical inputs are judged once. A cache that cannot be read or written is skipped,
        with a warning: it never costs a verdict.
        """
        items = list(inputs)
        if self.backend is None:
            return [self._fallback(item, "no judge configured") for item in items]
        judge = self.backend.name
        keys = [JudgeCache.key(judge, self.template, item) for item in items]
        found: dict[str, Verdict] = {}
        if self.cache is not None:
            try:
                found = self.cache.get_many(keys)
            except sqlite3.Error as error:
                logger.warning("LLM judge cache %s unreadable: %s", self.cache.path, error)
        todo = {key: item for key, item in zip(keys, items, strict=True) if key not in found}
        order = list(todo)
        size = self.backend.max_batch
        chunks = [order[i : i + size] for i in range(0, len(order), size)]
        results = await asyncio.gather(*(self._judge([todo[k] for k in c]) for c in chunks))
        fresh = dict(zip(order, itertools.chain.from_iterable(results), strict=True))
        if self.cache is not None:
            judged = [(todo[k], v) for k, v in fresh.items() if not v.fallback]
            try:
                self.cache.put_many(judge, self.template, judged)
            except sqlite3.Error as error:
                logger.warning("LLM judge cache %s not written: %s", self.cache.path, error)
        failed = [v for v in fresh.values() if v.fallback]
        if failed:
            logger.warning(
                "LLM judge %s: %d of %d verdicts fell back to exact match; first error: %s",
                judge,
                len(failed),
                len(fresh),
                failed[0].error,
            )
        return [found[k] if k in found else fresh[k] for k in keys]

    async def _judge(self, items: list[JudgeInput]) -> list[Verdict]:
        """Judge one backend batch, retrying what failed, then falling back."""
        assert self.backend is not None
        prompts = [self.template.render(item) for item in items]
        verdicts: dict[int, Verdict] = {}
        errors: dict[int, str] = {}
        raws: dict[int, str] = {}
        pending = list(range(len(items)))
        async with self._semaphore():
            for attempt in range(self.retries + 1):
                if attempt:
                    await asyncio.sleep(backoff_delay(self.backoff, attempt, self._random))
                try:
                    replies = await asyncio.wait_for(
                        self.backend.complete([prompts[i] for i in pending], self.template),
                        self.timeout,
                    )
                    if len(replies) != len(pending):
                        raise RuntimeError(f"{len(replies)} replies to {len(pending)} prompts")
                except Exception as error:  # unreachable, slow or broken: all retried
                    for i in pending:
                        errors[i] = self._describe(error)
                    continue
                unread = []
                for i, reply in zip(pending, replies, strict=True):
                    score = self.template.parse(reply.raw) if reply.score is None else reply.score
                    if score is None:
                        errors[i], raws[i] = f"unreadable judge output {reply.raw!r}", reply.raw
                        unread.append(i)
                    else:
                        verdicts[i] = Verdict(score=score, raw=reply.raw)
                pending = unread
                if not pending:
                    break
        for i in pending:
            error = f"{errors[i]} (after {self.retries + 1} attempts)"
            verdicts[i] = self._fallback(items[i], error, raws.get(i))
        return [verdicts[i] for i in range(len(items))]

    def _semaphore(self) -> asyncio.Semaphore:
        loop = asyncio.get_running_loop()
        if loop not in self._semaphores:
            self._semaphores[loop] = asyncio.Semaphore(self.concurrency)
        return self._semaphores[loop]

    def _describe(self, error: BaseException) -> str:
        if isinstance(error, asyncio.TimeoutError):
            return f"no reply within {self.timeout:g} s"
        text = f"{type(error).__name__}: {error}" if str(error) else type(error).__name__
        cause = error.__cause__  # the client's "Connection error." hides "Connection refused"
        return f"{text} ({type(cause).__name__}: {cause})" if cause is not None else text

    @staticmethod
    def _fallback(item: JudgeInput, error: str, raw: str | None = None) -> Verdict:
        score = match_text(item.prediction, item.reference, item.answer_type)
        return Verdict(score=score, raw=raw, fallback=True, error=error)

    def verdicts(self, inputs: Iterable[JudgeInput]) -> list[Verdict]:
        """:meth:`averdicts` from synchronous code, with or without a running event loop.

        It runs on the judge's own event loop in a daemon thread, which keeps the endpoint's
        connections open from one call to the next.
        """
        if self.backend is None:  # nothing to wait for: no thread either
            return [self._fallback(item, "no judge configured") for item in inputs]
        loop = self._own_loop()
        try:
            running = asyncio.get_running_loop()
        except RuntimeError:
            running = None
        if running is loop:
            raise RuntimeError("verdicts() called on the judge's own loop; await averdicts()")
        return asyncio.run_coroutine_threadsafe(self.averdicts(list(inputs)), loop).result()

    def _own_loop(self) -> asyncio.AbstractEventLoop:
        with self._loop_lock:
            if self._loop is None:
                self._loop = start_loop()
                # A judge dropped without close() still ends its thread.
                weakref.finalize(self, stop_loop, self._loop)
            return self._loop

    # -- as a reward -------------------------------------------------------------------------

    def rewards(
        self, trajectories: Sequence[Trajectory], tasks: Sequence[Task]
    ) -> list[dict[str, float | None]]:
        """The reward of each (trajectory, task) pair, judged together (concurrently).

        An episode without an answer scores 0 and is not sent to the judge.
        """
        results: list[dict[str, float | None]] = [
            {"value": 0.0, "fallback": 0.0} for _ in trajectories
        ]
        asked: dict[int, JudgeInput] = {}
        for i, (trajectory, task) in enumerate(zip(trajectories, tasks, strict=True)):
            if trajectory.answer is not None:
                asked[i] = JudgeInput(
                    question=task.question,
                    reference=task.answer,
                    prediction=trajectory.answer.text,
                    answer_type=task.answer_type,
                )
        if asked:
            for i, verdict in zip(asked, self.verdicts(asked.values()), strict=True):
                results[i] = {"value": verdict.score, "fallback": float(verdict.fallback)}
        return results

    def __call__(self, trajectory: Trajectory, task: Task) -> dict[str, float | None]:
        """``{"value": score, "fallback": 1.0 or 0.0}`` for one episode (0 without an answer)."""
        return self.rewards([trajectory], [task])[0]

    @property
    def grouped(self) -> _GroupedJudge:
        """This judge as a group reward: the G answers of one prompt are judged concurrently."""
        return _GroupedJudge(self)

    def close(self) -> None:
        """Close the backend's client, stop the judge's loop and close the cache."""
        with self._loop_lock:
            loop, self._loop = self._loop, None
        if loop is not None:
            aclose = getattr(self.backend, "aclose", None)
            if aclose is not None:
                with contextlib.suppress(Exception):  # best effort: the loop is going
                    asyncio.run_coroutine_threadsafe(aclose(), loop).result(timeout=10)
            stop_loop(loop)
        if self.cache is not None:
            self.cache.close()

    def __reduce__(self) -> tuple[Any, tuple[Any, ...]]:
        # Pickled as its settings (for worker processes); the loop and cache reopen there.
        cache_path = False if self.cache is None else self.cache.path
        settings = (self.template, self.concurrency, self.timeout, self.retries, self.backoff)
        return (LLMJudge, (self.backend, *settings, cache_path))

    def __enter__(self) -> LLMJudge:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"LLMJudge({self.backend!r}, template={self.template.name!r})"


class _GroupedJudge:
    """An :class:`LLMJudge` as a group reward (``group = True``): one call per GRPO group."""

    group = True

    def __init__(self, judge: LLMJudge) -> None:
        self.judge = judge
        self.name = self.__name__ = judge.name

    def __call__(
        self, trajectories: Sequence[Trajectory], task: Task, **context: Any
    ) -> list[Mapping[str, float | None]]:
        """One reward mapping per trajectory, in order."""
        return list(self.judge.rewards(trajectories, [task] * len(trajectories)))


def judge_from_env(**options: Any) -> LLMJudge:
    """The judge that the environment configures; the rubric's ``llm_judge``.

    ``IAPO_BENCH_JUDGE_MODEL`` names the model (unset: no judge, every verdict a flagged
    exact-match fallback), ``IAPO_BENCH_JUDGE_BASE_URL`` its OpenAI-compatible endpoint,
    ``IAPO_BENCH_JUDGE_API_KEY_ENV`` the variable holding the key (default
    ``OPENAI_API_KEY``), ``IAPO_BENCH_JUDGE_TEMPLATE`` the template (default ``yes_no``).
    ``options`` go to :class:`LLMJudge`.
    """
    template = os.environ.get("IAPO_BENCH_JUDGE_TEMPLATE") or "yes_no"
    model = (os.environ.get("IAPO_BENCH_JUDGE_MODEL") or "").strip()
    if not model:
        return LLMJudge(None, template=template, **options)
    backend = OpenAIJudge(
        model,
        base_url=os.environ.get("IAPO_BENCH_JUDGE_BASE_URL") or None,
        api_key_env=os.environ.get("IAPO_BENCH_JUDGE_API_KEY_ENV") or "OPENAI_API_KEY",
    )
    return LLMJudge(backend, template=template, **options)

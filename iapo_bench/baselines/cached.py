"""A policy whose outputs are cached on disk, so a re-score does not regenerate them.

Re-scoring a run under another rubric, or resuming one, asks the same model the same prompts
again. :class:`CachedPolicy` answers those from a SQLite cache keyed by the policy's identity
(name, model, chat template, generation settings) and the exact prompt (the chat messages and
the SHA-256 of every image). Only deterministic policies are cached: greedy decoding
(``settings["temperature"] == 0``); a sampling policy's outputs are a draw, not a function of
the prompt, so :func:`cached` returns it unwrapped. A :class:`~iapo_bench.core.PolicyFailure`
is never cached (the next run asks again).
"""

from __future__ import annotations

import datetime
import hashlib
import json
import sqlite3
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from iapo_bench.cache import cache_root
from iapo_bench.core import PolicyFailure

__all__ = ["CachedPolicy", "PolicyCache", "cached", "default_cache_path"]


def default_cache_path() -> Path:
    """``policy_outputs.sqlite3`` in the package's cache folder."""
    return cache_root() / "policy_outputs.sqlite3"


class PolicyCache:
    """Outputs of deterministic policies, by key, in SQLite (shared across processes).

    >>> import tempfile
    >>> cache = PolicyCache(Path(tempfile.mkdtemp()) / "outputs.sqlite3")
    >>> cache.put_many([("k", "<answer>3</answer>", 5)])
    >>> cache.get_many(["k", "other"])
    {'k': ('<answer>3</answer>', 5)}
    """

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._lock = threading.Lock()
        self._db = sqlite3.connect(self.path, timeout=30.0, check_same_thread=False)
        with self._lock, self._db:
            self._db.execute(
                "CREATE TABLE IF NOT EXISTS outputs (key TEXT PRIMARY KEY, text TEXT NOT NULL, "
                "completion_tokens INTEGER, created TEXT NOT NULL)"
            )

    def get_many(self, keys: Sequence[str]) -> dict[str, tuple[str, int | None]]:
        """The cached ``(text, completion_tokens)`` among ``keys``."""
        found: dict[str, tuple[str, int | None]] = {}
        unique = list(dict.fromkeys(keys))
        with self._lock:
            for start in range(0, len(unique), 500):  # SQLite caps a query's parameters
                chunk = unique[start : start + 500]
                marks = ",".join("?" * len(chunk))
                query = f"SELECT key, text, completion_tokens FROM outputs WHERE key IN ({marks})"
                for key, text, tokens in self._db.execute(query, chunk):
                    found[key] = (text, tokens)
        return found

    def put_many(self, rows: Sequence[tuple[str, str, int | None]]) -> None:
        """Store ``(key, text, completion_tokens)`` rows in one transaction."""
        now = datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds")
        with self._lock, self._db:
            self._db.executemany(
                "INSERT OR REPLACE INTO outputs VALUES (?, ?, ?, ?)",
                [(key, text, tokens, now) for key, text, tokens in rows],
            )

    def __len__(self) -> int:
        with self._lock:
            return self._db.execute("SELECT COUNT(*) FROM outputs").fetchone()[0]

    def close(self) -> None:
        """Close the database."""
        with self._lock:
            self._db.close()


def _identity(policy: Any) -> dict[str, Any]:
    return {
        "name": policy.name,
        "model": getattr(policy, "model_name", None),
        "chat_template": getattr(policy, "chat_template_hash", None),
        "settings": dict(getattr(policy, "settings", None) or {}),
    }


def _key(identity: dict[str, Any], observation: Any, info: Any) -> str:
    images = [hashlib.sha256(image.tobytes() + repr(image.shape).encode()).hexdigest()
              for image in observation["images"]]  # fmt: skip
    payload = json.dumps([identity, info["messages"], images], sort_keys=True, default=str)
    return hashlib.sha256(payload.encode()).hexdigest()


class CachedPolicy:
    """``policy`` with its outputs read from and written to a :class:`PolicyCache`.

    It looks like the policy it wraps (name, model, settings, ``reseed``, ``last_usage``):
    results and metadata are the same as without the cache.
    """

    def __init__(self, policy: Any, cache: PolicyCache) -> None:
        self.policy = policy
        self.cache = cache
        self.name = policy.name
        self.model_name = getattr(policy, "model_name", None)
        self.chat_template_hash = getattr(policy, "chat_template_hash", None)
        self.settings = dict(getattr(policy, "settings", None) or {})
        self.identity = _identity(policy)
        self.last_usage: list[dict[str, int | None]] = []
        """Generated tokens of each message of the last call (cached ones as first made)."""
        self.hits = 0
        """Messages answered from the cache so far."""

    def reseed(self, seed: int) -> None:
        """Reseed the wrapped policy (its outputs are greedy: this changes none of them)."""
        reseed = getattr(self.policy, "reseed", None)
        if callable(reseed):
            reseed(seed)

    def act(self, observations: Sequence[Any], infos: Sequence[Any]) -> list[str | PolicyFailure]:
        """Cached outputs where there are some; the wrapped policy for the rest, then stored."""
        keys = [_key(self.identity, o, i) for o, i in zip(observations, infos, strict=True)]
        found = self.cache.get_many(keys)
        todo = [i for i, key in enumerate(keys) if key not in found]
        outputs: dict[int, tuple[str | PolicyFailure, int | None]] = {
            i: found[key] for i, key in enumerate(keys) if key in found
        }
        self.hits += len(outputs)
        if todo:
            made = self.policy.act([observations[i] for i in todo], [infos[i] for i in todo])
            usage = getattr(self.policy, "last_usage", None) or [None] * len(todo)
            rows = []
            for i, text, entry in zip(todo, made, usage, strict=True):
                tokens = _completion_tokens(entry)
                outputs[i] = (text, tokens)
                if not isinstance(text, PolicyFailure):
                    rows.append((keys[i], text, tokens))
            if rows:
                self.cache.put_many(rows)
        self.last_usage = [{"completion_tokens": outputs[i][1]} for i in range(len(keys))]
        return [outputs[i][0] for i in range(len(keys))]

    def __reduce__(self) -> tuple[Any, tuple[Any, ...]]:
        # Worker processes open the cache file anew.
        return (_reopen, (self.policy, str(self.cache.path)))

    def __repr__(self) -> str:
        return f"CachedPolicy({self.policy!r})"


def _reopen(policy: Any, path: str) -> CachedPolicy:
    return CachedPolicy(policy, PolicyCache(path))


def _completion_tokens(entry: Any) -> int | None:
    if entry is None:
        return None
    value = entry.get("completion_tokens") if isinstance(entry, dict) else getattr(
        entry, "completion_tokens", None)  # fmt: skip
    return None if value is None else int(value)


def cached(policy: Any, cache: PolicyCache | None) -> Any:
    """``policy`` behind ``cache`` when its outputs are a function of the prompt, else as is.

    Greedy model policies (``settings["temperature"] == 0``) are wrapped; scripted agents (no
    settings: cheap to rerun) and sampling policies are not.
    """
    settings = getattr(policy, "settings", None) or {}
    if cache is None or settings.get("temperature") != 0:
        return policy
    return CachedPolicy(policy, cache)

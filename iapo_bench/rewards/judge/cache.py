"""The judge's persistent memory: verdicts in SQLite, with their audit trail.

- :class:`JudgeCache`: verdicts keyed by the judge, the template and the input, shared by
  every judge, thread and process using the file. The connection opens on first use and
  :meth:`JudgeCache.close` ends it (a later use opens it again).
- :class:`JudgeRecord`: one cached verdict with everything it was keyed by.
- :func:`default_cache_path`: where verdicts go by default.

Only the judge's own verdicts are stored: fallbacks never are, so that a later run with the
judge up judges them again.
"""

from __future__ import annotations

import datetime
import hashlib
import json
import sqlite3
import threading
from collections.abc import Iterable, Sequence
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field

from iapo_bench.cache import cache_root
from iapo_bench.rewards.judge.templates import JudgeInput, JudgeTemplate, Verdict

__all__ = ["JudgeCache", "JudgeRecord", "default_cache_path"]

_FROZEN = ConfigDict(frozen=True, extra="forbid")


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


def default_cache_path() -> Path:
    """``judge.sqlite3`` in the package's cache folder (:func:`iapo_bench.cache.cache_root`)."""
    return cache_root() / "judge.sqlite3"


_COLUMNS = ("key", "judge", "template", "template_sha256", "input", "score", "raw", "created")


class JudgeCache:
    """Judge verdicts stored in SQLite, shared by every judge, thread and process using the file.

    Keyed by the judge's name, the template (name and hash) and the input (:meth:`key`). Only
    the judge's own verdicts are stored, with their raw output; :meth:`records` reads them back.

    >>> import tempfile
    >>> from iapo_bench.rewards.judge import TEMPLATES
    >>> cache = JudgeCache(Path(tempfile.mkdtemp()) / "judge.sqlite3")
    >>> item = JudgeInput(question="How many?", reference="5", prediction="five")
    >>> key = JudgeCache.key("openai:m@url", TEMPLATES["yes_no"], item)
    >>> cache.put("openai:m@url", TEMPLATES["yes_no"], item, Verdict(score=1.0, raw="YES"))
    >>> cache.get_many([key])[key].raw, len(cache)
    ('YES', 1)
    """

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self._lock = threading.Lock()
        self._db: sqlite3.Connection | None = None

    def _connection(self) -> sqlite3.Connection:
        """The open connection (made on first use, or anew after :meth:`close`); under the lock."""
        if self._db is None:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            db = sqlite3.connect(self.path, timeout=30.0, check_same_thread=False)
            try:
                with db:
                    db.execute(
                        "CREATE TABLE IF NOT EXISTS verdicts (key TEXT PRIMARY KEY, "
                        "judge TEXT NOT NULL, template TEXT NOT NULL, "
                        "template_sha256 TEXT NOT NULL, input TEXT NOT NULL, "
                        "score REAL NOT NULL, raw TEXT NOT NULL, created TEXT NOT NULL)"
                    )
            except BaseException:
                db.close()
                raise
            self._db = db
        return self._db

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
                rows = self._connection().execute(
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
        with self._lock, self._connection() as db:
            db.executemany(
                f"INSERT OR REPLACE INTO verdicts ({', '.join(_COLUMNS)}) VALUES ({marks})", rows
            )

    def records(self, judge: str | None = None) -> list[JudgeRecord]:
        """Every cached verdict (of one judge, if named), oldest first: the audit trail."""
        query = f"SELECT {', '.join(_COLUMNS)} FROM verdicts"
        query += " WHERE judge = ? ORDER BY created, rowid" if judge else " ORDER BY created, rowid"
        with self._lock:
            rows = self._connection().execute(query, (judge,) if judge else ()).fetchall()
        records = []
        for row in rows:
            fields = dict(zip(_COLUMNS, row, strict=True))
            records.append(JudgeRecord.model_validate({**fields, "input": json.loads(row[4])}))
        return records

    def __len__(self) -> int:
        with self._lock:
            return self._connection().execute("SELECT COUNT(*) FROM verdicts").fetchone()[0]

    def close(self) -> None:
        """Close the connection; a later use opens a new one. Safe to repeat."""
        with self._lock:
            db, self._db = self._db, None
        if db is not None:
            db.close()

    def __repr__(self) -> str:
        return f"JudgeCache({str(self.path)!r})"

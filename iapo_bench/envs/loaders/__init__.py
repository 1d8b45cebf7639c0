"""Task sources that read local copies of public datasets into our tasks (nothing downloads).

- :data:`FORMATS`: ``chartqa``, ``refocus`` (ReFocus / VTool-R1 chart and table splits, with
  element boxes), ``charxiv``, ``docvqa``, ``textvqa``: one small module each.
- :func:`open_source`: a source from ``"format:path"`` (options after ``?``, e.g.
  ``"chartqa:/data/ChartQA Dataset/test?subset=human"``), opened once per process and files.
- :func:`reopen`: a source another process opened, from its on-disk index (how a worker
  process, a tool server or a replay loads a file task by id).

A source's tasks use its family's env and tools (ChartQA, ReFocus and CharXiv the chart
env; DocVQA and TextVQA the OCR env) and its format's rubric; their ids carry the files'
content hash as their version, so results record exactly which files they were scored on::

    env = gym.make("ToolUse-Chart-v0", source="chartqa:/path/to/ChartQA Dataset/test")
    obs, info = env.reset(seed=17)  # record 17; info["task_id"] == "chart/f<hash>/test/d0/17"

Tools that need element boxes (the chart focus tools) are offered only for tasks whose files
record boxes (ReFocus); the others get ``crop`` and ``zoom`` (chart) or ``ocr`` and ``zoom``
(documents and photos).
"""

from __future__ import annotations

import json
import logging
import os
import threading
from pathlib import Path
from urllib.parse import parse_qsl

from iapo_bench.cache import cache_root
from iapo_bench.envs.loaders.base import FileSource, Record, Region, SourceError, files_hash
from iapo_bench.envs.loaders.chartqa import ChartQASource
from iapo_bench.envs.loaders.charxiv import CharXivSource
from iapo_bench.envs.loaders.docvqa import DocVQASource
from iapo_bench.envs.loaders.refocus import ReFocusSource
from iapo_bench.envs.loaders.textvqa import TextVQASource

__all__ = [
    "FORMATS",
    "CharXivSource",
    "ChartQASource",
    "DocVQASource",
    "FileSource",
    "ReFocusSource",
    "Record",
    "Region",
    "SourceError",
    "TextVQASource",
    "files_hash",
    "open_source",
    "parse_spec",
    "reopen",
]

logger = logging.getLogger(__name__)

FORMATS: dict[str, type[FileSource]] = {
    source.name: source
    for source in (ChartQASource, ReFocusSource, CharXivSource, DocVQASource, TextVQASource)
}
"""The formats :func:`open_source` reads, by name."""

_OPENED: dict[tuple[str, str, tuple[tuple[str, str], ...]], FileSource] = {}
_LOCK = threading.Lock()


def parse_spec(spec: str) -> tuple[str, str, dict[str, str]]:
    """``(format, path, options)`` of ``"format:path?key=value&..."``.

    >>> parse_spec("chartqa:/data/ChartQA Dataset/test?subset=human")
    ('chartqa', '/data/ChartQA Dataset/test', {'subset': 'human'})
    """
    name, colon, rest = spec.partition(":")
    if not colon or not rest or name not in FORMATS:
        raise SourceError(
            f"source {spec!r}: expected 'format:path' with a format of {sorted(FORMATS)}, "
            "e.g. 'chartqa:/path/to/ChartQA Dataset/test'"
        )
    path, question, query = rest.rpartition("?") if "?" in rest else (rest, "", "")
    options: dict[str, str] = {}
    if question:
        pairs = parse_qsl(query, keep_blank_values=True)
        if not pairs or any(not k for k, _ in pairs):
            path, options = rest, {}  # a '?' that is part of the path
        else:
            options = dict(pairs)
    return name, path, options


def open_source(spec: str | None = None, /, **options: str) -> FileSource:
    """The source ``spec`` names (``"format:path?options"``), opened and registered.

    Keyword options add to (and override) those in the spec: ``split``, ``images`` and the
    format's own. Opening the same files with the same options again in a process returns
    the same object while the files are unchanged (their sizes and modification times);
    otherwise they are read and hashed anew. Each opening also records the source in an index
    under the cache folder (:func:`~iapo_bench.cache.cache_root`), so that another process
    can load its task ids (:func:`reopen`).

    Raises :class:`SourceError` (a ``ValueError``) naming the file, record and field of
    anything malformed, and the expected path of a missing image.
    """
    if spec is None:
        raise SourceError("give a source as 'format:path', e.g. 'docvqa:/data/DocVQA/val'")
    name, path, spec_options = parse_spec(spec)
    merged = {**spec_options, **{k: str(v) for k, v in options.items() if v is not None}}
    key = (name, os.path.abspath(os.path.expanduser(path)), tuple(sorted(merged.items())))
    with _LOCK:
        known = _OPENED.get(key)
    if known is not None and known.unchanged():
        return known
    source = FORMATS[name](path, **merged)
    with _LOCK:
        _OPENED[key] = source
    _write_index(source)
    return source


def _index_path(family: str, version: str) -> Path:
    return cache_root() / "sources" / f"{family}-{version}.json"


def _write_index(source: FileSource) -> None:
    """Record how to reopen ``source`` (best effort: a read-only cache only costs reopening)."""
    path = _index_path(source.family, source.version)
    payload = {
        "format": source.name,
        "path": str(source.path),
        "options": source.option_values,
        "content_hash": source.content_hash,
    }
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        partial = path.with_suffix(f".{os.getpid()}.partial")
        partial.write_text(json.dumps(payload, indent=1) + "\n", encoding="utf-8")
        partial.replace(path)
    except OSError as error:
        logger.warning("cannot record source %s in %s: %s", source.spec, path, error)


def reopen(family: str, version: str) -> FileSource:
    """The source of file version ``version`` of ``family``, reopened from its index.

    Raises ``ValueError`` when no process on this machine opened those files, or when they
    have changed since (their hash no longer matches the version).
    """
    path = _index_path(family, version)
    try:
        payload = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        raise ValueError(
            f"no files of version {version!r} of family {family!r} are open: open them first, "
            "e.g. gym.make(env_id, source='format:path') or "
            "iapo_bench.envs.loaders.open_source('format:path')"
        ) from None
    spec = f"{payload['format']}:{payload['path']}"
    source = open_source(spec, **payload.get("options", {}))
    if source.version != version:
        raise ValueError(
            f"the files of {spec} changed since tasks of version {version!r} were read from "
            f"them: they are version {source.version!r} now"
        )
    return source

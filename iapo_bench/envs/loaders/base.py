"""What every file loader shares: records, the source class, hashing, errors and images.

- :class:`SourceError`: a file that does not read as its format says; the message names the
  file, the record and the field (a missing image: the path where it was looked for).
- :class:`Region`, :class:`Record`: one question of a file, validated when the files are
  opened (images are only checked to exist; they are decoded when a task is loaded).
- :class:`FileSource`: the :class:`~iapo_bench.envs.family.TaskSource` of one format; a
  subclass reads its files into records (:meth:`FileSource.read`), and everything else
  (ids, hashing, loading tasks) is shared.
- :func:`files_hash`: the content hash of a set of files, independent of where they live.

A task's shown image is the file's image (scaled down to :data:`MAX_SIDE` pixels a side when
larger, for the observation space); its full-resolution source, which ``zoom`` and ``ocr``
read, is the file's image as it is.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import math
import os
import threading
from collections.abc import Callable, Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
from PIL import Image

from iapo_bench.core import AnswerType, Box, Element, Split, Task
from iapo_bench.envs.family import register_source, task_id
from iapo_bench.rewards.match import parse_number
from iapo_bench.tools.chart import TARGETS, tools_for_targets

__all__ = [
    "MAX_SIDE",
    "FileSource",
    "Record",
    "Region",
    "SourceError",
    "files_hash",
    "read_json",
    "split_from_name",
]

MAX_SIDE = 4096
"""The longest side of a shown image (the env's observation bound); larger images are
shown scaled down, and tools read the original."""

_SPLIT_NAMES: dict[str, Split] = {
    "train": "train",
    "val": "validation",
    "validation": "validation",
    "dev": "validation",
    "test": "test",
}


class SourceError(ValueError):
    """A file that does not read as its public format says (or an image that is missing)."""


def where(file: Path, record: str | None = None, field: str | None = None) -> str:
    """``'<file>: record <r>: field <f>'``, as far as known: the start of every error message."""
    parts = [str(file)]
    if record is not None:
        parts.append(f"record {record}")
    if field is not None:
        parts.append(f"field {field!r}")
    return ": ".join(parts)


def split_from_name(path: Path, given: str | None) -> Split:
    """The split named by ``given``, else by the file or folder name (``val`` -> validation).

    Raises :class:`SourceError` when neither names one.

    >>> split_from_name(Path("/data/ChartQA Dataset/val"), None), split_from_name(Path("x"), "test")
    ('validation', 'test')
    """
    if given is not None:
        if given not in _SPLIT_NAMES:
            raise SourceError(f"split must be one of {sorted(_SPLIT_NAMES)}, got {given!r}")
        return _SPLIT_NAMES[given]
    for part in reversed(path.parts):
        for word in part.replace("-", "_").replace(".", "_").split("_"):
            if word.casefold() in _SPLIT_NAMES:
                return _SPLIT_NAMES[word.casefold()]
    raise SourceError(
        f"{path}: cannot tell its split from its name; give one (split=train|val|test, or "
        "'?split=test' after the path)"
    )


def read_json(path: Path) -> Any:
    """The JSON value of a file, or JSON Lines as a list; :class:`SourceError` naming the line."""
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as error:
        raise SourceError(f"{path}: cannot be read: {error.strerror or error}") from None
    except UnicodeDecodeError as error:
        raise SourceError(f"{path}: is not UTF-8 text: {error}") from None
    if path.suffix == ".jsonl":
        rows = []
        for number, line in enumerate(text.splitlines(), 1):
            if line.strip():
                try:
                    rows.append(json.loads(line))
                except ValueError as error:
                    raise SourceError(f"{path}: line {number} is not JSON: {error}") from None
        return rows
    try:
        return json.loads(text)
    except ValueError as error:
        raise SourceError(f"{path}: is not JSON: {error}") from None


def field(
    row: Mapping[str, Any],
    name: str | Sequence[str],
    kind: type | tuple[type, ...],
    file: Path,
    record: str,
    *,
    required: bool = True,
) -> Any:
    """``row[name]`` (the first of several names present), checked to be of ``kind``.

    A missing field is an error when ``required`` (else ``None``); a value of another type
    always is. Booleans are not numbers here, though Python says they are.
    """
    names = [name] if isinstance(name, str) else list(name)
    if not isinstance(row, Mapping):
        raise SourceError(f"{where(file, record)}: is not an object, got {type(row).__name__}")
    for key in names:
        if key in row and row[key] is not None:
            value = row[key]
            kinds = kind if isinstance(kind, tuple) else (kind,)
            if isinstance(value, bool) and bool not in kinds:
                ok = False
            else:
                ok = isinstance(value, kinds)
            if not ok:
                wanted = " or ".join(k.__name__ for k in kinds)
                raise SourceError(
                    f"{where(file, record, key)}: must be {wanted}, got {type(value).__name__} "
                    f"{_short(value)}"
                )
            return value
    if required:
        raise SourceError(f"{where(file, record, ' or '.join(names))}: missing")
    return None


def _short(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


@dataclasses.dataclass(frozen=True)
class Region:
    """A named region of an image: a focus target of the chart tools (ReFocus boxes)."""

    kind: str
    """``'x_value'``, ``'y_value'``, ``'row'`` or ``'column'``: a key of ``TARGETS``."""
    label: str
    """The label the model names it by (the axis value, row or column header)."""
    box: tuple[float, float, float, float]
    """``(x0, y0, x1, y1)`` in pixels of the file's image, or in fractions of its size."""


@dataclasses.dataclass(frozen=True)
class Record:
    """One question of a file, validated when the files are opened."""

    key: str
    """The record's own id in its file (question id, figure id, image name)."""
    file: Path
    """The annotation file it came from."""
    image: Path
    """The image file (checked to exist when opened)."""
    question: str
    """The question shown to the agent."""
    answer: str
    """The reference answer (the commonest one when annotators gave several)."""
    answer_type: AnswerType
    """How the answer is compared."""
    question_kind: str
    """The format's kind of question, e.g. ``'chartqa:human'``."""
    answers: tuple[str, ...] = ()
    """Every reference answer (DocVQA's alternatives, TextVQA's ten annotators)."""
    regions: tuple[Region, ...] = ()
    """Focus regions for the chart tools; none: only crop and zoom (or OCR) apply."""
    normalized: bool = False
    """Whether the regions' boxes are fractions of the image size (ReFocus writes them so)."""
    data: Mapping[str, Any] = dataclasses.field(default_factory=dict)
    """Format-specific hidden data (a data table, the question's category)."""


_HASH_CACHE: dict[tuple[str, int, int, int], str] = {}
_HASH_LOCK = threading.Lock()


def _file_sha256(path: Path) -> str:
    """SHA-256 of a file, remembered per (path, size, mtime, inode) for the process."""
    stat = path.stat()
    key = (str(path), stat.st_size, stat.st_mtime_ns, stat.st_ino)
    with _HASH_LOCK:
        known = _HASH_CACHE.get(key)
    if known is not None:
        return known
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        while chunk := handle.read(1 << 20):
            digest.update(chunk)
    value = digest.hexdigest()
    with _HASH_LOCK:
        _HASH_CACHE[key] = value
    return value


def files_hash(files: Iterable[Path]) -> str:
    """SHA-256 over the files' paths (relative to their common folder) and contents.

    Relative paths make the hash, and so the task ids, the same for identical copies of a
    dataset wherever they live.
    """
    paths = sorted({Path(os.path.abspath(p)) for p in files})
    if not paths:
        return hashlib.sha256(b"").hexdigest()
    root = Path(os.path.commonpath([str(p.parent) for p in paths]))
    digest = hashlib.sha256()
    for path in paths:
        digest.update(path.relative_to(root).as_posix().encode())
        digest.update(b"\0")
        digest.update(_file_sha256(path).encode())
        digest.update(b"\n")
    return digest.hexdigest()


def answer_type_of(answer: str) -> AnswerType:
    """``NUMBER`` when the answer reads as a number (``'12.5%'``), else ``TEXT``."""
    return AnswerType.NUMBER if parse_number(answer) is not None else AnswerType.TEXT


class FileSource:
    """Tasks read from one format's files: the shared half of every loader.

    A subclass sets :attr:`name`, :attr:`family`, :attr:`default_rubric` and
    :attr:`base_tools`, and implements :meth:`read`, which returns the records and every file
    they depend on besides their images. Opening reads and validates the annotations, checks
    that every image exists, hashes every file (the task ids' version) and registers the
    source, so that :func:`~iapo_bench.envs.family.load_task` finds its ids.

    Args:
        path: The file or folder, in the format's public layout.
        split: ``train``, ``val``/``validation`` or ``test``; default: read from the path.
        images: Where relative image paths start; default: the format's own layout.
        options: Format-specific options (ChartQA's ``subset``).
    """

    name: ClassVar[str]
    """The format, e.g. ``'chartqa'``."""
    family: ClassVar[str]
    """The family whose env and tools the tasks use."""
    default_rubric: ClassVar[str]
    """The rubric spec the format is scored with."""
    base_tools: ClassVar[tuple[str, ...]]
    """The tools of a task without regions (regions add the chart focus tools)."""
    options: ClassVar[tuple[str, ...]] = ()
    """The format-specific options it accepts."""

    def __init__(
        self,
        path: str | os.PathLike[str],
        *,
        split: str | None = None,
        images: str | os.PathLike[str] | None = None,
        **options: str,
    ) -> None:
        unknown = set(options) - set(self.options)
        if unknown:
            known = ", ".join(("split", "images", *self.options))
            raise SourceError(f"unknown {self.name} options {sorted(unknown)}; known: {known}")
        self.path = Path(os.path.abspath(os.path.expanduser(os.fspath(path))))
        if not self.path.exists():
            raise SourceError(f"{self.path}: no such file or folder")
        self.images_root = (
            Path(os.path.abspath(os.path.expanduser(os.fspath(images))))
            if images is not None
            else None
        )
        self.option_values: dict[str, str] = {
            k: str(v)
            for k, v in {"split": split, "images": images, **options}.items()
            if v is not None
        }
        self.split: Split = split_from_name(self.path, split)
        records, files = self.read(**options)
        if not records:
            raise SourceError(f"{self.path}: holds no {self.name} questions")
        for record in records:
            if not record.image.is_file():
                raise SourceError(
                    f"{where(record.file, record.key, 'image')}: missing image, expected at "
                    f"{record.image}"
                )
        self.records: tuple[Record, ...] = tuple(records)
        self.files: tuple[Path, ...] = tuple(sorted({*files, *(r.image for r in records)}))
        self.content_hash = files_hash(self.files)
        self.version = "f" + self.content_hash[:12]
        self._stamp = self._stat()
        self._stamps = dict(zip(self.files, self._stamp, strict=True))
        register_source(self)

    def read(self, **options: str) -> tuple[list[Record], list[Path]]:
        """The records of the files, and every annotation or table file they came from."""
        raise NotImplementedError

    def image_path(self, relative: str, *defaults: Path) -> Path:
        """Where a record's image path points: absolute, or under the first folder holding it.

        The folders are ``images`` when given, else ``defaults`` in order; when none holds
        the file, the path under the first is returned (and reported missing).
        """
        candidate = Path(relative)
        if candidate.is_absolute():
            return candidate
        roots = [self.images_root] if self.images_root is not None else list(defaults)
        for root in roots:
            if (root / candidate).is_file():
                return root / candidate
        return roots[0] / candidate

    @property
    def spec(self) -> str:
        """The source as one string: ``format:path`` and its options after ``?``."""
        options = "&".join(f"{k}={v}" for k, v in sorted(self.option_values.items()))
        return f"{self.name}:{self.path}" + (f"?{options}" if options else "")

    @property
    def provenance(self) -> dict[str, str]:
        """What a run's metadata records of the source: format, files, hash, size."""
        return {
            "format": self.name,
            "spec": self.spec,
            "split": self.split,
            "content_hash": self.content_hash,
            "files": str(len(self.files)),
            "tasks": str(len(self)),
        }

    def __len__(self) -> int:
        return len(self.records)

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.spec!r}, {len(self)} tasks, {self.version})"

    def task_id(self, index: int) -> str:
        """The id of record ``index``: ``{family}/{version}/{split}/d0/{index}``."""
        return task_id(self.family, self.version, self.split, 0, index)

    def task_ids(self, limit: int | None = None) -> tuple[str, ...]:
        """Every task id, in file order (the first ``limit``)."""
        count = len(self) if limit is None else min(limit, len(self))
        return tuple(self.task_id(i) for i in range(count))

    def unchanged(self, index: int | None = None) -> bool:
        """Whether the files still have the size and modification time they had when opened.

        With ``index``, only the files task ``index`` is read from (its image and the
        annotation file of its record): a cheap check before each load.
        """
        try:
            if index is None:
                return self._stat() == self._stamp
            record = self.records[index]
            return all(
                (s.st_size, s.st_mtime_ns) == self._stamps[path]
                for path in (record.file, record.image)
                if path in self._stamps
                for s in (path.stat(),)
            )
        except OSError:
            return False

    def _stat(self) -> tuple[tuple[int, int], ...]:
        return tuple((s.st_size, s.st_mtime_ns) for s in (p.stat() for p in self.files))

    def load(self, index: int) -> Task:
        """Task ``index``, its image decoded now; :class:`SourceError` for an unreadable image."""
        if not 0 <= index < len(self):
            raise IndexError(f"{self.spec} holds {len(self)} tasks; no task {index}")
        record = self.records[index]
        source = self._decode(record)
        height, width = source.shape[:2]
        scale = min(1.0, MAX_SIDE / max(height, width))
        shown = source
        if scale < 1.0:
            size = (max(1, round(width * scale)), max(1, round(height * scale)))
            shown = np.asarray(Image.fromarray(source).resize(size, Image.Resampling.LANCZOS))
        elements = self._elements(record, (width, height), shown.shape[1] / width)
        targets = sorted({e.kind for e in elements}, key=list(TARGETS).index)
        return Task(
            id=self.task_id(index),
            family=self.family,
            version=self.version,
            split=self.split,
            difficulty=0,
            seed=index,
            image=shown,
            source_image=source,
            question=record.question,
            answer=record.answer,
            answer_type=record.answer_type,
            question_kind=record.question_kind,
            elements=elements,
            tool_names=(*_focus_tools(targets), *self.base_tools),
            data={
                "format": self.name,
                "record": record.key,
                "file": record.file.name,
                "image": record.image.name,
                "answers": list(record.answers or (record.answer,)),
                **record.data,
            },
        )

    def _decode(self, record: Record) -> np.ndarray:
        try:
            with Image.open(record.image) as image:
                return np.asarray(image.convert("RGB"))
        except (OSError, ValueError, Image.DecompressionBombError) as error:
            raise SourceError(
                f"{where(record.file, record.key, 'image')}: {record.image} is not a readable "
                f"image: {error}"
            ) from None

    def _elements(self, record: Record, size: tuple[int, int], scale: float) -> tuple[Element, ...]:
        """The record's regions as elements, in pixels of the shown image, clipped to it."""
        width, height = size
        out = []
        for region in record.regions:
            x0, y0, x1, y1 = region.box
            if record.normalized:
                x0, x1, y0, y1 = x0 * width, x1 * width, y0 * height, y1 * height
            box = Box(
                x0=max(0, min(round(width * scale), math.floor(x0 * scale))),
                y0=max(0, min(round(height * scale), math.floor(y0 * scale))),
                x1=max(0, min(round(width * scale), math.ceil(x1 * scale))),
                y1=max(0, min(round(height * scale), math.ceil(y1 * scale))),
            )
            if box.width > 0 and box.height > 0:
                out.append(Element(kind=region.kind, key=region.label, box=box))
        return tuple(out)


def _focus_tools(targets: Sequence[str]) -> tuple[str, ...]:
    """The chart focus tools of the region kinds a task records (none: no focus tools)."""
    if not targets:
        return ()
    return tuple(t.name for t in tools_for_targets(list(targets)) if t.name.startswith("focus_"))


Reader = Callable[..., FileSource]
"""A format's source class, called as ``Source(path, split=..., images=..., **options)``."""

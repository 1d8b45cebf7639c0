"""Task families: the one contract every generator implements, plus task ids and splits.

- :class:`TaskFamily`: a seeded generator of :class:`~iapo_bench.core.Task` with its tools,
  default rubric, version hash and frozen test list.
- :data:`SPLIT_SEEDS`: the disjoint seed ranges of the train, validation and test splits.
- :func:`task_id` / :func:`parse_task_id`: a task's key as a string and back.
- :func:`register_family`, :func:`get_family`, :func:`load_task`: the family registry, and how
  privileged code (oracle, rewards, tests) gets a task from its id.
- :class:`TaskSource`, :func:`register_source`, :func:`get_source`: tasks read from local files
  (:mod:`iapo_bench.envs.loaders`), whose ids carry the files' content hash as their version:
  ``chart/f1a2b3c4d5e6f/test/d0/17`` is record 17 of the files hashing to ``1a2b3c4d5e6f...``.
"""

from __future__ import annotations

import abc
import collections
import functools
import hashlib
import importlib.metadata
import json
import os
import re
import threading
from collections.abc import Callable, Sequence
from importlib import resources
from typing import Protocol, runtime_checkable

import numpy as np
import PIL
from PIL import features
from pydantic import BaseModel, ConfigDict, Field

from iapo_bench.chat import PromptStyle
from iapo_bench.core import Split, Task
from iapo_bench.fonts import fonts_fingerprint
from iapo_bench.tools.base import Tool

__all__ = [
    "SPLIT_SEEDS",
    "TASK_CACHE",
    "FrozenTestList",
    "TaskCache",
    "TaskFamily",
    "TaskSource",
    "families",
    "get_family",
    "get_source",
    "is_file_version",
    "load_task",
    "parse_task_id",
    "register_family",
    "register_source",
    "split_seed",
    "task_id",
]

SPLIT_SEEDS: dict[str, range] = {
    "train": range(0, 1_000_000_000),
    "validation": range(1_000_000_000, 1_001_000_000),
    "test": range(2_000_000_000, 2_001_000_000),
}
"""Disjoint generator seed ranges; ``reset(seed=s)`` draws the task with seed ``start + s``."""

_TASK_ID = re.compile(
    r"\A(?P<family>[a-z0-9_]+)/(?P<version>v\d+|f[0-9a-f]{12})/(?P<split>train|validation|test)"
    r"/d(?P<difficulty>\d+)/(?P<seed>\d+)\Z"
)
_FILE_VERSION = re.compile(r"\Af[0-9a-f]{12}\Z")


def is_file_version(version: str) -> bool:
    """Whether ``version`` names files (``f`` and 12 hex digits of their hash), not a generator.

    >>> is_file_version("f1a2b3c4d5e6f"), is_file_version("v0")
    (True, False)
    """
    return _FILE_VERSION.match(version) is not None


def split_seed(split: Split, index: int) -> int:
    """The generator seed of task ``index`` of ``split``; raises ``ValueError`` out of range."""
    seeds = SPLIT_SEEDS[split]
    if not 0 <= index < len(seeds):
        raise ValueError(
            f"seed {index} is out of range for split {split!r} (0 <= seed < {len(seeds)})"
        )
    return seeds.start + index


def task_id(family: str, version: str, split: Split, difficulty: int, seed: int) -> str:
    """A task's key as its id, e.g. ``'chart/v0/test/d1/2000000007'``."""
    return f"{family}/{version}/{split}/d{difficulty}/{seed}"


def parse_task_id(value: str) -> tuple[str, str, Split, int, int]:
    """``(family, version, split, difficulty, seed)`` of a task id; ``ValueError`` if malformed.

    A generated task's seed lies in its split's range; a file task's "seed" is the record's
    index in its files (:class:`TaskSource`), from 0.
    """
    match = _TASK_ID.match(value)
    if match is None:
        raise ValueError(
            f"malformed task id {value!r}; expected 'family/vN/split/dK/seed', "
            "e.g. 'chart/v0/test/d1/2000000007' (or 'chart/f<12 hex digits>/test/d0/17' for "
            "a task read from files)"
        )
    split: Split = match["split"]  # type: ignore[assignment]
    seed = int(match["seed"])
    if not is_file_version(match["version"]) and seed not in SPLIT_SEEDS[split]:
        raise ValueError(f"task id {value!r}: seed {seed} is not in the {split} seed range")
    return match["family"], match["version"], split, int(match["difficulty"]), seed


class FrozenTestList(BaseModel):
    """The test tasks every leaderboard row of one env version is scored on."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    env_id: str = Field(description="The Gymnasium id, e.g. 'ToolUse-Chart-v0'.")
    version_hash: str = Field(description="The env version hash the list was frozen with.")
    environment: dict[str, str] = Field(
        description="Library versions that shape task bytes (Pillow, FreeType, numpy, OpenCV)."
    )
    task_ids: tuple[str, ...] = Field(description="The test task ids, in order.")
    content_hash: str = Field(description="SHA-256 over the content hashes of the tasks.")


def content_hash(tasks: Sequence[Task]) -> str:
    """SHA-256 over the tasks' own content hashes, in order."""
    digest = hashlib.sha256()
    for task in tasks:
        digest.update(task.content_hash().encode())
    return digest.hexdigest()


def rendering_environment() -> dict[str, str]:
    """The library versions that shape task bytes; part of every version hash."""
    return {
        "pillow": PIL.__version__,
        "freetype": str(features.version("freetype2")),
        "numpy": ".".join(np.__version__.split(".")[:2]),
        "fonts": fonts_fingerprint()[:16],
        "opencv": _opencv_version(),
    }


@functools.cache
def _opencv_version() -> str:
    """OpenCV's version without importing it (OCR photographs are degraded with it)."""
    try:
        return importlib.metadata.version("opencv-python-headless")
    except importlib.metadata.PackageNotFoundError:
        return importlib.metadata.version("opencv-python")


class TaskFamily(abc.ABC):
    """A seeded generator of tasks of one kind, with the tools that apply to them.

    Subclasses set the class attributes and implement :meth:`generate`; everything else
    (ids, splits, hashes, the frozen test list) is shared.
    """

    name: str
    """Short family name used in task ids, e.g. ``'chart'``."""
    version: str
    """Env version, e.g. ``'v0'``; bumped whenever task bytes or scoring change."""
    revision: int
    """Generator revision inside a v0; bump it when task bytes change before a release."""
    env_id: str
    """The Gymnasium id, e.g. ``'ToolUse-Chart-v0'``."""
    difficulties: tuple[int, ...]
    """The difficulty levels, easiest first."""
    default_difficulty: int
    """The level ``gym.make`` uses when none is given."""
    default_rubric: str
    """The rubric spec the env scores with by default."""
    test_list_size: int = 500
    """How many tasks the frozen test list holds."""
    prompt_style: PromptStyle = "full"
    """How the env's system prompt lists the tools (:func:`iapo_bench.chat.system_prompt`)."""

    @property
    @abc.abstractmethod
    def tools(self) -> tuple[Tool, ...]:
        """Every tool of the family; :meth:`tools_for` picks those that apply to a task."""

    @abc.abstractmethod
    def _generate(self, split: Split, difficulty: int, seed: int) -> Task:
        """Build the task of a key; ``seed`` is already inside the split's range."""

    def generate(self, split: Split, difficulty: int, seed: int) -> Task:
        """The task of key ``(split, difficulty, seed)``, with ``seed`` a generator seed."""
        if difficulty not in self.difficulties:
            raise ValueError(
                f"difficulty must be one of {self.difficulties} for {self.name!r}, got {difficulty}"
            )
        if seed not in SPLIT_SEEDS[split]:
            raise ValueError(f"seed {seed} is not in the {split} seed range")
        return self._generate(split, difficulty, seed)

    def task_id(self, split: Split, difficulty: int, seed: int) -> str:
        """The id of a task of this family."""
        return task_id(self.name, self.version, split, difficulty, seed)

    def task_ids(
        self,
        split: Split,
        count: int | None = None,
        first_seed: int = 0,
        difficulty: int | None = None,
    ) -> list[str]:
        """The ids of ``count`` tasks of ``split``, from seed index ``first_seed`` on.

        On the test split, the frozen test list (its first ``count``; ``first_seed`` and
        ``difficulty`` are not allowed there: the list is what every score is on). Elsewhere,
        seeds ``first_seed, first_seed + 1, ...`` (``count`` default 100) at ``difficulty``, or
        cycling the family's levels.

        >>> get_family("chart").task_ids("validation", 2, first_seed=10)
        ['chart/v0/validation/d0/1000000010', 'chart/v0/validation/d1/1000000011']
        """
        if split == "test":
            if first_seed or difficulty is not None:
                raise ValueError("the test split is the frozen test list: no seed or difficulty")
            ids = list(self.frozen_test_list().task_ids)
            return ids if count is None else ids[:count]
        count = 100 if count is None else count
        levels = self.difficulties if difficulty is None else (difficulty,)
        start = split_seed(split, first_seed)
        return [self.task_id(split, levels[i % len(levels)], start + i) for i in range(count)]

    def tools_for(self, task: Task) -> tuple[Tool, ...]:
        """The tools that apply to ``task``, in the family's order."""
        return tuple(t for t in self.tools if t.name in task.tool_names)

    @functools.cached_property
    def version_hash(self) -> str:
        """A short hash of everything that fixes task bytes and scoring."""
        payload = {
            "family": self.name,
            "version": self.version,
            "revision": self.revision,
            "rubric": self.default_rubric,
            # Only a non-default style enters the hash: the full style's hashes predate it.
            **({"prompt_style": self.prompt_style} if self.prompt_style != "full" else {}),
            **rendering_environment(),
        }
        return hashlib.sha256(json.dumps(payload, sort_keys=True).encode()).hexdigest()[:16]

    def test_task_ids(self) -> tuple[str, ...]:
        """Task ids of the frozen test list, spread evenly over the difficulty levels."""
        start = SPLIT_SEEDS["test"].start
        levels = self.difficulties
        # The level turns by one each round of levels, so that kinds cycling with the seed
        # (nine chart kinds, six documents) meet every level, whatever their count shares
        # with the number of levels.
        return tuple(
            self.task_id("test", levels[(i + i // len(levels)) % len(levels)], start + i)
            for i in range(self.test_list_size)
        )

    def freeze_test_list(self) -> FrozenTestList:
        """Generate the test list now, with its content hash."""
        ids = self.test_task_ids()
        tasks = [load_task(i) for i in ids]
        return FrozenTestList(
            env_id=self.env_id,
            version_hash=self.version_hash,
            environment=rendering_environment(),
            task_ids=ids,
            content_hash=content_hash(tasks),
        )

    def frozen_test_list(self) -> FrozenTestList:
        """The frozen test list shipped with the package."""
        name = f"{self.name}-{self.version}-test.json"
        text = resources.files("iapo_bench.envs").joinpath("frozen", name).read_text()
        return FrozenTestList.model_validate_json(text)


_FAMILIES: dict[str, TaskFamily] = {}


def register_family(family: TaskFamily) -> TaskFamily:
    """Add a family to the registry (by name); returns it."""
    if family.name in _FAMILIES and _FAMILIES[family.name] is not family:
        raise ValueError(f"a task family named {family.name!r} is already registered")
    _FAMILIES[family.name] = family
    return family


def get_family(name: str) -> TaskFamily:
    """The registered family named ``name``; ``KeyError`` listing the known names otherwise."""
    try:
        return _FAMILIES[name]
    except KeyError:
        raise KeyError(f"unknown task family {name!r}; known: {sorted(_FAMILIES)}") from None


def families() -> dict[str, TaskFamily]:
    """All registered families by name."""
    return dict(_FAMILIES)


@runtime_checkable
class TaskSource(Protocol):
    """Tasks read from local files in a public format (:mod:`iapo_bench.envs.loaders`).

    Its tasks belong to a family (whose tools they use) and carry the files' content hash as
    their version, so the same id always names the same bytes: ``load_task`` reads them from
    the registered source, and refuses once the files have changed.
    """

    name: str
    """The format, e.g. ``'chartqa'``."""
    family: str
    """The family whose tools and env the tasks use, e.g. ``'chart'``."""
    version: str
    """``'f'`` and the first 12 hex digits of :attr:`content_hash`."""
    content_hash: str
    """SHA-256 over every file the tasks are read from (annotations, images, tables)."""
    split: Split
    """The split the files hold."""
    default_rubric: str
    """The rubric spec its format is scored with (ChartQA: relaxed accuracy; DocVQA: ANLS)."""

    def __len__(self) -> int:
        """How many tasks the files hold."""
        ...

    def task_id(self, index: int) -> str:
        """The id of record ``index``."""
        ...

    def load(self, index: int) -> Task:
        """Task ``index`` (0-based), read from the files; ``IndexError`` out of range."""
        ...


_SOURCES: dict[tuple[str, str], TaskSource] = {}
_SOURCES_LOCK = threading.Lock()


def register_source(source: TaskSource) -> TaskSource:
    """Make a source's task ids loadable in this process (by ``(family, version)``); returns it.

    Registering the same files again (by another object) replaces the entry: they hash alike.
    """
    with _SOURCES_LOCK:
        _SOURCES[source.family, source.version] = source
    return source


def get_source(family: str, version: str) -> TaskSource:
    """The registered source of file version ``version`` of ``family``.

    A source not yet opened in this process is reopened from the index that opening it
    wrote (:func:`iapo_bench.envs.loaders.reopen`), which checks that the files still hash
    alike. Raises ``ValueError`` when no process on this machine has opened it.
    """
    with _SOURCES_LOCK:
        source = _SOURCES.get((family, version))
    if source is None:
        # Imported here: the loaders build on this module (a worker process, a tool server
        # or a replay finds files another process opened through their on-disk index).
        from iapo_bench.envs.loaders import reopen

        source = register_source(reopen(family, version))
    return source


class TaskCache:
    """A least-recently-used cache of tasks, bounded by the bytes their images hold.

    A task's full-resolution source is rendered after it is cached (when a tool first reads
    it), so sizes are re-read on every insertion: the bound holds for what the tasks hold now,
    not for what they held when cached. The task just asked for is never evicted.

    >>> cache = TaskCache(max_bytes=1)
    >>> cache.max_bytes, len(cache)
    (1, 0)
    """

    def __init__(self, max_bytes: int, max_entries: int = 4096) -> None:
        if max_bytes < 1 or max_entries < 1:
            raise ValueError(
                f"max_bytes and max_entries must be >= 1, got {max_bytes}, {max_entries}"
            )
        self.max_bytes = max_bytes
        self.max_entries = max_entries
        self._tasks: collections.OrderedDict[str, Task] = collections.OrderedDict()
        self._lock = threading.Lock()

    def get_or_make(self, key: str, make: Callable[[str], Task]) -> Task:
        """The cached task of ``key``, or ``make(key)``, cached; then evicts down to the bound."""
        with self._lock:
            task = self._tasks.get(key)
            if task is not None:
                self._tasks.move_to_end(key)
                return task
        task = make(key)  # outside the lock: generation takes milliseconds
        with self._lock:
            self._tasks[key] = task
            self._tasks.move_to_end(key)
            total = sum(t.nbytes for t in self._tasks.values())
            while len(self._tasks) > 1 and (
                total > self.max_bytes or len(self._tasks) > self.max_entries
            ):
                _, evicted = self._tasks.popitem(last=False)
                total -= evicted.nbytes
        return task

    @property
    def nbytes(self) -> int:
        """Bytes the cached tasks hold now."""
        with self._lock:
            return sum(t.nbytes for t in self._tasks.values())

    def clear(self) -> None:
        """Drop every cached task."""
        with self._lock:
            self._tasks.clear()

    def __len__(self) -> int:
        return len(self._tasks)


def _cache_bytes() -> int:
    value = os.environ.get("IAPO_BENCH_TASK_CACHE_MB", "256")
    try:
        megabytes = float(value)
    except ValueError:
        raise ValueError(f"IAPO_BENCH_TASK_CACHE_MB must be a number, got {value!r}") from None
    return max(1, int(megabytes * 2**20))


TASK_CACHE = TaskCache(_cache_bytes())
"""The process-wide cache :func:`load_task` fills: ``$IAPO_BENCH_TASK_CACHE_MB`` (default 256)
megabytes of task images at most."""


def _make_task(task_id: str) -> Task:
    family_name, version, split, difficulty, seed = parse_task_id(task_id)
    if family_name not in _FAMILIES:
        raise ValueError(f"task id {task_id!r}: unknown task family; known: {sorted(_FAMILIES)}")
    if is_file_version(version):
        source = get_source(family_name, version)
        if split != source.split or difficulty != 0 or seed >= len(source):
            raise ValueError(
                f"task id {task_id!r} names no task of its files: they hold {len(source)} "
                f"{source.split} tasks, {source.task_id(0)!r} to "
                f"{source.task_id(len(source) - 1)!r}"
            )
        unchanged = getattr(source, "unchanged", None)
        if unchanged is not None and not unchanged(seed):
            raise ValueError(
                f"task id {task_id!r}: its files changed since they were opened, so they no "
                f"longer hash to {version}; open the source again"
            )
        return source.load(seed)
    family = get_family(family_name)
    if version != family.version:
        raise ValueError(
            f"task id {task_id!r} is of version {version}, but {family_name} is {family.version}"
        )
    return family.generate(split, difficulty, seed)


def load_task(task_id: str) -> Task:
    """The task with this id, generated (and cached, :data:`TASK_CACHE`) from its key.

    A file task's id (version ``f`` + its files' hash) is read from its source
    (:func:`get_source`). Tasks are immutable (their data deeply frozen), so the cached object
    is shared safely. Raises ``ValueError`` for any id that names no task (malformed, unknown
    family or version, seed outside its split, unknown difficulty, files not opened or
    changed since).
    """
    return TASK_CACHE.get_or_make(task_id, _make_task)


load_task.cache_clear = TASK_CACHE.clear  # type: ignore[attr-defined]  # as functools' caches

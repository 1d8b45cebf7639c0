"""How well the gallery index finds each task's item: recall@1 and recall@5 on held-out tasks.

The index is queried exactly as ``search_images`` queries it: an image task searches by the
whole shown image (the box ``[0, 0, width, height]``), a description task by the description
text. Cluttered scenes are also measured searching the framed photo's box alone (what an
agent that points at the photo gets), reported apart as ``clutter_region``.
"""

from __future__ import annotations

from collections.abc import Sequence

from pydantic import BaseModel, ConfigDict, Field

from iapo_bench.core import Split, Task
from iapo_bench.envs.family import SPLIT_SEEDS, TaskFamily
from iapo_bench.tools.gallery import Hit
from iapo_bench.tools.search import gallery_of

__all__ = ["RecallCell", "RecallReport", "measure_recall"]


class RecallCell(BaseModel):
    """Recall of one group of queries."""

    model_config = ConfigDict(frozen=True)

    queries: int = Field(description="How many queries.")
    recall_at_1: float = Field(description="Share whose item ranks first.")
    recall_at_5: float = Field(description="Share whose item ranks in the top five.")


class RecallReport(BaseModel):
    """Recall of the index on a family's tasks, by query mode and difficulty."""

    model_config = ConfigDict(frozen=True)

    split: str = Field(description="The split the tasks came from.")
    gallery_size: int = Field(description="Items in the gallery searched.")
    overall: RecallCell = Field(description="Every query.")
    by_mode: dict[str, RecallCell] = Field(description="Per query mode.")
    by_difficulty: dict[int, RecallCell] = Field(description="Per difficulty level.")
    clutter_region: RecallCell | None = Field(
        description="Cluttered scenes searched by the framed photo's box instead."
    )
    misses: tuple[str, ...] = Field(description="Ids of tasks whose item missed the top five.")


def _rank(hits: Sequence[Hit], target: int) -> int | None:
    return next((rank for rank, hit in enumerate(hits) if hit.index == target), None)


def _query(task: Task, region: bool = False) -> list[Hit]:
    gallery = gallery_of(task)
    if task.data["description"] is not None:
        return gallery.search_text(task.data["description"], 5)
    image = task.image
    if region:
        x0, y0, x1, y1 = task.data["item_box"]
        image = image[y0:y1, x0:x1]
    return gallery.search_image(image, 5)


def _cell(ranks: Sequence[int | None]) -> RecallCell:
    count = len(ranks)
    return RecallCell(
        queries=count,
        recall_at_1=sum(r == 0 for r in ranks) / max(count, 1),
        recall_at_5=sum(r is not None for r in ranks) / max(count, 1),
    )


def measure_recall(
    family: TaskFamily | None = None,
    tasks: int = 200,
    split: Split = "validation",
    difficulties: Sequence[int] | None = None,
) -> RecallReport:
    """Recall@1 and @5 over ``tasks`` tasks of ``split`` from its first seed, cycling levels."""
    if family is None:
        from iapo_bench.envs.search.family import SearchFamily

        family = SearchFamily()
    levels = tuple(difficulties or family.difficulties)
    start = SPLIT_SEEDS[split].start
    ranks: list[tuple[str, int, str, int | None]] = []
    region_ranks: list[int | None] = []
    size = 0
    for i in range(tasks):
        task = family.generate(split, levels[i % len(levels)], start + i)
        target = int(task.data["target"])
        size = gallery_of(task).size
        ranks.append((task.id, task.difficulty, task.data["mode"], _rank(_query(task), target)))
        if task.data["mode"] == "clutter":
            region_ranks.append(_rank(_query(task, region=True), target))
    modes = sorted({mode for _, _, mode, _ in ranks})
    return RecallReport(
        split=split,
        gallery_size=size,
        overall=_cell([r for *_, r in ranks]),
        by_mode={m: _cell([r for _, _, mode, r in ranks if mode == m]) for m in modes},
        by_difficulty={
            d: _cell([r for _, level, _, r in ranks if level == d])
            for d in sorted({level for _, level, _, _ in ranks})
        },
        clutter_region=_cell(region_ranks) if region_ranks else None,
        misses=tuple(task_id for task_id, _, _, r in ranks if r is None),
    )

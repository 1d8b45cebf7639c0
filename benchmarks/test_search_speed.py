"""Speed of ToolUse-ImageSearch-v0: the index at 1,000 and 10,000 items, tools, episodes.

- ``test_search_text`` / ``test_search_image``: one ranked query of the gallery index (BM25
  over the metadata; pixel features of a 256x256 query image), at 1,000 and 10,000 items:
  how search grows with the gallery.
- ``test_search_tool``: the ``search_images`` tool at the family's 1,000 items (k = 5, with
  the contact sheet), and ``open_item``.
- ``test_oracle_episode``: reset (which renders the target item and its query image), the
  oracle's ``open_item``, its answer; paired with its floor, the bare Pillow work it holds
  (render the item, make the query image, render the item again for ``open_item``).

The 10,000-item gallery is built once (about 20 s) and cached on disk like the family's own.
"""

import numpy as np
import pytest

import iapo_bench  # noqa: F401  (registers the ids)
from iapo_bench.envs import get_family, load_task
from iapo_bench.envs.search.family import MODES
from iapo_bench.envs.search.gallery import GALLERY_SEED, GALLERY_SIZE, get_gallery
from iapo_bench.envs.search.items import item_specs
from iapo_bench.envs.search.queries import image_query
from iapo_bench.envs.search.render import render_item
from iapo_bench.tools.search import open_item, search_images

ROUNDS = 25
SEARCH = get_family("search")
SIZES = [1_000, 10_000]


@pytest.fixture(scope="module", params=SIZES, ids=lambda n: f"{n}")
def gallery(request):
    return get_gallery(request.param, GALLERY_SEED)


@pytest.fixture(scope="module")
def task():
    get_gallery()  # built or loaded before anything is timed
    return SEARCH.generate("train", 1, 3)


def test_search_text(benchmark, gallery):
    item = gallery.items[gallery.size // 2]
    hits = benchmark(lambda: gallery.search_text(item.caption, 5))
    assert item.id in {hit.item.id for hit in hits}


def test_search_image(benchmark, gallery):
    index = gallery.size // 3
    image = gallery.image(index)
    hits = benchmark(lambda: gallery.search_image(image, 5))
    assert hits[0].index == index


def test_search_tool(benchmark, task):
    height, width = task.image.shape[:2]
    result = benchmark(lambda: search_images({"query": [0, 0, width, height]}, task=task))
    assert result.ok and task.evidence[0] in result.text


def test_open_item_tool(benchmark, task):
    result = benchmark(lambda: open_item({"item_id": task.evidence[0]}, task=task))
    assert result.ok and task.answer.split(".")[0] in result.text


def _floor(task) -> None:
    """Render the target, make its query image the same way, render it for ``open_item``."""
    spec = item_specs(GALLERY_SIZE, GALLERY_SEED)[task.data["target"]]
    rng = np.random.default_rng([task.seed, task.difficulty, 0x5EA2C4])
    if task.data["description"] is None:
        image_query(render_item(spec), spec, task.data["mode"], rng)
    render_item(spec)


@pytest.mark.parametrize("difficulty", sorted(MODES), ids=lambda d: f"d{d}")
def test_oracle_episode(benchmark, oracle_episodes, task, difficulty):
    seeds = iter(range(20_000_000, 30_000_000))
    oracle_episodes(
        benchmark,
        "ToolUse-ImageSearch-v0",
        lambda: SEARCH.task_id("train", difficulty, next(seeds)),
        lambda task: lambda: _floor(task),
        cold=load_task.cache_clear,
        rounds=ROUNDS,
    )

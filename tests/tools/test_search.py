"""Tests of the gallery index (iapo_bench/tools/gallery.py) and the search tools
(iapo_bench/tools/search.py), on real rendered galleries: no mocks."""

from __future__ import annotations

import hashlib
import json
import math
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import iapo_bench.envs  # noqa: F401  (registers the search family and its gallery)
from iapo_bench.core import AnswerType, Task, ToolCall
from iapo_bench.envs.search.gallery import GALLERY, GALLERY_SEED, GALLERY_SIZE, get_gallery
from iapo_bench.tools import gallery as index
from iapo_bench.tools.gallery import (
    WINDOWS,
    BM25Index,
    Gallery,
    image_features,
    item_features,
    store,
    tokenize,
)
from iapo_bench.tools.ocr import get_engine
from iapo_bench.tools.parser import format_tool_call, parse_action
from iapo_bench.tools.search import (
    SEARCH_TOOLS,
    THUMBNAIL_SIDE,
    open_item,
    parse_item_id,
    search_images,
)

TOOLS = {t.name: t for t in SEARCH_TOOLS}


@pytest.fixture(scope="module")
def gallery() -> Gallery:
    """The v0 gallery (built once, or loaded from the disk cache)."""
    return get_gallery()


V0 = {"name": GALLERY.name, "size": GALLERY_SIZE, "seed": GALLERY_SEED}


def make_task(image: np.ndarray | None = None, data: dict | None = None) -> Task:
    """A bare task that searches the v0 gallery, showing ``image``."""
    image = np.full((200, 300, 3), 240, np.uint8) if image is None else image
    return Task(
        id="search/v0/train/d0/0",
        family="search",
        version="v0",
        split="train",
        difficulty=0,
        seed=0,
        image=image,
        source_image=image,
        question="?",
        answer="0",
        answer_type=AnswerType.TEXT,
        question_kind="id",
        data={"gallery": V0} if data is None else data,
    )


# --- BM25 ------------------------------------------------------------------------------------


def test_tokenize_lowercases_splits_and_drops_stopwords():
    assert tokenize("A red-and-white Mug, 2 of them!") == ["red", "white", "mug", "2", "them"]
    assert tokenize("") == []


def test_bm25_matches_a_hand_computed_example():
    # N = 3 documents of lengths 2, 2, 3 (average 7/3); "red" and "mug" are each in two:
    # idf = ln(1 + (3 - 2 + 0.5) / (2 + 0.5)) = ln 1.6. With k1 = 1.5, b = 0.75:
    # doc 0 (tf 1 + 1, length 2): 2 * idf * 2.5 / (1 + 1.5 * (0.25 + 0.75 * 2 / (7/3)))
    # doc 1 ("mug" only) half of that; doc 2 ("red" twice, length 3):
    # idf * 2 * 2.5 / (2 + 1.5 * (0.25 + 0.75 * 3 / (7/3))).
    idf = math.log(1.6)
    norm2 = 1.5 * (0.25 + 0.75 * 2 / (7 / 3))
    norm3 = 1.5 * (0.25 + 0.75 * 3 / (7 / 3))
    expected = [2 * idf * 2.5 / (1 + norm2), idf * 2.5 / (1 + norm2), idf * 5 / (2 + norm3)]
    scores = BM25Index(["red mug", "blue mug", "red red lamp"]).scores("red mug")
    np.testing.assert_allclose(scores, expected, rtol=1e-12)
    np.testing.assert_allclose(expected, [1.0045879, 0.5022940, 0.6149580], rtol=1e-6)


def test_bm25_counts_each_query_term_once_and_ignores_unknown_words():
    index_ = BM25Index(["red mug", "blue mug", "red red lamp"])
    np.testing.assert_array_equal(index_.scores("red red mug"), index_.scores("red mug"))
    np.testing.assert_array_equal(index_.scores("red mug zebra"), index_.scores("mug red"))
    assert index_.known_terms("Zebra RED the mug red") == ["red", "mug"]
    assert not index_.scores("zebra").any()


def test_bm25_prefers_rare_terms_and_short_documents():
    index_ = BM25Index(["mug", "mug", "mug", "gold mug", "gold mug with many other words here"])
    scores = index_.scores("gold mug")
    assert scores.argmax() == 3
    assert scores[3] > scores[4] > scores[0]


def test_text_search_ranks_the_item_whose_caption_matches_first(gallery):
    for i in range(0, GALLERY_SIZE, 20):
        item = gallery.items[i]
        hits = gallery.search_text(item.caption, 5)
        assert hits[0].index == i, (item.caption, [h.item.caption for h in hits])
        assert hits[0].score > hits[1].score


def test_text_search_returns_only_items_that_match_a_word(gallery):
    hits = gallery.search_text("umbrella", 10)
    assert hits and all("umbrella" in tokenize(h.item.document()) for h in hits)
    assert gallery.search_text("zebra", 5) == []


# --- image features and image search ----------------------------------------------------------


def test_image_features_are_unit_vectors_of_a_fixed_size():
    rng = np.random.default_rng(0)
    shapes = [(256, 256), (37, 91), (4, 4), (384, 384)]
    vectors = [image_features(rng.integers(0, 256, (*s, 3), dtype=np.uint8)) for s in shapes]
    for vector in vectors:
        assert vector.dtype == np.float32 and vector.shape == vectors[0].shape
        assert abs(float(vector @ vector) - 1) < 1e-5
    black = image_features(np.zeros((50, 50, 3), np.uint8))
    assert np.isfinite(black).all()


def test_item_features_row_zero_is_the_whole_image(gallery):
    images = [gallery.image(i) for i in range(3)]
    rows = item_features(images)
    assert rows.shape == (3, 1 + len(WINDOWS), image_features(images[0]).shape[0])
    np.testing.assert_allclose(rows[:, 0], [image_features(i) for i in images], atol=1e-6)
    np.testing.assert_allclose(rows, gallery.features[:3], atol=1e-6)


def test_image_search_finds_unmodified_items_first(gallery):
    for i in range(0, GALLERY_SIZE, 7):
        hits = gallery.search_image(gallery.image(i), 5)
        assert hits[0].index == i
        assert hits[0].score == pytest.approx(1.0, abs=1e-4)


def test_image_search_finds_a_crop_of_an_item(gallery):
    found = 0
    for i in range(0, GALLERY_SIZE, 50):
        part = gallery.image(i)[30:210, 40:220]
        found += i in [h.index for h in gallery.search_image(part, 5)]
    assert found >= 18  # of 20


# --- the gallery: determinism and the disk cache ----------------------------------------------


def gallery_digest(size: int, seed: int) -> dict[str, str]:
    built = index.build_gallery(GALLERY, size, seed)
    items = json.dumps([item.model_dump(mode="json") for item in built.items], sort_keys=True)
    pixels = hashlib.sha256()
    for i in range(size):
        pixels.update(built.image(i).tobytes())
    return {
        "items": hashlib.sha256(items.encode()).hexdigest(),
        "pixels": pixels.hexdigest(),
        "features": hashlib.sha256(built.features.tobytes()).hexdigest(),
    }


_DIGEST = """
import json, sys
sys.path.insert(0, {tests!r})
from tests.tools.test_search import gallery_digest
print(json.dumps(gallery_digest(60, 11)))
"""


def test_gallery_is_deterministic_across_builds_and_processes():
    here = gallery_digest(60, 11)
    assert gallery_digest(60, 11) == here
    assert gallery_digest(60, 12) != here
    root = str(Path(__file__).resolve().parents[2])
    completed = subprocess.run(
        [sys.executable, "-c", _DIGEST.format(tests=root)],
        capture_output=True,
        text=True,
        env=dict(os.environ, PYTHONHASHSEED="99"),
        check=False,
        timeout=120,
    )
    assert completed.returncode == 0, completed.stderr
    assert json.loads(completed.stdout.strip().splitlines()[-1]) == here


def test_a_larger_gallery_of_the_same_seed_starts_with_the_smaller_one():
    small = GALLERY.items(30, 5)
    assert tuple(GALLERY.items(60, 5)[:30]) == tuple(small)
    np.testing.assert_array_equal(GALLERY.render(30, 5, 29), GALLERY.render(60, 5, 29))


@pytest.fixture
def cache(tmp_path, monkeypatch):
    """A fresh, empty cache folder; the process-wide gallery cache is cleared around it."""
    monkeypatch.setenv("IAPO_BENCH_CACHE", str(tmp_path))
    index.get_gallery.cache_clear()
    yield tmp_path
    index.get_gallery.cache_clear()


def test_cache_root_follows_the_environment(monkeypatch, tmp_path):
    monkeypatch.setenv("IAPO_BENCH_CACHE", str(tmp_path / "a"))
    assert index.cache_root() == tmp_path / "a"
    monkeypatch.delenv("IAPO_BENCH_CACHE")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert index.cache_root() == tmp_path / "xdg" / "iapo_bench"
    monkeypatch.delenv("XDG_CACHE_HOME")
    assert index.cache_root() == Path.home() / ".cache" / "iapo_bench"


def _refuse_to_build(*args, **kwargs):
    raise AssertionError("the gallery was rebuilt instead of read from the cache")


def test_cache_round_trips(cache, monkeypatch):
    built = index.get_gallery(GALLERY.name, 40, 3)
    folder = index.cache_dir(GALLERY, 40, 3)
    assert folder.parent == cache / "galleries"
    assert sorted(p.name for p in folder.iterdir()) == ["features.npz", "items.json"]
    index.get_gallery.cache_clear()
    monkeypatch.setattr(index, "build_gallery", _refuse_to_build)
    loaded = index.get_gallery(GALLERY.name, 40, 3)
    assert loaded is not built
    assert loaded.items == built.items
    np.testing.assert_array_equal(loaded.features, built.features)
    assert index.get_gallery(GALLERY.name, 40, 3) is loaded  # once per process


@pytest.mark.parametrize(
    "damage",
    ["garbage_features", "truncated_features", "truncated_items", "no_items", "other_version"],
)
def test_a_damaged_cache_is_rebuilt(cache, damage):
    fresh = index.get_gallery(GALLERY.name, 40, 3)
    folder = index.cache_dir(GALLERY, 40, 3)
    features, items = folder / "features.npz", folder / "items.json"
    if damage == "garbage_features":
        features.write_bytes(b"not a numpy file")
    elif damage == "truncated_features":
        features.write_bytes(features.read_bytes()[:100])
    elif damage == "truncated_items":
        items.write_text(items.read_text()[:500])
    elif damage == "no_items":
        items.unlink()
    else:
        manifest = json.loads(items.read_text())
        manifest["features_version"] = -1
        items.write_text(json.dumps(manifest))
    index.get_gallery.cache_clear()
    rebuilt = index.get_gallery(GALLERY.name, 40, 3)
    assert rebuilt.items == fresh.items
    np.testing.assert_array_equal(rebuilt.features, fresh.features)
    # ... and the cache is whole again.
    index.get_gallery.cache_clear()
    assert store._load(GALLERY, 40, 3, folder) is not None


def test_an_unwritable_cache_only_costs_a_rebuild(tmp_path, monkeypatch):
    blocker = tmp_path / "file"
    blocker.write_text("a file where the cache folder should be")
    monkeypatch.setenv("IAPO_BENCH_CACHE", str(blocker))
    index.get_gallery.cache_clear()
    try:
        assert index.get_gallery(GALLERY.name, 20, 3).size == 20
    finally:
        index.get_gallery.cache_clear()


def test_unknown_gallery_source_is_a_clear_error():
    with pytest.raises(KeyError, match="unknown gallery source 'nope'"):
        index.gallery_source("nope")


# --- search_images -----------------------------------------------------------------------------


def sheet_size(k: int) -> tuple[int, int]:
    columns, rows = min(5, k), math.ceil(k / 5)
    return rows * (THUMBNAIL_SIDE + 24) + 6, columns * (THUMBNAIL_SIDE + 6) + 6


@pytest.mark.parametrize("k", [1, 3, 5, 7, 10])
def test_text_search_returns_k_ids_and_a_contact_sheet(gallery, k):
    result = search_images({"query": "red mug", "k": k}, task=make_task())
    assert result.ok, result.error
    lines = result.text.splitlines()
    listed = [line.split()[1] for line in lines[1:-1]]
    assert listed == [h.item.id for h in gallery.search_text("red mug", k)]
    assert len(listed) == k
    assert result.image is not None and result.image.shape == (*sheet_size(k), 3)


def test_contact_sheet_shows_each_thumbnail_with_its_id_legibly(gallery):
    result = search_images({"query": "poster gold", "k": 5}, task=make_task())
    ids = [line.split()[1] for line in result.text.splitlines()[1:-1]]
    sheet = result.image
    for rank, item_id in enumerate(ids):
        thumb = gallery.thumbnail(gallery.index_of(item_id), THUMBNAIL_SIDE)
        x = 6 + rank * (THUMBNAIL_SIDE + 6)
        np.testing.assert_array_equal(sheet[6 : 6 + THUMBNAIL_SIDE, x : x + THUMBNAIL_SIDE], thumb)
    labels = sheet[6 + THUMBNAIL_SIDE :, :]
    text = " ".join(line.text for line in get_engine().read(labels)).replace(" ", "")
    for item_id in ids:
        assert item_id in text, (item_id, text)


def test_region_search_reads_that_region_of_the_shown_image(gallery):
    target = 123
    canvas = np.full((400, 500, 3), 250, np.uint8)
    canvas[100:356, 200:456] = gallery.image(target)
    task = make_task(canvas)
    result = search_images({"query": [200, 100, 456, 356], "k": 3}, task=task)
    assert result.ok, result.error
    assert result.text.splitlines()[1].split()[1] == gallery.items[target].id
    assert "[200, 100, 456, 356]" in result.text
    # A box reaching past the image is clipped to it.
    clipped = search_images({"query": [200, 100, 900, 900], "k": 3}, task=task)
    assert "[200, 100, 500, 400]" in clipped.text


@pytest.mark.parametrize(
    "arguments, message",
    [
        ({"query": "zebra xylophone"}, "none of the words of 'zebra xylophone' occur"),
        ({"query": "   "}, "the query is empty"),
        ({"query": "the of and"}, "none of the words"),
        ({"query": [10, 10, 12, 12]}, "covers less than 4x4 pixels"),
        ({"query": [1, 2, 3]}, "query"),
        ({"query": "red", "k": 0}, "k: Input should be greater than or equal to 1"),
        ({"query": "red", "k": 11}, "k: Input should be less than or equal to 10"),
        ({"k": 3}, "query: Field required"),
        ({"query": "red", "colour": "red"}, "Extra inputs are not permitted"),
    ],
)
def test_search_errors_name_the_problem(gallery, arguments, message):
    result = search_images(arguments, task=make_task())
    assert not result.ok and result.image is None
    assert message in result.error


def test_search_images_schema_offers_words_or_a_box():
    parameters = search_images.schema["function"]["parameters"]
    assert parameters["required"] == ["query"]
    assert set(parameters["properties"]) == {"query", "k"}
    kinds = [option["type"] for option in parameters["properties"]["query"]["anyOf"]]
    assert kinds == ["string", "array"]
    assert parameters["properties"]["k"]["minimum"] == 1
    assert parameters["properties"]["k"]["maximum"] == 10


def test_tool_calls_parse_with_the_one_parser():
    for arguments in ({"query": [1, 2, 30, 40], "k": 3}, {"query": "gold stripes", "k": 5}):
        call = ToolCall(name="search_images", arguments=arguments)
        assert parse_action(format_tool_call(call), TOOLS) == call
    # The default k is filled in.
    call = ToolCall(name="search_images", arguments={"query": "gold"})
    assert parse_action(format_tool_call(call), TOOLS).arguments == {"query": "gold", "k": 5}
    call = ToolCall(name="open_item", arguments={"item_id": "G-00001"})
    assert parse_action(format_tool_call(call), TOOLS) == call


def test_a_task_without_a_gallery_gets_an_error_not_an_exception():
    bare = make_task(data={})
    for name, arguments in (("search_images", {"query": "red"}), ("open_item", {"item_id": "G-1"})):
        result = TOOLS[name](arguments, task=bare)
        assert result.error == "this task has no gallery to search"


# --- open_item ---------------------------------------------------------------------------------


def test_open_item_returns_the_full_image_and_all_metadata(gallery):
    item = gallery.items[421]
    result = open_item({"item_id": "G-00421"}, task=make_task())
    assert result.ok, result.error
    np.testing.assert_array_equal(result.image, gallery.image(421))
    assert result.image.shape == (256, 256, 3)
    for value in (item.id, item.title, item.maker, f"${item.price}", str(item.year), item.caption):
        assert value in result.text
    assert ", ".join(item.tags) in result.text


@pytest.mark.parametrize("written", ["g-00421", " G00421 ", "G-421"])
def test_open_item_forgives_case_spaces_and_a_missing_dash(written):
    result = open_item({"item_id": written}, task=make_task())
    assert result.text.startswith("id: G-00421\n")
    assert result.focus.items == ("G-00421",)  # the item as the gallery names it


@pytest.mark.parametrize("item_id", ["G-01000", "G-99999", "item 5", "", "00421x"])
def test_open_item_names_an_unknown_id_and_the_expected_form(item_id):
    result = open_item({"item_id": item_id}, task=make_task())
    assert not result.ok and result.image is None
    assert f"there is no gallery item {item_id!r}" in result.error
    assert "'G-' and five digits, from G-00000 to G-00999" in result.error


def test_parse_item_id():
    assert parse_item_id("G-00000") == 0
    assert parse_item_id("g-09999") == 9999
    assert parse_item_id("G-123456") is None
    assert parse_item_id("H-00001") is None

"""Tests of the text and image spaces (iapo_bench/envs/spaces.py)."""

from __future__ import annotations

import copy
import multiprocessing
import pickle
import sys
from typing import Any

import numpy as np
import pytest
from gymnasium import spaces
from gymnasium.vector.utils import (
    batch_space,
    create_shared_memory,
    read_from_shared_memory,
    write_to_shared_memory,
)
from hypothesis import given, settings
from hypothesis import strategies as st

from iapo_bench.envs.spaces import (
    ImageSpace,
    SharedObservations,
    SharedObservationsView,
    ToolUseObservation,
    UnicodeText,
)

# --- UnicodeText ------------------------------------------------------------------------


@pytest.mark.parametrize(
    "text",
    [
        "",
        "a",
        "two words",
        "line one\nline two\n",
        "\t tabs and spaces \t",
        "éüßñ € 中文 — …",
        "emoji 🙂 and zero-width \u200b",
        "<answer>42</answer>",
        "x" * 64,
    ],
)
def test_unicode_text_contains_any_str_up_to_max_length(text: str) -> None:
    assert text in UnicodeText(max_length=64)


def test_unicode_text_length_bound_is_inclusive() -> None:
    space = UnicodeText(max_length=5)
    assert "ü" * 5 in space
    assert "ü" * 6 not in space
    assert "abcdef" not in space
    assert space.contains("12345") is True
    assert space.contains("123456") is False


@pytest.mark.parametrize("value", [None, 3, 3.5, b"bytes", ["a"], ("a",), np.array(["a"])])
def test_unicode_text_rejects_non_str(value: object) -> None:
    assert not UnicodeText(max_length=100).contains(value)


@given(st.text(max_size=40))
@settings(max_examples=200, deadline=None)
def test_unicode_text_contains_hypothesis_text(text: str) -> None:
    assert UnicodeText(max_length=40).contains(text)
    if len(text) > 1:
        assert not UnicodeText(max_length=len(text) - 1).contains(text)


def test_unicode_text_sample_is_seeded_deterministic_and_contained() -> None:
    first = UnicodeText(max_length=300, seed=7)
    second = UnicodeText(max_length=300, seed=7)
    a = [first.sample() for _ in range(50)]
    b = [second.sample() for _ in range(50)]
    assert a == b
    assert len(set(a)) > 10  # it really is random, not constant
    assert all(isinstance(s, str) and s in first for s in a)
    other = UnicodeText(max_length=300, seed=8)
    assert [other.sample() for _ in range(50)] != a
    # Re-seeding restarts the stream.
    first.seed(7)
    assert [first.sample() for _ in range(50)] == a


@pytest.mark.parametrize("max_length", [1, 2, 7, 200, 1000])
def test_unicode_text_sample_respects_max_length(max_length: int) -> None:
    space = UnicodeText(max_length=max_length, seed=0)
    samples = [space.sample() for _ in range(200)]
    assert all(len(s) <= max_length for s in samples)
    assert all(s in space for s in samples)


def test_unicode_text_sample_uses_action_fragments_and_non_ascii() -> None:
    space = UnicodeText(max_length=200, seed=1)
    joined = "".join(space.sample() for _ in range(300))
    assert "<answer>" in joined
    assert "<tool_call>" in joined
    assert any(ord(c) > 127 for c in joined)
    assert " " in joined


def test_unicode_text_sample_rejects_mask_and_probability() -> None:
    space = UnicodeText(max_length=10, seed=0)
    with pytest.raises(NotImplementedError):
        space.sample(mask=np.ones(3))
    with pytest.raises(NotImplementedError):
        space.sample(probability=np.ones(3))


def test_unicode_text_equality_and_hash() -> None:
    assert UnicodeText(max_length=10) == UnicodeText(max_length=10, seed=3)
    assert UnicodeText(max_length=10) != UnicodeText(max_length=11)
    assert UnicodeText(max_length=10) != ImageSpace(max_side=10)
    assert UnicodeText(max_length=10) != "UnicodeText(max_length=10)"
    assert hash(UnicodeText(max_length=10)) == hash(UnicodeText(max_length=10))
    assert len({UnicodeText(max_length=10), UnicodeText(max_length=10)}) == 1
    assert copy.deepcopy(UnicodeText(max_length=9)) == UnicodeText(max_length=9)
    assert repr(UnicodeText(max_length=9)) == "UnicodeText(max_length=9)"


@pytest.mark.parametrize("max_length", [0, -1, -100])
def test_unicode_text_invalid_max_length_raises(max_length: int) -> None:
    with pytest.raises(ValueError, match="max_length"):
        UnicodeText(max_length=max_length)


def test_unicode_text_is_not_flattenable() -> None:
    assert UnicodeText(max_length=3).is_np_flattenable is False


# --- ImageSpace -------------------------------------------------------------------------


@pytest.mark.parametrize("shape", [(1, 1, 3), (4, 5, 3), (64, 32, 3), (100, 100, 3)])
def test_image_space_contains_uint8_rgb_within_bounds(shape: tuple[int, int, int]) -> None:
    space = ImageSpace(min_side=1, max_side=100)
    assert np.zeros(shape, np.uint8) in space
    assert np.full(shape, 255, np.uint8) in space


@pytest.mark.parametrize(
    "value",
    [
        np.zeros((4, 4, 3), np.float32),
        np.zeros((4, 4, 3), np.float64),
        np.zeros((4, 4, 3), np.int64),
        np.zeros((4, 4, 3), np.uint16),
        np.zeros((4, 4), np.uint8),
        np.zeros((4, 4, 4), np.uint8),
        np.zeros((4, 4, 1), np.uint8),
        np.zeros((2, 4, 4, 3), np.uint8),
        np.zeros((101, 4, 3), np.uint8),
        np.zeros((4, 101, 3), np.uint8),
        np.zeros((0, 4, 3), np.uint8),
        np.zeros((4, 1, 3), np.uint8),  # below min_side=2
        [[[0, 0, 0]]],
        "image",
        None,
    ],
)
def test_image_space_rejects(value: object) -> None:
    assert not ImageSpace(min_side=2, max_side=100).contains(value)


def test_image_space_bounds_are_inclusive() -> None:
    space = ImageSpace(min_side=3, max_side=10)
    assert np.zeros((3, 10, 3), np.uint8) in space
    assert np.zeros((10, 3, 3), np.uint8) in space
    assert np.zeros((2, 10, 3), np.uint8) not in space
    assert np.zeros((11, 3, 3), np.uint8) not in space


@pytest.mark.parametrize("bounds", [(1, 4096), (5, 5), (1, 8), (30, 200)])
def test_image_space_sample_is_contained_and_seeded(bounds: tuple[int, int]) -> None:
    low, high = bounds
    space = ImageSpace(min_side=low, max_side=high, seed=11)
    twin = ImageSpace(min_side=low, max_side=high, seed=11)
    for _ in range(20):
        image = space.sample()
        assert image in space
        assert image.dtype == np.uint8 and image.ndim == 3 and image.shape[2] == 3
        assert low <= image.shape[0] <= high and low <= image.shape[1] <= high
        np.testing.assert_array_equal(image, twin.sample())


def test_image_space_sample_rejects_mask() -> None:
    with pytest.raises(NotImplementedError):
        ImageSpace(max_side=8, seed=0).sample(mask=np.ones(3))


def test_image_space_equality_and_hash() -> None:
    assert ImageSpace(min_side=2, max_side=9) == ImageSpace(min_side=2, max_side=9, seed=1)
    assert ImageSpace(min_side=2, max_side=9) != ImageSpace(min_side=1, max_side=9)
    assert ImageSpace(min_side=2, max_side=9) != ImageSpace(min_side=2, max_side=10)
    assert ImageSpace(max_side=9) != UnicodeText(max_length=9)
    assert hash(ImageSpace(max_side=9)) == hash(ImageSpace(max_side=9))
    assert copy.deepcopy(ImageSpace(max_side=9)) == ImageSpace(max_side=9)
    assert ImageSpace(max_side=9).is_np_flattenable is False


@pytest.mark.parametrize("bounds", [(0, 10), (5, 4), (-1, 3)])
def test_image_space_invalid_bounds_raise(bounds: tuple[int, int]) -> None:
    with pytest.raises(ValueError, match="min_side"):
        ImageSpace(min_side=bounds[0], max_side=bounds[1])


# --- Together, as the env uses them -----------------------------------------------------


def test_batch_space_on_a_dict_of_both() -> None:
    single = spaces.Dict(
        {"text": UnicodeText(max_length=50), "image": ImageSpace(max_side=32)}, seed=0
    )
    batched = batch_space(single, n=3)
    assert isinstance(batched, spaces.Dict)
    assert isinstance(batched["text"], spaces.Tuple)
    assert isinstance(batched["image"], spaces.Tuple)
    assert len(batched["text"]) == 3 and len(batched["image"]) == 3
    assert all(s == UnicodeText(max_length=50) for s in batched["text"])
    assert all(s == ImageSpace(max_side=32) for s in batched["image"])
    sample = batched.sample()
    assert sample in batched
    assert len(sample["text"]) == 3 and all(isinstance(t, str) for t in sample["text"])
    good = {
        "text": ("a", "b c", "ü"),
        "image": tuple(np.zeros((2, 2, 3), np.uint8) for _ in range(3)),
    }
    assert good in batched
    bad = {"text": ("a", "b", "x" * 51), "image": good["image"]}
    assert bad not in batched


def test_batch_space_on_the_env_observation_space() -> None:
    observation_space = spaces.Dict(
        {
            "text": UnicodeText(max_length=10_000),
            "images": spaces.Sequence(ImageSpace(max_side=64), stack=False),
        }
    )
    batched = batch_space(observation_space, n=2)
    observation = {
        "text": ("<image>\nq1", "<image>\nq2"),
        "images": ((np.zeros((3, 4, 3), np.uint8),), (np.ones((5, 6, 3), np.uint8),) * 2),
    }
    assert observation in batched


# --- ToolUseObservation -------------------------------------------------------------------


def observation(text: str = "", *shapes: tuple[int, int]) -> dict[str, Any]:
    images = tuple(
        np.arange(h * w * 3, dtype=np.uint64).astype(np.uint8).reshape(h, w, 3) for h, w in shapes
    )
    return {"text": text, "images": images}


def test_tool_use_observation_bounds_text_images_and_their_count() -> None:
    space = ToolUseObservation(max_text_length=10, max_images=2, max_side=8)
    assert observation("a" * 10, (8, 8), (1, 3)) in space
    assert (
        observation(
            "",
        )
        in space
    )
    assert observation("a" * 11, (8, 8)) not in space
    assert observation("abc", (8, 8), (2, 2), (2, 2)) not in space  # three images
    assert observation("abc", (9, 8)) not in space
    assert {"text": "abc", "images": [np.zeros((2, 2, 3), np.uint8)]} not in space  # a list
    assert {"text": "abc"} not in space
    assert {"text": "abc", "images": (), "extra": 1} not in space
    assert "abc" not in space
    assert space.max_text_length == 10 and space.max_images == 2 and space.max_side == 8
    assert isinstance(space, spaces.Dict) and not space.is_np_flattenable


def test_tool_use_observation_sample_is_contained_and_seeded() -> None:
    space = ToolUseObservation(max_text_length=300, max_images=3, max_side=16, seed=4)
    twin = ToolUseObservation(max_text_length=300, max_images=3, max_side=16, seed=4)
    counts = set()
    for _ in range(60):
        sample, again = space.sample(), twin.sample()
        assert sample in space
        assert list(sample) == list(space.spaces)
        assert sample["text"] == again["text"]
        assert len(sample["images"]) == len(again["images"])
        for a, b in zip(sample["images"], again["images"], strict=True):
            np.testing.assert_array_equal(a, b)
        counts.add(len(sample["images"]))
    assert counts == {0, 1, 2, 3}
    with pytest.raises(NotImplementedError):
        space.sample(mask={"text": None, "images": None})


def test_tool_use_observation_equality_hash_repr_and_pickle() -> None:
    space = ToolUseObservation(max_text_length=10, max_images=2, max_side=8)
    assert space == ToolUseObservation(max_text_length=10, max_images=2, max_side=8, seed=3)
    assert space != ToolUseObservation(max_text_length=11, max_images=2, max_side=8)
    assert space != ToolUseObservation(max_text_length=10, max_images=3, max_side=8)
    assert space != ToolUseObservation(max_text_length=10, max_images=2, max_side=9)
    plain = spaces.Dict(
        {
            "text": UnicodeText(max_length=10),
            "images": spaces.Sequence(ImageSpace(max_side=8), stack=False),
        }
    )
    assert space != plain and plain != space
    assert hash(space) == hash(ToolUseObservation(max_text_length=10, max_images=2, max_side=8))
    assert repr(space) == "ToolUseObservation(max_text_length=10, max_images=2, max_side=8)"
    assert pickle.loads(pickle.dumps(space)) == space
    assert copy.deepcopy(space) == space


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"max_text_length": 0, "max_images": 1}, "max_length"),
        ({"max_text_length": 5, "max_images": 0}, "max_images"),
        ({"max_text_length": 5, "max_images": 2.5}, "max_images"),
        ({"max_text_length": 5, "max_images": 1, "max_side": 0}, "min_side"),
    ],
)
def test_tool_use_observation_invalid_arguments_raise(kwargs: dict[str, Any], match: str) -> None:
    with pytest.raises(ValueError, match=match):
        ToolUseObservation(**kwargs)


# --- shared memory ------------------------------------------------------------------------

SPACE = ToolUseObservation(max_text_length=40, max_images=3, max_side=16)

texts = st.text(
    alphabet=st.characters(categories=["Cs", "Ll", "Lo", "Cc", "So", "Zs"]), max_size=40
)
shapes = st.lists(st.tuples(st.integers(1, 16), st.integers(1, 16)), max_size=3)


@given(writes=st.lists(st.tuples(st.integers(0, 2), texts, shapes), min_size=1, max_size=12))
@settings(max_examples=100, deadline=None)
def test_shared_observations_read_back_what_each_env_wrote_last(
    writes: list[tuple[int, str, list[tuple[int, int]]]],
) -> None:
    shared = SharedObservations(SPACE, n=3)
    latest = {index: observation() for index in range(3)}
    for index, text, sizes in writes:
        latest[index] = observation(text, *sizes)
        shared.write(index, latest[index])
    batch = shared.read()
    assert list(batch) == list(SPACE.spaces)
    assert batch["text"] == tuple(latest[i]["text"] for i in range(3))
    for index in range(3):
        got, want = batch["images"][index], latest[index]["images"]
        assert len(got) == len(want)
        for a, b in zip(got, want, strict=True):
            assert a.dtype == np.uint8 and a.flags.writeable
            np.testing.assert_array_equal(a, b)
    assert batch in batch_space(SPACE, n=3)


@pytest.mark.parametrize(
    "value",
    [
        observation("x" * 41),
        observation("x", (2, 2), (2, 2), (2, 2), (2, 2)),
        observation("x", (17, 2)),
        {"text": "x", "images": (np.zeros((2, 2, 3), np.float32),)},
        {"text": "x", "images": (np.zeros((2, 2), np.uint8),)},
        {"text": 3, "images": ()},
        {"text": "x"},
        "x",
    ],
)
def test_shared_observations_refuse_what_is_not_in_the_space(value: Any) -> None:
    shared = SharedObservations(SPACE, n=1)
    with pytest.raises(ValueError, match="not in ToolUseObservation"):
        shared.write(0, value)


def test_shared_observations_check_the_env_index() -> None:
    shared = SharedObservations(SPACE, n=2)
    for index in (-1, 2):
        with pytest.raises(IndexError, match="out of range"):
            shared.write(index, observation("x"))
    with pytest.raises(ValueError, match="n must be"):
        SharedObservations(SPACE, n=0)


def test_gymnasium_dispatches_its_shared_memory_functions_to_the_space() -> None:
    shared = create_shared_memory(SPACE, n=2, ctx=multiprocessing.get_context())
    assert isinstance(shared, SharedObservations) and shared.n == 2
    view = read_from_shared_memory(SPACE, shared, n=2)
    assert isinstance(view, SharedObservationsView)
    write_to_shared_memory(SPACE, 1, observation("second", (3, 4)), shared)
    assert view["text"] == ("", "second")
    assert view["images"][1][0].shape == (3, 4, 3)
    with pytest.raises(ValueError, match="holds 2 envs"):
        read_from_shared_memory(SPACE, shared, n=3)


def test_the_view_reads_the_latest_observations_and_its_copies_do_not_change() -> None:
    shared = SharedObservations(SPACE, n=2)
    view = SharedObservationsView(shared)
    shared.write(0, observation("first", (2, 3)))
    snapshots = [
        copy.deepcopy(view),
        copy.copy(view),
        view.copy(),
        pickle.loads(pickle.dumps(view)),
    ]
    snapshots += [dict(view), {**view}, view.snapshot()]
    assert all(type(s) is dict and s["text"] == ("first", "") for s in snapshots)
    shared.write(0, observation("again", (4, 4), (1, 1)))
    # The view shows the new observation, through every way of reading a dict...
    assert view["text"] == view.get("text") == ("again", "")
    assert dict(view.items())["text"] == ("again", "")
    assert [len(images) for images in view["images"]] == [2, 0]
    assert [len(images) for images in view.values()[0]] == [2, 0]
    assert dict(view)["text"] == ("again", "")
    assert list(view) == list(view.keys()) == list(SPACE.spaces) and len(view) == 2
    assert "text" in view and "other" not in view and view.get("other", 5) == 5
    assert view in batch_space(SPACE, n=2)
    assert view == view.snapshot() and view != snapshots[0]
    assert "again" in repr(view)
    assert (view | {"x": 1})["text"] == ("again", "")
    with pytest.raises(KeyError):
        view["other"]
    # ...while the snapshots kept theirs, and each read is a fresh array.
    assert all(s["text"] == ("first", "") for s in snapshots)
    first, second = view["images"][0][0], view["images"][0][0]
    assert not np.shares_memory(first, second)
    first[:] = 9
    np.testing.assert_array_equal(second, view["images"][0][0])


@pytest.mark.parametrize(
    "change",
    [
        lambda v: v.__setitem__("text", ()),
        lambda v: v.__delitem__("text"),
        lambda v: v.update({}),
        lambda v: v.pop("text"),
        lambda v: v.popitem(),
        lambda v: v.clear(),
        lambda v: v.setdefault("x", 1),
    ],
)
def test_the_view_is_read_only(change: Any) -> None:
    view = SharedObservationsView(SharedObservations(SPACE, n=1))
    with pytest.raises(TypeError, match="read-only"):
        change(view)
    assert list(view) == list(SPACE.spaces)


def _write_from_another_process(shared: SharedObservations, index: int, text: str) -> None:
    shared.write(index, observation(text, (16, 16), (5, 7)))


@pytest.mark.parametrize("method", ["fork", "spawn"])
def test_shared_observations_cross_processes(method: str) -> None:
    if method not in multiprocessing.get_all_start_methods():
        pytest.skip(f"no {method} start method here")
    context = multiprocessing.get_context(method)
    shared = SharedObservations(SPACE, n=2)
    view = SharedObservationsView(shared)
    process = context.Process(target=_write_from_another_process, args=(shared, 1, "from afar ü"))
    process.start()
    process.join(timeout=60)
    assert process.exitcode == 0
    assert view["text"] == ("", "from afar ü")
    expected = observation("", (16, 16), (5, 7))["images"]
    for a, b in zip(view["images"][1], expected, strict=True):
        np.testing.assert_array_equal(a, b)


def _resident_kib() -> int:
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    raise AssertionError("no VmRSS")


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc/self/status")
def test_unused_capacity_costs_no_memory() -> None:
    # Eight envs of four 4096 x 4096 images each: 1.6 GB of capacity, of which a small
    # observation touches a few pages.
    space = ToolUseObservation(max_text_length=100_000, max_images=4, max_side=4096)
    before = _resident_kib()
    shared = SharedObservations(space, n=8)
    assert shared.slot_bytes * 8 > 1_600_000_000
    for index in range(8):
        shared.write(index, observation("x" * 1000, (64, 64)))
    assert shared.read()["text"] == ("x" * 1000,) * 8
    assert _resident_kib() - before < 64 * 1024

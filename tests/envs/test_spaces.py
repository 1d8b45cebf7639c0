"""Tests of the text and image spaces (iapo_bench/envs/spaces.py)."""

from __future__ import annotations

import copy

import numpy as np
import pytest
from gymnasium import spaces
from gymnasium.vector.utils import batch_space
from hypothesis import given, settings
from hypothesis import strategies as st

from iapo_bench.envs.spaces import ImageSpace, UnicodeText

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

"""Prompt blocks: spans from the template's pieces and the processor's image grids."""

import gymnasium as gym
import numpy as np
import pytest

pytest.importorskip("torch")
pytest.importorskip("transformers")

import iapo_bench.envs  # noqa: F401  (registers the ids)
from iapo_bench.chat import split_system_prompt
from iapo_bench.core import Box
from iapo_bench.models.blocks import (
    Prompt,
    block_names,
    prompt_layout,
    token_blocks,
)
from iapo_bench.models.inputs import encode, image_token_count
from iapo_bench.models.processor import build_processor

ZOOM = '<tool_call>\n{"name": "zoom", "arguments": {"box": [%d, 40, 300, 300]}}\n</tool_call>'


@pytest.fixture(scope="module")
def processor():
    return build_processor()


def _chart_prompt(zooms: int) -> tuple[Prompt, dict]:
    """A chart prompt after ``zooms`` zoom calls: 1 + zooms images."""
    env = gym.make("ToolUse-Chart-v0", difficulty=1).unwrapped
    obs, info = env.reset(seed=5)
    for k in range(zooms):
        obs, _, _, _, info = env.step(ZOOM % (10 + 20 * k))
    assert len(obs["images"]) == 1 + zooms
    return Prompt(messages=info["messages"], images=obs["images"]), info


def _text(processor, layout, kind) -> str:
    ids = [t for t, k in zip(layout.token_ids, layout.kinds, strict=True) if k == kind]
    return processor.tokenizer.decode(ids)


@pytest.mark.parametrize("zooms", [0, 1, 2])
def test_spans_match_the_processor_grid_and_the_template_pieces(processor, zooms):
    prompt, info = _chart_prompt(zooms)
    layout = prompt_layout(processor, prompt)
    batch = encode(processor, [info["messages"]], [prompt.images])
    # The same tokens the processor makes, in the same order.
    assert layout.token_ids == tuple(batch["input_ids"][0].tolist())
    # Every image: its grid's token count, contiguous, all image pads, in order.
    grids = batch["image_grid_thw"]
    assert len(layout.images) == len(grids) == 1 + zooms
    for image, grid, array in zip(layout.images, grids, prompt.images, strict=True):
        assert image.count == int(grid.prod()) // 4 == image_token_count(processor, array)
        assert (image.rows, image.cols) == (int(grid[1]) // 2, int(grid[2]) // 2)
        span = layout.token_ids[image.start : image.start + image.count]
        assert set(span) == {processor.image_token_id}
        assert (image.height, image.width) == array.shape[:2]
    assert [i.kind for i in layout.images] == ["image"] + ["tool_image"] * zooms
    image_kinds = {"image", "tool_image"}
    pads = [k in image_kinds for k in layout.kinds]
    assert pads == [t == processor.image_token_id for t in layout.token_ids]
    # The text blocks are exactly the pieces the prompt was built from.
    _, tools, _ = split_system_prompt(info["messages"][0]["content"])
    assert _text(processor, layout, "tools") == tools
    assert _text(processor, layout, "query") == info["messages"][1]["content"][1]["text"]
    assert _text(processor, layout, "assistant") == "".join(
        m["content"] for m in info["messages"] if m["role"] == "assistant"
    )
    assert _text(processor, layout, "tool_text") == "".join(
        m["content"][0]["text"] for m in info["messages"] if m["role"] == "tool"
    )
    assert _text(processor, layout, "markup").startswith("<|im_start|>system\n<|im_end|>")


def test_a_compact_system_prompt_has_its_tools_block(processor):
    # Bars shows the compact style: the tool signatures are the tools block, as in the full.
    env = gym.make("ToolUse-Bars-v0").unwrapped
    obs, info = env.reset(seed=3)
    layout = prompt_layout(processor, Prompt(messages=info["messages"], images=obs["images"]))
    assert _text(processor, layout, "tools") == "compare(bars)"
    assert _text(processor, layout, "system").startswith("Call a tool to look closer")


def test_partitions_map_tool_outputs(processor):
    prompt, _ = _chart_prompt(2)
    layout = prompt_layout(processor, prompt)
    paper = token_blocks(layout, "paper")
    outputs = token_blocks(layout, "outputs")
    assert set(paper) == {"P", "R", "I", "T"} and set(outputs) == {"P", "R", "I", "T", "O"}
    for kind, a, b in zip(layout.kinds, paper, outputs, strict=True):
        if kind == "tool_image":
            assert (a, b) == ("I", "O")
        elif kind == "tool_text":
            assert (a, b) == ("P", "O")
        else:
            assert a == b
    assert block_names("outputs") == ("P", "R", "I", "T", "O")


def test_image_splits_cover_the_image_block(processor):
    prompt, _ = _chart_prompt(1)
    layout = prompt_layout(processor, prompt)
    first = layout.images[0]
    height, width = first.height, first.width
    # An evidence region covering the top-left quarter of the first image.
    box = Box(x0=0, y0=0, x1=width // 2, y1=height // 2)
    evidence = token_blocks(layout, "paper", "evidence", evidence=(box,))
    grid = token_blocks(layout, "paper", "grid", grid_size=2)
    paper = token_blocks(layout, "paper")
    for whole, split_a, split_b in zip(paper, evidence, grid, strict=True):
        assert (whole == "I") == split_a.startswith("I:") == split_b.startswith("I:")
    hits = first.evidence_cells((box,))
    rows, cols = np.divmod(np.arange(first.count), first.cols)
    # Cells overlapping the quarter: those starting left of and above its edges.
    assert np.array_equal(
        hits, (cols * width / first.cols < width // 2) & (rows * height / first.rows < height // 2)
    )
    tokens = evidence[first.start : first.start + first.count]
    assert [t == "I:evidence" for t in tokens] == hits.tolist()
    # The zoom's tokens are never evidence: the regions are in the first image's pixels.
    zoom = layout.images[1]
    assert set(evidence[zoom.start : zoom.start + zoom.count]) == {"I:rest"}
    cells = grid[first.start : first.start + first.count]
    assert cells[0] == "I:0,0" and cells[-1] == "I:1,1"
    assert set(cells) == {"I:0,0", "I:0,1", "I:1,0", "I:1,1"}


def test_a_system_message_not_built_by_the_env_is_all_instructions(processor):
    prompt, _ = _chart_prompt(0)
    messages = [{"role": "system", "content": "Be brief."}, *prompt.messages[1:]]
    layout = prompt_layout(processor, Prompt(messages=messages, images=prompt.images))
    assert "tools" not in layout.kinds
    assert _text(processor, layout, "system") == "Be brief."


def test_a_template_that_alters_text_is_refused(processor):
    prompt, _ = _chart_prompt(0)
    altered = build_processor()
    altered.chat_template = altered.chat_template.replace(
        "{{ render(message.content) }}", "{{ render(message.content) | upper }}"
    )
    with pytest.raises(ValueError, match="alters message text"):
        prompt_layout(altered, prompt)


def test_placeholders_and_images_must_pair_up(processor):
    prompt, _ = _chart_prompt(0)
    with pytest.raises(ValueError, match="placeholders"):
        prompt_layout(processor, Prompt(messages=prompt.messages, images=prompt.images * 2))

"""The tiny VLM, its image-only processor and chat template: offline, round-trips, TRL's rules."""

import gymnasium as gym
import numpy as np
import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("transformers")

import iapo_bench.envs  # noqa: E402, F401  (registers the ids)
from iapo_bench.baselines import OracleAgent  # noqa: E402
from iapo_bench.models.inputs import attach_images, encode, image_token_count  # noqa: E402
from iapo_bench.models.processor import ImageOnlyQwen2_5_VLProcessor  # noqa: E402
from iapo_bench.models.tiny import build_tiny_vlm  # noqa: E402
from iapo_bench.tools.parser import parse_action  # noqa: E402


@pytest.fixture(scope="module")
def tiny():
    return build_tiny_vlm(seed=0)


def _episode(env_id: str, difficulty: int, seed: int, calls: int):
    """An observation and info after ``calls`` oracle tool calls."""
    env = gym.make(env_id, difficulty=difficulty).unwrapped
    obs, info = env.reset(seed=seed)
    oracle = OracleAgent()
    for _ in range(calls):
        obs, _, _, _, info = env.step(oracle.act([obs], [info])[0])
    return obs, info


@pytest.mark.parametrize(
    ("env_id", "difficulty", "calls", "images"),
    [
        ("ToolUse-Chart-v0", 1, 0, 1),  # the image shown
        ("ToolUse-Chart-v0", 2, 1, 2),  # and the zoom a tool returned
        ("ToolUse-ImageSearch-v0", 3, 1, 2),  # and a contact sheet
    ],
)
def test_image_tokens_match_the_processor_for_shown_and_tool_images(
    tiny, env_id, difficulty, calls, images
):
    _, processor = tiny
    obs, info = _episode(env_id, difficulty, 36, calls)
    assert len(obs["images"]) == images
    batch = encode(processor, [info["messages"]], [obs["images"]])
    pads = int((batch["input_ids"][0] == processor.image_token_id).sum())
    assert pads == sum(image_token_count(processor, image) for image in obs["images"])
    grids = batch["image_grid_thw"]
    assert len(grids) == images
    assert pads == int(sum(g.prod() for g in grids)) // processor.image_processor.merge_size**2


def test_placeholders_and_images_must_pair_up():
    image = np.zeros((8, 8, 3), dtype=np.uint8)
    with pytest.raises(ValueError, match="more image placeholders"):
        attach_images(
            [{"role": "user", "content": [{"type": "image"}, {"type": "image"}]}], [image]
        )
    with pytest.raises(ValueError, match="no placeholder"):
        attach_images([{"role": "user", "content": "hi"}], [image])


def test_the_chat_template_meets_trls_requirements(tiny):
    trl_templates = pytest.importorskip("trl.chat_template_utils")
    supports_tool_calling = trl_templates.supports_tool_calling
    is_chat_template_prefix_preserving = trl_templates.is_chat_template_prefix_preserving

    _, processor = tiny
    assert supports_tool_calling(processor)
    assert is_chat_template_prefix_preserving(processor)
    assert supports_tool_calling(processor.tokenizer)
    assert is_chat_template_prefix_preserving(processor.tokenizer)


def test_the_tokenizer_parses_a_generated_turn_into_text_and_a_tool_call(tiny):
    _, processor = tiny
    turn = (
        'Look closer.\n<tool_call>\n{"name": "zoom", "arguments": {"box": [1, 2, 30, 40]}}\n'
        "</tool_call><|im_end|>"
    )
    prompt = "<|im_start|>user\nWhat is it?<|im_end|>\n<|im_start|>assistant\n"
    parsed = processor.tokenizer.parse_response(turn, prefix=prompt)
    assert parsed["content"].strip() == "Look closer."
    call = parsed["tool_calls"][0]["function"]
    assert call == {"name": "zoom", "arguments": {"box": [1, 2, 30, 40]}}
    answer = processor.tokenizer.parse_response("<answer>42</answer><|im_end|>", prefix=prompt)
    assert answer["content"] == "<answer>42</answer>" and not answer.get("tool_calls")


def test_env_messages_render_the_models_own_text_once(tiny):
    _, processor = tiny
    _, info = _episode("ToolUse-Chart-v0", 2, 36, 1)
    text = processor.apply_chat_template(info["messages"], tokenize=False)
    call_text = info["messages"][2]["content"]
    assert text.count(call_text) == 1
    arguments = call_text.split('"arguments": ')[1].split("}\n")[0]
    assert text.count(arguments) == 1  # not rendered a second time from tool_calls
    assert "<tool_response>" in text and text.count("<|vision_start|>") == 2
    assert parse_action(call_text, {}).kind == "parse_error"  # unknown tool without tools


@pytest.mark.parametrize("env_id", ["ToolUse-Chart-v0", "ToolUse-Bars-v0"])
def test_passing_tools_adds_no_second_tools_block_to_our_prompts(tiny, env_id):
    # TRL passes tools= with every rollout: the env's system prompt, full or compact, already
    # says how to call them, so the template must render it as the env does.
    _, processor = tiny
    _, info = _episode(env_id, 0, 5, 0)
    plain = processor.apply_chat_template(info["messages"], tokenize=False)
    with_tools = processor.apply_chat_template(
        info["messages"], tools=info["tools"], tokenize=False
    )
    assert with_tools == plain and plain.count("# Tools") <= 1


def test_save_and_load_round_trip_offline(tiny, tmp_path):
    from transformers import Qwen2_5_VLForConditionalGeneration

    model, processor = tiny
    model.save_pretrained(tmp_path)
    processor.save_pretrained(tmp_path)
    loaded = Qwen2_5_VLForConditionalGeneration.from_pretrained(tmp_path).eval()
    reloaded = ImageOnlyQwen2_5_VLProcessor.from_pretrained(tmp_path)
    assert reloaded.chat_template == processor.chat_template
    assert reloaded.tokenizer.response_template == processor.tokenizer.response_template
    obs, info = _episode("ToolUse-Chart-v0", 1, 3, 0)
    batch = encode(processor, [info["messages"]], [obs["images"]])
    again = encode(reloaded, [info["messages"]], [obs["images"]])
    assert torch.equal(batch["input_ids"], again["input_ids"])
    with torch.no_grad():
        assert torch.allclose(model(**batch).logits, loaded(**again).logits, atol=1e-6)


def test_batched_greedy_generation_equals_one_at_a_time(tiny):
    model, processor = tiny
    episodes = [
        _episode("ToolUse-Chart-v0", 1, 3, 0),
        _episode("ToolUse-OCR-v0", 2, 10, 1),  # a longer conversation with a tool image
        _episode("ToolUse-ImageSearch-v0", 2, 1, 0),
    ]
    conversations = [info["messages"] for _, info in episodes]
    images = [obs["images"] for obs, _ in episodes]

    def generate(batch):
        with torch.no_grad():
            out = model.generate(**batch, max_new_tokens=6, do_sample=False)
        return out[:, batch["input_ids"].shape[1] :]

    together = generate(encode(processor, conversations, images))
    for row, (conversation, image) in enumerate(zip(conversations, images, strict=True)):
        alone = generate(encode(processor, [conversation], [image]))
        assert torch.equal(together[row], alone[0]), row

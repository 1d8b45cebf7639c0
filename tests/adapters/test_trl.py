"""The TRL adapter against the real library: GRPOTrainer runs on our envs, tools and rubric."""

from __future__ import annotations

import inspect
import os
import warnings

import gymnasium as gym
import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("transformers")
pytest.importorskip("trl")
pytest.importorskip("datasets")

from transformers import LogitsProcessor, LogitsProcessorList  # noqa: E402
from transformers.utils import get_json_schema  # noqa: E402
from trl import GRPOConfig, GRPOTrainer  # noqa: E402

from iapo_bench.adapters.trl import (  # noqa: E402
    DEFAULT_SIZE,
    AttributionReward,
    broadest_calls,
    check_completion_length,
    environment_class,
    environment_factories,
    prompt_dataset,
    rubric_reward,
    task_ids,
)
from iapo_bench.core import ToolCall  # noqa: E402
from iapo_bench.envs import get_family, load_task  # noqa: E402
from iapo_bench.leaderboard.harness import task_ids_for  # noqa: E402
from iapo_bench.models.inputs import image_token_count  # noqa: E402
from iapo_bench.models.processor import build_processor  # noqa: E402
from iapo_bench.models.tiny import build_tiny_vlm  # noqa: E402
from iapo_bench.tools.parser import format_tool_call  # noqa: E402

os.environ.setdefault("TRL_EXPERIMENTAL_SILENCE", "1")


@pytest.fixture(autouse=True)
def one_torch_thread():
    """One intra-op thread: on a shared two-core machine, two spinning threads run 10x slower."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def test_methods_carry_the_tools_real_names_and_schemas():
    cls = environment_class("ToolUse-OCR-v0")
    methods = {
        name: fn
        for name, fn in inspect.getmembers(cls, predicate=inspect.isfunction)
        if not name.startswith("_") and name != "reset"
    }
    assert sorted(methods) == ["ocr", "zoom"]  # what TRL offers as tools
    family = get_family("ocr")
    for tool in family.tools:
        ours = tool.schema["function"]
        trl_view = get_json_schema(getattr(cls(), tool.name))["function"]
        assert trl_view["name"] == ours["name"] and trl_view["description"] == ours["description"]
        assert set(trl_view["parameters"]["properties"]) == set(ours["parameters"]["properties"])
        assert trl_view["parameters"].get("required", []) == ours["parameters"]["required"]
        for name, spec in ours["parameters"]["properties"].items():
            described = trl_view["parameters"]["properties"][name]["description"]
            assert described == " ".join(spec["description"].split())  # TRL joins the lines
    assert environment_class("ToolUse-OCR-v0") is cls


def test_dataset_rows_replay_their_tasks_and_name_their_tool_sets():
    dataset = prompt_dataset("ToolUse-Chart-v0", size=4, seed=5)
    assert dataset.column_names == ["prompt", "images", "task_id", "environment", "tools"]
    row = dataset[0]
    task = load_task(row["task_id"])
    assert [m["role"] for m in row["prompt"]] == ["system", "user"]
    assert row["prompt"][1]["content"][0]["type"] == "image"
    assert row["prompt"][1]["content"][1]["text"] == task.question
    assert "<tools>" in row["prompt"][0]["content"][0]["text"]  # the env's own system prompt
    assert row["images"][0].size == (task.image.shape[1], task.image.shape[0])
    assert list(row["tools"]) == list(task.tool_names)
    factories = environment_factories(dataset)
    assert set(factories) == set(dataset["environment"])
    environment = factories[row["environment"]]()
    environment.reset(**row)
    blocks = environment.zoom(box=[0, 0, 40, 40], factor=3)
    assert [b["type"] for b in blocks] == ["text", "image"] and blocks[1]["image"].size == (
        120,
        120,
    )
    bad = environment.zoom(box=[0, 0, 2, 2])  # the env's own error message, as in evaluation
    assert bad == [{"type": "text", "text": bad[0]["text"]}] and "less than 4x4" in bad[0]["text"]
    # Replayable: the same rows give the same ids; frozen lists and files work too.
    assert prompt_dataset("ToolUse-Chart-v0", size=4, seed=5)["task_id"] == dataset["task_id"]
    frozen = prompt_dataset("ToolUse-OCR-v0", frozen_test_list=True, size=2)
    assert frozen["task_id"] == list(get_family("ocr").frozen_test_list().task_ids[:2])


def test_the_prompt_is_the_one_the_env_shows():
    row = prompt_dataset("ToolUse-Chart-v0", size=1, seed=3)[0]
    env = gym.make("ToolUse-Chart-v0")
    _, info = env.reset(options={"task_id": row["task_id"]})
    shown = info["messages"]
    assert row["prompt"][0]["content"] == [{"type": "text", "text": shown[0]["content"]}]
    # The image, then the question (Arrow gives every part every key: None where unset).
    parts = [
        {k: v for k, v in part.items() if v is not None} for part in row["prompt"][1]["content"]
    ]
    assert parts == shown[1]["content"]
    env.close()


def test_task_ids_are_the_harness_selection_with_the_adapters_default_size():
    assert task_ids("ToolUse-Chart-v0", split="validation", size=5, seed=7) == task_ids_for(
        "ToolUse-Chart-v0", "validation", 5, seed=7
    )
    three = [f"ocr/v0/train/d2/{seed}" for seed in range(3)]  # train seeds start at 0
    assert task_ids("ToolUse-OCR-v0", difficulty=2, size=3) == three
    assert len(task_ids("ToolUse-OCR-v0")) == DEFAULT_SIZE
    frozen = list(get_family("ocr").frozen_test_list().task_ids)
    assert task_ids("ToolUse-OCR-v0", split="test") == frozen == task_ids_for("ToolUse-OCR-v0")
    with pytest.raises(ValueError, match="frozen test list"):
        task_ids("ToolUse-OCR-v0", split="test", seed=3)
    with pytest.raises(ValueError, match="frozen_test_list"):
        task_ids("ToolUse-OCR-v0", split="validation", frozen_test_list=True)
    with pytest.raises(ValueError, match="split must be one of"):
        task_ids("ToolUse-OCR-v0", split="dev")


def test_rubric_reward_steps_the_answer_and_scores_truncation():
    dataset = prompt_dataset("ToolUse-OCR-v0", size=2)
    factories = environment_factories(dataset)
    envs = [factories[row["environment"]]() for row in dataset]
    for env, row in zip(envs, dataset, strict=True):
        env.reset(**row)
    answer = load_task(dataset[0]["task_id"]).answer
    envs[1].zoom(box=[0, 0, 50, 50])
    completions = [
        [{"role": "assistant", "content": f"<answer>{answer}</answer>"}],
        [  # ends on a call whose result TRL dropped: truncated, and a warning
            {"role": "assistant", "content": "", "tool_calls": [{"function": {"name": "zoom"}}]},
        ],
    ]
    logged = {}
    with pytest.warns(RuntimeWarning, match="max_completion_length"):
        rewards = rubric_reward(
            ["p", "p"], completions, environments=envs, log_metric=logged.__setitem__
        )
    assert rewards == [1.0, 0.0]
    assert logged["rubric/exact_match"] == 0.5
    with pytest.raises(ValueError, match="environment_factory"):
        rubric_reward(["p"], completions[:1])


def test_a_message_with_two_calls_scores_as_the_env_scores_it():
    """TRL runs both calls of a message; the env reads the message as one parse error."""
    rubric = "exact_match:1,parse_error_several_actions:0"
    row = prompt_dataset("ToolUse-OCR-v0", split="validation", size=1)[0]
    environment = environment_class("ToolUse-OCR-v0", max_turns=2, rubric=rubric)()
    environment.reset(**row)
    answer = load_task(row["task_id"]).answer
    arguments = [{"box": [0, 0, 60, 40]}, {"box": [0, 0, 40, 40], "factor": 2.0}]
    results = [environment.ocr(**arguments[0]), environment.zoom(**arguments[1])]  # as TRL does
    assert not any(block["text"].startswith("Error") for block, *_ in results)
    calls = [
        {"type": "function", "function": {"name": name, "arguments": args}}
        for name, args in zip(("ocr", "zoom"), arguments, strict=True)
    ]
    completion = [
        {"role": "assistant", "content": "Two looks at once.", "tool_calls": calls},
        {"role": "tool", "name": "ocr", "content": results[0]},
        {"role": "tool", "name": "zoom", "content": results[1]},
        {"role": "assistant", "content": f"<answer>{answer}</answer>"},
    ]
    logged = {}
    [reward] = rubric_reward(["p"], [completion], environments=[environment],
                             log_metric=logged.__setitem__)  # fmt: skip
    # The env, given the same two messages in evaluation: one parse error, then the answer
    # (within max_turns=2, which the two calls alone would have used up).
    env = gym.make("ToolUse-OCR-v0", max_turns=2, rubric=rubric)
    env.reset(options={"task_id": row["task_id"]})
    texts = [format_tool_call(ToolCall(name=c["function"]["name"], arguments=c["function"]
             ["arguments"])) for c in calls]  # fmt: skip
    _, _, done, _, _ = env.step("Two looks at once.\n" + "\n".join(texts))
    assert not done
    _, expected, terminated, _, info = env.step(f"<answer>{answer}</answer>")
    env.close()
    assert terminated and reward == expected == 1.0
    assert logged["rubric/parse_error_several_actions"] == 1.0
    assert info["rewards"]["parse_error_several_actions"] == 1.0


def test_check_completion_length_names_the_setting():
    processor = build_processor()
    with pytest.warns(
        UserWarning,
        match=r"GRPOConfig.max_completion_length=8 is shorter than the largest tool call on "
        r"ToolUse-Chart-v0 and its result \(focus_on_x_values",
    ):
        needed = check_completion_length(8, processor, "ToolUse-Chart-v0")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert check_completion_length(needed, processor, "ToolUse-Chart-v0") == needed


def test_check_completion_length_fits_the_largest_zoom_and_every_family():
    """No oracle: the broadest calls of the task's own tools, the largest of them counted."""
    processor = build_processor(max_pixels=28 * 28 * 16384)  # images up to 16,384 tokens
    family = get_family("chart")
    task = load_task(family.task_ids("train", 1, difficulty=family.default_difficulty)[0])
    height, width = task.image.shape[:2]
    zoom = {t.name: t for t in family.tools}["zoom"]
    widest = zoom({"box": [0, 0, width, height], "factor": 4.0}, task=task).image
    default = zoom({"box": [0, 0, width, height]}, task=task).image
    assert image_token_count(processor, widest) > 2 * image_token_count(processor, default)
    needed = check_completion_length(10**6, processor, "ToolUse-Chart-v0")
    assert needed > image_token_count(processor, widest)
    small = build_processor()
    for env_id in ("ToolUse-ImageSearch-v0", "ToolUse-Bars-v0"):  # ids and letters: evidence
        with pytest.warns(UserWarning, match=f"on {env_id} and its result"):
            assert check_completion_length(1, small, env_id) > 1
    # A required argument no schema rule fits: the tool is skipped, not called with junk.
    search = get_family("search")
    item = load_task(search.task_ids("train", 1)[0]).model_copy(update={"evidence": ()})
    assert [c.name for c in broadest_calls(search.tools, item)] == ["search_images"]


class Scripted(LogitsProcessor):
    """Forces a text, then end-of-turn: the call on the first turn, the answer after a result."""

    def __init__(self, tokenizer, prompt_ids, call):
        self.eos = tokenizer.eos_token_id
        self.plans = []
        for ids in prompt_ids:
            script = ANSWER if "<tool_response>" in tokenizer.decode(ids.tolist()) else call
            self.plans.append(tokenizer(script, add_special_tokens=False)["input_ids"])
        self.start = prompt_ids.shape[1]

    def __call__(self, input_ids, scores):
        step = input_ids.shape[1] - self.start
        forced = torch.full_like(scores, float("-inf"))
        for row, plan in enumerate(self.plans):
            forced[row, plan[step] if step < len(plan) else self.eos] = 0.0
        return forced


# A zoom returns an image; an OCR call returns text only (on a prompt with an image, the case
# TRL's split_pixel_values_by_grid failed on before the processor returned tensors).
CALLS = {
    "ToolUse-Chart-v0": '{"name": "zoom", "arguments": {"box": [0, 0, 120, 90], "factor": 2}}',
    "ToolUse-OCR-v0": '{"name": "ocr", "arguments": {"box": [0, 0, 60, 40]}}',
}
ANSWER = "<answer>42</answer>"


def scripted(model, tokenizer, call):
    """The model generates (its forward passes run), its choices forced to the script."""
    generate = model.generate
    text = f"<tool_call>\n{call}\n</tool_call>"

    def forced(*args, **kwargs):
        processor = Scripted(tokenizer, kwargs["input_ids"], text)
        kwargs["logits_processor"] = LogitsProcessorList([processor])
        return generate(*args, **kwargs)

    model.generate = forced
    return model


@pytest.mark.parametrize("env_id", ["ToolUse-Chart-v0", "ToolUse-OCR-v0"])
def test_grpo_trainer_runs_our_tools_and_images_through_a_tiny_vlm(tmp_path, env_id):
    model, processor = build_tiny_vlm(seed=0)
    model.train()
    scripted(model, processor.tokenizer, CALLS[env_id])
    dataset = prompt_dataset(env_id, size=2)
    seen = []

    def recorded(prompts, completions, **kwargs):
        seen.extend(completions)
        return rubric_reward(prompts, completions, **kwargs)

    recorded.__name__ = "rubric"
    config = GRPOConfig(
        output_dir=str(tmp_path),
        per_device_train_batch_size=2,
        num_generations=2,
        max_completion_length=512,
        max_steps=2,
        learning_rate=1e-4,
        logging_steps=1,
        report_to="none",
        use_cpu=True,
        save_strategy="no",
        max_tool_calling_iterations=2,
        temperature=1.0,
    )
    trainer = GRPOTrainer(
        model=model,
        reward_funcs=[recorded],
        args=config,
        train_dataset=dataset,
        processing_class=processor,
        environment_factory=environment_factories(dataset),
    )
    trainer.train()
    assert trainer.state.global_step == 2
    # Every rollout called the tool, got its result (a zoom's image too), then answered.
    tool_messages = [m for c in seen for m in c if m["role"] == "tool"]
    name = "zoom" if env_id == "ToolUse-Chart-v0" else "ocr"
    assert len(tool_messages) == 4 and all(m["name"] == name for m in tool_messages)
    images = [any(p["type"] == "image" for p in m["content"]) for m in tool_messages]
    assert all(images) if name == "zoom" else not any(images)
    assert all(c[-1]["role"] == "assistant" and "<answer>42</answer>" in c[-1]["content"]
               for c in seen)  # fmt: skip
    logs = {k: v for entry in trainer.state.log_history for k, v in entry.items()}
    assert logs["tools/call_frequency"] == 1.0 and logs["tools/failure_frequency"] == 0.0
    assert "rubric/relaxed_accuracy" in logs or "rubric/exact_match" in logs


def test_attribution_reward_needs_a_student_and_reads_the_first_decision():
    model, processor = build_tiny_vlm(seed=0)
    teacher, _ = build_tiny_vlm(seed=1)
    dataset = prompt_dataset("ToolUse-Chart-v0", size=1)
    environment = environment_factories(dataset)[dataset[0]["environment"]]()
    environment.reset(**dataset[0])
    from iapo_bench.models.attribution import AttributionConfig

    config = AttributionConfig(method="grad_x_input")
    reward = AttributionReward(teacher=(teacher, processor), config=config)
    ids = processor.tokenizer(ANSWER, add_special_tokens=False)["input_ids"]
    done = [*ids, processor.tokenizer.eos_token_id, *ids]  # only the first turn counts
    with pytest.raises(ValueError, match="no student"):
        reward(["p"], [[]], completion_ids=[done], environments=[environment])
    reward.policy = (model, processor)
    logged = {}
    values = reward(["p"], [[]], completion_ids=[done], environments=[environment],
                    log_metric=logged.__setitem__)  # fmt: skip
    assert len(values) == 1 and values[0] <= 0.0 and logged["iapo/D"] >= 0.0
    assert values[0] == pytest.approx(-config.penalty_weight * logged["iapo/D"])


def test_attribution_reward_binds_a_lora_wrapped_student(tmp_path):
    """bind() reads the model the trainer wraps: here TRL's PEFT model (LoRA on q and v)."""
    peft = pytest.importorskip("peft")
    from iapo_bench.models.attribution import AttributionConfig

    model, processor = build_tiny_vlm(seed=0)
    model.train()
    scripted(model, processor.tokenizer, CALLS["ToolUse-Chart-v0"])
    teacher, _ = build_tiny_vlm(seed=1)
    dataset = prompt_dataset("ToolUse-Chart-v0", size=2)
    config = AttributionConfig(method="grad_x_input")
    reward = AttributionReward(teacher=(teacher, processor), config=config)
    trainer = GRPOTrainer(
        model=model,
        reward_funcs=[rubric_reward, reward],
        args=GRPOConfig(
            output_dir=str(tmp_path),
            per_device_train_batch_size=2,
            num_generations=2,
            max_completion_length=512,
            max_steps=1,
            logging_steps=1,
            max_tool_calling_iterations=2,
            report_to="none",
            use_cpu=True,
            save_strategy="no",
        ),
        train_dataset=dataset,
        processing_class=processor,
        environment_factory=environment_factories(dataset),
        peft_config=peft.LoraConfig(r=4, target_modules=["q_proj", "v_proj"]),
    )
    assert isinstance(trainer.model, peft.PeftModel)
    assert reward.bind(trainer) is reward and reward.policy[0] is trainer.model
    environment = environment_factories(dataset)[dataset[0]["environment"]]()
    environment.reset(**dataset[0])
    ids = processor.tokenizer(ANSWER, add_special_tokens=False)["input_ids"]
    logged = {}
    values = reward(["p"], [[]], completion_ids=[[*ids, processor.tokenizer.eos_token_id]],
                    environments=[environment], log_metric=logged.__setitem__)  # fmt: skip
    assert values[0] == pytest.approx(-config.penalty_weight * logged["iapo/D"])
    assert values[0] < 0.0  # two different models attribute differently
    # The same penalty as the unwrapped student's: a fresh LoRA adapter changes nothing yet.
    reward.policy = (trainer.model.get_base_model(), processor)
    with trainer.model.disable_adapter():
        again = reward(["p"], [[]], completion_ids=[[*ids, processor.tokenizer.eos_token_id]],
                       environments=[environment])  # fmt: skip
    assert again[0] == pytest.approx(values[0], rel=1e-4, abs=1e-6)
    # And inside TRL's own loop: one step, the penalty computed on its rollouts.
    reward.bind(trainer)
    trainer.train()
    logs = {k: v for entry in trainer.state.log_history for k, v in entry.items()}
    assert logs["rewards/iapo_attribution/mean"] < 0.0 and "iapo/D" in logs

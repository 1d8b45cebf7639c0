"""IAPO's attribution reward: p, q and D across teachers of other widths, depths and
tokenizers; the rubric components; the teacher-free evidence share and PAPO's signal."""

import runpy
import subprocess
import sys
from pathlib import Path

import gymnasium as gym
import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("transformers")

import iapo_bench.envs  # noqa: E402, F401  (registers the ids)
from iapo_bench.baselines import OracleAgent  # noqa: E402
from iapo_bench.baselines.vlm import TransformersVLMPolicy  # noqa: E402
from iapo_bench.envs import load_task  # noqa: E402
from iapo_bench.models.attribution import AttributionConfig  # noqa: E402
from iapo_bench.models.blocks import Prompt  # noqa: E402
from iapo_bench.models.processor import build_processor  # noqa: E402
from iapo_bench.models.tiny import build_tiny_vlm, tiny_config  # noqa: E402
from iapo_bench.models.tokenizer import train_tokenizer, wrap_tokenizer  # noqa: E402
from iapo_bench.rewards import Rubric, relaxed_accuracy  # noqa: E402
from iapo_bench.rewards.attribution import (  # noqa: E402
    EvidenceShare,
    IAPOReward,
    MaskedImageKL,
    attribution_penalty,
    evidence_boxes,
    first_turn_prompt,
    kl_divergence,
)

FAST = AttributionConfig(steps=4)


@pytest.fixture(scope="module")
def student():
    return build_tiny_vlm(seed=0)


@pytest.fixture(scope="module")
def chart():
    env = gym.make("ToolUse-Chart-v0").unwrapped
    obs, info = env.reset(seed=0)
    decision = OracleAgent().act([obs], [info])[0] + "<|im_end|>"
    return Prompt(messages=info["messages"], images=obs["images"]), decision, info


def _ids(processor, text):
    return processor.tokenizer(text, add_special_tokens=False)["input_ids"]


def test_the_divergence_is_zero_when_the_teacher_is_the_student(student, chart):
    prompt, decision, _ = chart
    [penalty] = attribution_penalty(student, student, [prompt], [decision], FAST)
    assert penalty.p == penalty.q
    assert penalty.divergence == 0.0 and penalty.reward == 0.0


@pytest.mark.parametrize("teacher_shape", [(128, 2), (64, 3)], ids=["wider", "deeper"])
def test_teachers_of_other_width_and_depth_share_the_blocks(student, chart, teacher_shape):
    hidden, layers = teacher_shape
    teacher = build_tiny_vlm(seed=5, hidden=hidden, layers=layers)
    prompt, decision, _ = chart
    ids = _ids(student[1], decision)
    direction = "forward" if hidden > 64 else "reverse"
    config = FAST.model_copy(update={"direction": direction})
    [penalty] = attribution_penalty(student, teacher, [prompt], [ids], config)
    p, q = penalty.p, penalty.q
    assert set(p) == set(q) == {"P", "R", "I", "T"}
    assert sum(p.values()) == pytest.approx(1.0) and sum(q.values()) == pytest.approx(1.0)
    assert penalty.teacher.decision_ids == penalty.student.decision_ids == tuple(ids)
    expected = kl_divergence(q, p) if direction == "forward" else kl_divergence(p, q)
    assert penalty.divergence == pytest.approx(expected) and penalty.divergence > 0
    assert penalty.reward == pytest.approx(-0.1 * penalty.divergence)


def test_a_teacher_with_another_tokenizer_scores_the_same_decision_text(student, chart):
    from transformers import Qwen2_5_VLForConditionalGeneration

    prompt, decision, _ = chart
    env = gym.make("ToolUse-Chart-v0").unwrapped
    oracle = OracleAgent()
    texts = []
    for seed in range(100, 200):
        obs, info = env.reset(seed=seed)
        texts += [info["messages"][0]["content"], info["messages"][1]["content"][1]["text"]]
        texts.append(oracle.act([obs], [info])[0])
    tokenizer = wrap_tokenizer(train_tokenizer(texts, vocab_size=700))
    processor = build_processor(tokenizer=tokenizer)
    torch.manual_seed(7)
    model = Qwen2_5_VLForConditionalGeneration(tiny_config(tokenizer, hidden=96, layers=2)).eval()
    teacher = (model, processor)

    ids = _ids(student[1], decision)
    [penalty] = attribution_penalty(student, teacher, [prompt], [ids], FAST)
    theirs = penalty.teacher
    assert theirs.decision_ids != tuple(ids)
    assert tokenizer.decode(list(theirs.decision_ids)) == student[1].tokenizer.decode(ids)
    assert len(theirs.token_ids) != len(penalty.student.token_ids)
    assert set(penalty.q) == set(penalty.p) and penalty.divergence > 0
    # Each model's R block is the question, in its own tokens.
    for result, proc in ((theirs, processor), (penalty.student, student[1])):
        question = [
            t for t, b in zip(result.token_ids, result.token_blocks, strict=True) if b == "R"
        ]
        assert proc.tokenizer.decode(question) == prompt.messages[1]["content"][1]["text"]


def _oracle_episode(seed: int):
    env = gym.make("ToolUse-Chart-v0").unwrapped
    oracle = OracleAgent()
    obs, info = env.reset(seed=seed)
    first_info = info
    terminated = False
    while not terminated:
        obs, _, terminated, _, info = env.step(oracle.act([obs], [info])[0])
    return first_info, info["trajectory"], load_task(info["task_id"])


def test_the_first_turn_prompt_is_the_one_the_env_showed():
    info, _, task = _oracle_episode(3)
    prompt = first_turn_prompt(task, info["tools"], info["prompt_style"])
    assert list(prompt.messages) == info["messages"]
    assert len(prompt.images) == 1 and (prompt.images[0] == task.image).all()
    assert prompt.evidence == evidence_boxes(task) and prompt.evidence


def test_the_first_turn_prompt_follows_a_compact_family():
    env = gym.make("ToolUse-Bars-v0").unwrapped
    _, info = env.reset(seed=2)
    assert info["prompt_style"] == "compact"
    prompt = first_turn_prompt(load_task(info["task_id"]), info["tools"], info["prompt_style"])
    assert list(prompt.messages) == info["messages"]


def test_the_rubric_reports_iapo_components(student):
    info, trajectory, task = _oracle_episode(0)
    teacher = build_tiny_vlm(seed=1, hidden=128)
    answer_only = trajectory.model_copy(update={"turns": trajectory.turns[-1:]})
    empty = trajectory.model_copy(update={"turns": ()})
    rubric = Rubric({"relaxed_accuracy": (relaxed_accuracy, 1.0), "iapo": (IAPOReward(FAST), 1.0)})
    scored = rubric.score_group(
        [trajectory, answer_only, empty],
        task,
        policy=TransformersVLMPolicy(*student),
        teacher=teacher,
        tools=info["tools"],
    )
    for total, components in scored[:2]:
        divergence = components["iapo.D"]
        assert divergence > 0
        assert components["iapo"] == pytest.approx(-0.1 * divergence)
        assert total == pytest.approx(components["relaxed_accuracy"] - 0.1 * divergence)
        assert sum(components[f"iapo.p.{b}"] for b in "PRIT") == pytest.approx(1.0)
        assert sum(components[f"iapo.q.{b}"] for b in "PRIT") == pytest.approx(1.0)
        assert components["iapo.completeness.student"] >= 0
        assert components["iapo.completeness.teacher"] >= 0
    # The tool call and the direct answer are different first decisions.
    assert scored[0][1]["iapo.D"] != scored[1][1]["iapo.D"]
    assert scored[2][1]["iapo"] is None
    with pytest.raises(ValueError, match="teacher="):
        rubric.score(trajectory, task, policy=student, tools=info["tools"])


def test_the_evidence_share_needs_no_teacher(student):
    info, trajectory, task = _oracle_episode(0)
    [result] = EvidenceShare(FAST)([trajectory], task, policy=student, tools=info["tools"])
    assert 0.0 <= result["value"] <= 1.0
    assert 0.0 < result["area"] < 1.0
    with pytest.raises(ValueError, match="per-token"):
        EvidenceShare(AttributionConfig(method="occlusion"))


def test_the_masked_image_kl_reward(student):
    info, trajectory, task = _oracle_episode(1)
    reward = MaskedImageKL(mask_ratio=0.6)
    values = reward([trajectory, trajectory], task, policy=student, tools=info["tools"])
    assert values[0] == values[1] and values[0] > 0
    unmasked = MaskedImageKL(mask_ratio=0.0)(
        [trajectory], task, policy=student, tools=info["tools"]
    )
    assert unmasked[0] == pytest.approx(0.0, abs=1e-6)


def test_kl_divergence():
    assert kl_divergence({"P": 0.5, "I": 0.5}, {"P": 0.5, "I": 0.5}) == 0.0
    assert kl_divergence({"P": 1.0, "I": 0.0}, {"P": 0.5, "I": 0.5}) == pytest.approx(0.6931, 1e-4)
    with pytest.raises(ValueError, match="block sets"):
        kl_divergence({"P": 1.0}, {"I": 1.0})


def test_the_rewards_package_imports_without_torch():
    code = "import sys, iapo_bench.rewards; assert 'torch' not in sys.modules, 'torch imported'"
    subprocess.run([sys.executable, "-c", code], check=True)


@pytest.mark.slow
def test_the_docs_example_runs(tmp_path, monkeypatch, capsys):
    root = Path(__file__).resolve().parents[2]
    out = tmp_path / "heatmap.png"
    monkeypatch.setattr(sys, "argv", ["attribution.py", "--out", str(out)])
    runpy.run_path(str(root / "docs" / "attribution.py"), run_name="__main__")
    printed = capsys.readouterr().out
    assert "p student:" in printed and "q teacher:" in printed and "D = KL(q || p)" in printed
    assert out.stat().st_size > 10_000

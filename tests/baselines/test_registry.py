"""Agents by name: scripted, the tiny VLM, hf:PATH and openai:MODEL@BASE_URL specs."""

import gymnasium as gym
import pytest

import iapo_bench.envs  # noqa: F401  (registers the env ids)
from iapo_bench.baselines import check_agent_spec, make_agent
from tests.chat_server import ChatServer, Reply


@pytest.mark.parametrize(
    "spec",
    ["oracle", "random", "tiny-vlm", "hf:/models/qwen", "openai:gpt-4o", "openai:m@http://h:1/v1"],
)
def test_good_specs_pass_the_check(spec):
    check_agent_spec(spec)


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ("gpt", "unknown agent 'gpt'; known: oracle, .* or hf:PATH"),
        ("hf:", "give the model's folder"),
        ("openai:", "name the model"),
        ("openai:@http://h/v1", "name the model"),
        ("openai:m@", "give the base URL after '@'"),
        ("openai:m@h:8000/v1", "must start with http:// or https://"),
    ],
)
def test_bad_specs_are_named(spec, message):
    with pytest.raises(ValueError, match=message):
        check_agent_spec(spec)
    with pytest.raises(ValueError, match=message):
        make_agent(spec)


def test_an_openai_spec_is_an_endpoint_policy_that_acts():
    pytest.importorskip("openai")
    with ChatServer(lambda body: Reply("<answer>7</answer>")) as server:
        policy = make_agent(f"openai:served-model@{server.base_url}", seed=3)
        assert policy.name == "openai:served-model" and policy.seed == 3
        obs, info = gym.make("ToolUse-OCR-v0").unwrapped.reset(seed=0)
        assert policy.act([obs], [info]) == ["<answer>7</answer>"]
        assert server.bodies[0]["model"] == "served-model"


def test_an_hf_spec_loads_a_saved_model_folder(tmp_path):
    pytest.importorskip("torch")
    pytest.importorskip("transformers")
    from iapo_bench.models.tiny import build_tiny_vlm

    model, processor = build_tiny_vlm(seed=2)
    model.save_pretrained(tmp_path)
    processor.save_pretrained(tmp_path)
    policy = make_agent(f"hf:{tmp_path}")
    assert policy.name == f"hf:{tmp_path}"
    obs, info = gym.make("ToolUse-Chart-v0").unwrapped.reset(seed=0)
    policy.max_new_tokens = 4
    assert len(policy.act([obs], [info])) == 1


def test_an_hf_spec_without_a_model_is_a_clear_error(tmp_path):
    pytest.importorskip("torch")
    pytest.importorskip("transformers")
    missing = tmp_path / "nothing-here"
    with pytest.raises(ValueError, match=f"no such folder '{missing}'"):
        make_agent(f"hf:{missing}")
    with pytest.raises(ValueError, match="cannot load a model from"):
        make_agent(f"hf:{tmp_path}")  # a folder, but no model in it
    (tmp_path / "weights.bin").write_text("x")
    with pytest.raises(ValueError, match="is a file; give the model's folder"):
        make_agent(f"hf:{tmp_path / 'weights.bin'}")


def test_model_agents_without_torch_say_how_to_install_it(monkeypatch):
    import sys

    monkeypatch.setitem(sys.modules, "torch", None)  # import torch now raises ImportError
    for spec in ("tiny-vlm", "hf:/models/qwen"):
        with pytest.raises(ValueError, match=r'pip install "iapo-bench\[train\]"'):
            make_agent(spec)

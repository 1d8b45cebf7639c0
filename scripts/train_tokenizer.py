"""Train the tiny VLM's tokenizer on the project's own texts; writes the shipped JSON.

    python scripts/train_tokenizer.py

The corpus is what the model reads and writes: each family's system prompts (instructions
and tool schemas), questions, the oracle's tool calls and the tools' replies, the answers,
and the env's parse-error feedback. Deterministic: the same package gives the same file.
"""

from pathlib import Path

import gymnasium as gym

import iapo_bench.envs
from iapo_bench.baselines import OracleAgent
from iapo_bench.models.tokenizer import train_tokenizer

TASKS_PER_FAMILY = 400
OUT = Path(__file__).resolve().parents[1] / "iapo_bench" / "models" / "assets" / "tokenizer.json"


def corpus():
    oracle = OracleAgent()
    for env_id in iapo_bench.envs.env_ids():
        family = iapo_bench.envs.family_for_env_id(env_id)
        env = gym.make(env_id, max_turns=3).unwrapped
        for seed in range(TASKS_PER_FAMILY):
            difficulty = family.difficulties[seed % len(family.difficulties)]
            obs, info = env.reset(seed=seed, options={"difficulty": difficulty})
            if seed < 20:
                yield info["messages"][0]["content"]  # system prompts repeat: a few suffice
            yield info["messages"][1]["content"][1]["text"]
            done = False
            while not done:
                action = oracle.act([obs], [info])[0]
                yield action
                obs, _, terminated, truncated, info = env.step(action)
                done = terminated or truncated
                if not done:
                    yield info["messages"][-1]["content"][0]["text"]
            obs, info = env.reset(seed=seed)
            _, _, _, _, info = env.step("I am not sure.")  # the parse-error feedback
            yield info["messages"][-1]["content"]


if __name__ == "__main__":
    tokenizer = train_tokenizer(corpus(), vocab_size=4096)
    OUT.parent.mkdir(parents=True, exist_ok=True)
    OUT.write_text(tokenizer.to_str(pretty=False))
    print(f"{OUT}: {tokenizer.get_vocab_size()} tokens, {OUT.stat().st_size / 1e3:.0f} kB")

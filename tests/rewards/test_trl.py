"""The exact-match family called the way TRL's GRPOTrainer calls ``reward_funcs``."""

import pytest

from iapo_bench.rewards.trl import TRL_REWARDS, trl_reward


def call_like_trl(reward, completions, **columns):
    """GRPOTrainer passes prompts, completions, completion_ids, trainer_state and columns."""
    return reward(
        prompts=[[{"role": "user", "content": "Q"}]] * len(completions),
        completions=completions,
        completion_ids=[[1, 2, 3]] * len(completions),
        trainer_state=None,
        **columns,
    )


def test_standard_completions_are_scored_one_each():
    scores = call_like_trl(
        trl_reward("exact_match"),
        ["<answer>1,234.50</answer>", "I think <answer>12</answer>", "no answer", ""],
        answer=["1234.5", "13", "5", "5"],
        answer_type=["number", "number", "number", "number"],
        image=[None] * 4,  # other dataset columns pass through untouched
    )
    assert scores == [1.0, 0.0, 0.0, 0.0]


def test_conversational_completions_read_the_last_message():
    completions = [
        [{"role": "assistant", "content": "<answer>Peru</answer>"}],
        [{"role": "assistant", "content": [{"type": "text", "text": "<answer>Chile</answer>"}]}],
    ]
    scores = call_like_trl(trl_reward(), completions, answer=["peru", "Peru"])
    assert scores == [1.0, 0.0]


def test_a_tool_call_is_not_an_answer():
    call = '<tool_call>{"name": "zoom", "arguments": {"box": [0, 0, 9, 9]}}</tool_call>'
    assert call_like_trl(trl_reward(), [call], answer=["5"]) == [0.0]


@pytest.mark.parametrize(
    ("name", "completion", "columns", "expected"),
    [
        ("relaxed_accuracy", "<answer>104</answer>", {"answer": ["100"]}, 1.0),
        ("anls", "<answer>Lisb0n</answer>", {"answer": ["Lisbon"]}, 1 - 1 / 6),
        ("multiple_choice", "<answer>B</answer>", {"answer": ["Peru"],
                                                   "options": [["Chile", "Peru"]]}, 1.0),
        ("list_f1", "<answer>Oslo, Riga</answer>", {"answer": ["Riga, Oslo"]}, 1.0),
        ("exact_match", "<answer>17/03/2024</answer>", {"answer": ["2024-03-17"],
                                                        "answer_type": ["date"]}, 1.0),
    ],
)  # fmt: skip
def test_every_family_member_works_as_a_trl_reward(name, completion, columns, expected):
    reward = trl_reward(name)
    assert reward.__name__ == name
    assert call_like_trl(reward, [completion], **columns) == [pytest.approx(expected)]


def test_missing_reference_column_and_unknown_reward_are_clear_errors():
    with pytest.raises(KeyError, match="needs the dataset column 'answer'"):
        call_like_trl(trl_reward(), ["<answer>1</answer>"], solution=["1"])
    with pytest.raises(ValueError, match="unknown reward 'bleu'"):
        trl_reward("bleu")
    assert set(TRL_REWARDS) == {
        "exact_match", "relaxed_accuracy", "anls", "multiple_choice", "list_f1"
    }  # fmt: skip

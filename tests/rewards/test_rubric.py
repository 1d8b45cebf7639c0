import pytest

from iapo_bench.core import Task, Trajectory
from iapo_bench.rewards import REWARDS, Rubric, exact_match, relaxed_accuracy
from tests.rewards.cases import answered, make_task


def weights(rubric: Rubric) -> dict[str, float]:
    return {name: weight for name, (_, weight) in rubric.rewards.items()}


# --- parse -------------------------------------------------------------------------------------


def test_registry_names_every_reward_family():
    assert REWARDS["exact_match"] is exact_match
    assert REWARDS["relaxed_accuracy"] is relaxed_accuracy
    for name in ("anls", "multiple_choice", "list_f1", "format_valid", "tool_call",
                 "tool_success", "parse_errors", "parse_error_malformed_json", "turns",
                 "execution_penalty", "right_tool", "shortest_correct"):  # fmt: skip
        assert name in REWARDS


def test_unknown_reward_message_lists_the_judge_too():
    with pytest.raises(ValueError, match="llm_judge"):
        Rubric.parse("bleu")


def test_parse_spec_round_trips():
    rubric = Rubric.parse("relaxed_accuracy:1,exact_match:0")
    assert rubric.spec == "relaxed_accuracy:1,exact_match:0"
    assert list(rubric.rewards) == ["relaxed_accuracy", "exact_match"]
    assert rubric.rewards["relaxed_accuracy"] == (relaxed_accuracy, 1.0)
    assert rubric.rewards["exact_match"] == (exact_match, 0.0)
    assert repr(rubric) == "Rubric('relaxed_accuracy:1,exact_match:0')"


@pytest.mark.parametrize(
    ("spec", "expected"),
    [
        ("exact_match", {"exact_match": 1.0}),
        ("exact_match:", {"exact_match": 1.0}),
        (" exact_match : 2 , relaxed_accuracy ", {"exact_match": 2.0, "relaxed_accuracy": 1.0}),
        ("relaxed_accuracy:0.5,", {"relaxed_accuracy": 0.5}),
        ("exact_match:-1", {"exact_match": -1.0}),
        ("exact_match:1e-3", {"exact_match": 0.001}),
    ],
)
def test_parse_weights(spec, expected):
    assert weights(Rubric.parse(spec)) == expected


@pytest.mark.parametrize(
    "spec",
    [
        "relaxed_accuracy:1,exact_match:0",
        "exact_match:0.5",
        "exact_match:0.123456789,relaxed_accuracy:2.000001",
        "relaxed_accuracy:0.1",
        "exact_match:1234567.5",
    ],
)
def test_spec_parses_back_to_the_same_weights(spec):
    rubric = Rubric.parse(spec)
    assert weights(Rubric.parse(rubric.spec)) == weights(rubric)


@pytest.mark.parametrize(
    ("spec", "match"),
    [
        ("bleu:1", "unknown reward 'bleu'"),
        ("exact_match:1,bleu", "unknown reward 'bleu'"),
        ("Exact_Match:1", "unknown reward 'Exact_Match'"),
        (":1", "unknown reward ''"),
        ("exact_match:high", "weight of 'exact_match'.*is not a number"),
        ("exact_match:1:2", "weight of 'exact_match'.*is not a number"),
        ("exact_match:1,exact_match:0", "'exact_match' appears twice"),
        ("exact_match,exact_match", "'exact_match' appears twice"),
        ("", "at least one reward"),
        (" , ", "at least one reward"),
    ],
)
def test_parse_errors_name_the_problem(spec, match):
    with pytest.raises(ValueError, match=match):
        Rubric.parse(spec)


@pytest.mark.parametrize("weight", ["nan", "inf", "-inf"])
def test_parse_rejects_non_finite_weights(weight):
    with pytest.raises(ValueError, match="exact_match"):
        Rubric.parse(f"exact_match:{weight}")


def test_empty_rubric_in_code_is_rejected():
    with pytest.raises(ValueError, match="at least one reward"):
        Rubric({})


# --- score -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("predicted", "total", "components"),
    [
        ("100", 1.0, {"relaxed_accuracy": 1.0, "exact_match": 1.0}),
        ("104", 1.0, {"relaxed_accuracy": 1.0, "exact_match": 0.0}),
        ("120", 0.0, {"relaxed_accuracy": 0.0, "exact_match": 0.0}),
    ],
)
def test_weight_zero_is_a_metric_only(predicted, total, components):
    rubric = Rubric.parse("relaxed_accuracy:1,exact_match:0")
    assert rubric.score(answered(predicted), make_task("100")) == (total, components)


def test_score_is_the_weighted_total():
    rubric = Rubric.parse("relaxed_accuracy:0.75,exact_match:2")
    assert rubric.score(answered("104"), make_task("100")) == (
        0.75,
        {"relaxed_accuracy": 1.0, "exact_match": 0.0},
    )
    assert rubric.score(answered("100"), make_task("100")) == (
        2.75,
        {"relaxed_accuracy": 1.0, "exact_match": 1.0},
    )


def test_truncated_episode_scores_zero():
    rubric = Rubric.parse("relaxed_accuracy,exact_match")
    trajectory = Trajectory(task_id="t", truncated=True)
    assert rubric.score(trajectory, make_task()) == (
        0.0,
        {"relaxed_accuracy": 0.0, "exact_match": 0.0},
    )


def abstain(trajectory: Trajectory, task: Task) -> float | None:
    return None


def answer_length(trajectory: Trajectory, task: Task) -> float | None:
    answer = trajectory.answer
    return None if answer is None else float(len(answer.text))


def test_abstaining_reward_is_excluded_and_reported_as_none():
    rubric = Rubric({"exact_match": (exact_match, 1.0), "abstain": (abstain, 5.0)})
    total, components = rubric.score(answered("100"), make_task("100"))
    assert total == 1.0
    assert components == {"exact_match": 1.0, "abstain": None}


def test_custom_rewards_are_weighted():
    rubric = Rubric({"length": (answer_length, 0.5), "exact_match": (exact_match, 1.0)})
    assert rubric.score(answered("1000"), make_task("100")) == (
        2.0,
        {"length": 4.0, "exact_match": 0.0},
    )
    assert rubric.score(Trajectory(task_id="t"), make_task()) == (
        0.0,
        {"length": None, "exact_match": 0.0},
    )


def test_only_abstaining_rewards_total_zero():
    rubric = Rubric({"abstain": (abstain, 1.0)})
    total, components = rubric.score(answered("1"), make_task())
    assert total == 0.0
    assert type(total) is float
    assert components == {"abstain": None}


def test_code_rubric_spec_uses_given_names():
    rubric = Rubric({"length": (answer_length, 0.5), "exact_match": (exact_match, 1.0)})
    assert rubric.spec == "length:0.5,exact_match:1"


# --- mappings, context and groups -------------------------------------------------------------


def with_metric(trajectory: Trajectory, task: Task) -> dict[str, float | None]:
    return {"value": exact_match(trajectory, task), "checked": 1.0}


def test_a_mapping_reports_its_value_and_metrics_beside_it():
    rubric = Rubric({"judge": (with_metric, 2.0)})
    assert rubric.score(answered("100"), make_task("100")) == (
        2.0,
        {"judge.checked": 1.0, "judge": 1.0},
    )


def model_aware(trajectory: Trajectory, task: Task, policy=None) -> float:
    return float(policy == "student")


def takes_everything(trajectory: Trajectory, task: Task, **context) -> float:
    return float(len(context))


def test_rewards_get_the_context_their_signature_names():
    rubric = Rubric(
        {
            "exact_match": (exact_match, 1.0),
            "aware": (model_aware, 1.0),
            "all": (takes_everything, 0.0),
        }
    )
    total, components = rubric.score(
        answered("100"), make_task("100"), policy="student", teacher="t"
    )
    assert components == {"exact_match": 1.0, "aware": 1.0, "all": 2.0}
    assert total == 2.0


def test_a_group_reward_sees_all_trajectories_of_a_prompt():
    from iapo_bench.core import Answer, Turn

    slow = Trajectory(
        task_id="t",
        turns=(
            Turn(text="x", action=Answer(text="1")).model_copy(),
            Turn(text="<answer>100</answer>", action=Answer(text="100")),
        ),
    )
    group = [answered("100"), slow, answered("5")]
    rubric = Rubric.parse("exact_match:1,shortest_correct:0.5")
    results = rubric.score_group(group, make_task("100"))
    assert [components["shortest_correct"] for _, components in results] == [1.0, 0.0, 0.0]
    assert [total for total, _ in results] == [1.5, 1.0, 0.0]
    # A group of one: the env's case.
    assert rubric.score(answered("5"), make_task("100")) == (
        0.0,
        {"exact_match": 0.0, "shortest_correct": None},
    )

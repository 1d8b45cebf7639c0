import dataclasses
import hashlib

import numpy as np
import pydantic
import pytest
from PIL import Image

from iapo_bench.core import (
    Answer,
    AnswerType,
    Box,
    Element,
    FrozenDict,
    FrozenList,
    ParseError,
    ParseErrorKind,
    Task,
    ToolCall,
    ToolResult,
    Trajectory,
    Turn,
    as_image,
    evidence_elements,
    freeze,
)


def image(value: int = 0, shape: tuple[int, int] = (4, 5)) -> np.ndarray:
    return np.full((*shape, 3), value, dtype=np.uint8)


def make_task(**overrides) -> Task:
    fields = {
        "id": "chart/v0/test/d0/7",
        "family": "chart",
        "version": "v0",
        "split": "test",
        "difficulty": 0,
        "seed": 7,
        "image": image(1),
        "source_image": image(2, (8, 10)),
        "question": "How many?",
        "answer": "3",
        "answer_type": AnswerType.NUMBER,
        "question_kind": "value",
    }
    fields.update(overrides)
    return Task(**fields)


# --- as_image ---------------------------------------------------------------------------


def test_as_image_returns_read_only_copy_of_writable_array():
    source = image(5)
    result = as_image(source)
    assert result.shape == (4, 5, 3)
    assert result.dtype == np.uint8
    assert not result.flags.writeable
    source[0, 0, 0] = 99
    assert result[0, 0, 0] == 5


def test_as_image_result_cannot_be_written():
    result = as_image(image(5))
    with pytest.raises(ValueError):
        result[0, 0, 0] = 1


@pytest.mark.parametrize(
    "value",
    [
        np.zeros((4, 4, 3), dtype=np.float32),
        np.zeros((4, 4, 3), dtype=np.int64),
        np.zeros((4, 4), dtype=np.uint8),
        np.zeros((4, 4, 4), dtype=np.uint8),
        np.zeros((4, 4, 1), dtype=np.uint8),
        np.zeros((1, 4, 4, 3), dtype=np.uint8),
        np.zeros((0, 4, 3), dtype=np.uint8),
        np.zeros((4, 0, 3), dtype=np.uint8),
        [[[0, 0, 0]]],
        "image.png",
        None,
    ],
)
def test_as_image_rejects_invalid(value):
    with pytest.raises(ValueError, match="image"):
        as_image(value)


def test_as_image_accepts_pil_rgb():
    pil = Image.new("RGB", (3, 2), (10, 20, 30))
    result = as_image(pil)
    assert result.shape == (2, 3, 3)
    assert result.dtype == np.uint8
    assert result[1, 2].tolist() == [10, 20, 30]
    assert not result.flags.writeable


def test_as_image_converts_pil_grayscale_to_rgb():
    result = as_image(Image.new("L", (3, 2), 7))
    assert result.shape == (2, 3, 3)
    assert (result == 7).all()


# --- frozen values -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "field", "new"),
    [
        (ToolCall(name="zoom", arguments={}), "name", "other"),
        (Answer(text="3"), "text", "4"),
        (ParseError(error=ParseErrorKind.NO_ACTION, message="m"), "message", "x"),
        (ToolResult(text="ok"), "text", "changed"),
        (Turn(text="t", action=Answer(text="3")), "text", "u"),
        (Trajectory(task_id="t"), "truncated", True),
        (Box(x0=0, y0=0, x1=1, y1=1), "x0", 5),
        (Element(kind="bar", key="a", box=Box(x0=0, y0=0, x1=1, y1=1)), "key", "b"),
        (make_task(), "answer", "4"),
    ],
)
def test_values_are_frozen(value, field, new):
    before = getattr(value, field)
    # pydantic models refuse with ValidationError; Box and Element are frozen dataclasses.
    with pytest.raises((pydantic.ValidationError, dataclasses.FrozenInstanceError)):
        setattr(value, field, new)
    assert getattr(value, field) == before


def test_task_images_are_read_only_copies():
    source = image(1)
    task = make_task(image=source)
    source[0, 0, 0] = 200
    assert task.image[0, 0, 0] == 1
    with pytest.raises(ValueError):
        task.image[0, 0, 0] = 3
    with pytest.raises(ValueError):
        task.source_image[0, 0, 0] = 3


def test_tool_result_image_is_read_only_copy():
    source = image(9)
    result = ToolResult(text="ok", image=source)
    source[:] = 0
    assert (result.image == 9).all()
    assert not result.image.flags.writeable


def test_task_rejects_bad_image():
    with pytest.raises(pydantic.ValidationError, match="uint8"):
        make_task(image=np.zeros((4, 4, 3), dtype=np.float64))


def test_tool_result_accepts_pil_image():
    result = ToolResult(text="ok", image=Image.new("RGB", (2, 3), (1, 2, 3)))
    assert result.image.shape == (3, 2, 3)
    assert result.image[0, 0].tolist() == [1, 2, 3]


def test_values_holding_images_are_unhashable():
    with pytest.raises(TypeError):
        hash(ToolResult(text="ok", image=image(1)))
    with pytest.raises(TypeError):
        hash(make_task())


# --- equality by value ---------------------------------------------------------------------


def test_tool_results_with_equal_arrays_are_equal():
    assert ToolResult(text="ok", image=image(3)) == ToolResult(text="ok", image=image(3))


@pytest.mark.parametrize(
    "other",
    [
        ToolResult(text="ok", image=image(4)),
        ToolResult(text="ok", image=image(3, (5, 4))),
        ToolResult(text="ok", image=None),
        ToolResult(text="ok", image=image(3), error="boom"),
        ToolResult(text="other", image=image(3)),
    ],
)
def test_tool_results_with_different_content_are_not_equal(other):
    assert ToolResult(text="ok", image=image(3)) != other


def test_tasks_compare_images_by_value():
    assert make_task() == make_task()
    assert make_task() != make_task(image=image(2))
    assert make_task() != make_task(source_image=image(3, (8, 10)))


def test_turns_holding_images_compare_by_value():
    call = ToolCall(name="zoom", arguments={"box": [0, 0, 2, 2]})
    a = Turn(text="t", action=call, result=ToolResult(text="r", image=image(1)))
    b = Turn(text="t", action=call, result=ToolResult(text="r", image=image(1)))
    c = Turn(text="t", action=call, result=ToolResult(text="r", image=image(2)))
    assert a == b
    assert a != c
    assert Trajectory(task_id="x", turns=(a,)) == Trajectory(task_id="x", turns=(b,))
    assert Trajectory(task_id="x", turns=(a,)) != Trajectory(task_id="x", turns=(c,))


def test_different_types_are_not_equal():
    assert Answer(text="3") != ToolCall(name="3")
    assert Answer(text="3") != "3"


# --- the action union ------------------------------------------------------------------------


ACTIONS = [
    ToolCall(name="zoom", arguments={"box": [1, 2, 3, 4], "factor": 2.0}),
    Answer(text="Peru"),
    ParseError(error=ParseErrorKind.SEVERAL_ACTIONS, message="found 2 actions"),
]


@pytest.mark.parametrize("action", ACTIONS)
def test_turn_action_round_trips_through_python_dump(action):
    turn = Turn(text="message", action=action)
    dumped = turn.model_dump()
    assert dumped["action"]["kind"] == action.kind
    restored = Turn.model_validate(dumped)
    assert type(restored.action) is type(action)
    assert restored == turn


@pytest.mark.parametrize("action", ACTIONS)
def test_turn_action_round_trips_through_json(action):
    turn = Turn(text="message", action=action)
    restored = Turn.model_validate_json(turn.model_dump_json())
    assert type(restored.action) is type(action)
    assert restored == turn


def test_parse_error_kind_validates_from_string():
    turn = Turn.model_validate(
        {"text": "x", "action": {"kind": "parse_error", "error": "no_action", "message": "m"}}
    )
    assert turn.action == ParseError(error=ParseErrorKind.NO_ACTION, message="m")


def test_turn_rejects_unknown_action_kind():
    with pytest.raises(pydantic.ValidationError):
        Turn.model_validate({"text": "x", "action": {"kind": "shrug", "text": "3"}})


def test_values_forbid_extra_fields():
    with pytest.raises(pydantic.ValidationError):
        Answer(text="3", confidence=0.9)


# --- trajectory ----------------------------------------------------------------------------


CALL = ToolCall(name="zoom", arguments={"box": [0, 0, 2, 2]})
ERROR = ParseError(error=ParseErrorKind.MALFORMED_JSON, message="bad")
CALL_TURN = Turn(text="call", action=CALL, result=ToolResult(text="zoomed"))
ERROR_TURN = Turn(text="oops", action=ERROR)
ANSWER_TURN = Turn(text="<answer>3</answer>", action=Answer(text="3"))


def test_trajectory_properties():
    trajectory = Trajectory(task_id="t", turns=(CALL_TURN, ERROR_TURN, CALL_TURN, ANSWER_TURN))
    assert trajectory.answer == Answer(text="3")
    assert trajectory.tool_calls == (CALL_TURN, CALL_TURN)
    assert trajectory.parse_errors == (ERROR,)


def test_trajectory_without_final_answer_has_none():
    assert Trajectory(task_id="t").answer is None
    truncated = Trajectory(task_id="t", turns=(CALL_TURN, ERROR_TURN), truncated=True)
    assert truncated.answer is None
    assert truncated.tool_calls == (CALL_TURN,)
    assert truncated.parse_errors == (ERROR,)


def test_trajectory_answer_is_only_the_last_turn():
    trajectory = Trajectory(task_id="t", turns=(ANSWER_TURN, CALL_TURN))
    assert trajectory.answer is None


def test_trajectory_turns_list_becomes_tuple():
    trajectory = Trajectory(task_id="t", turns=[ANSWER_TURN])
    assert trajectory.turns == (ANSWER_TURN,)


# --- box -----------------------------------------------------------------------------------


def test_box_geometry():
    box = Box(x0=2, y0=3, x1=10, y1=7)
    assert box.width == 8
    assert box.height == 4
    assert box.as_list() == [2, 3, 10, 7]


@pytest.mark.parametrize(
    ("a", "b", "union"),
    [
        ((0, 0, 2, 2), (1, 1, 3, 3), (0, 0, 3, 3)),
        ((5, 1, 6, 9), (0, 4, 2, 5), (0, 1, 6, 9)),
        ((1, 1, 4, 4), (2, 2, 3, 3), (1, 1, 4, 4)),
    ],
)
def test_box_union(a, b, union):
    def box(values):
        return Box(x0=values[0], y0=values[1], x1=values[2], y1=values[3])

    assert box(a).union(box(b)) == box(union)
    assert box(b).union(box(a)) == box(union)


# --- JSON serialisation ----------------------------------------------------------------------


def test_image_serialises_to_json_as_shape_and_sha256():
    array = np.arange(4 * 5 * 3, dtype=np.uint8).reshape(4, 5, 3)
    result = ToolResult(text="ok", image=array)
    dumped = result.model_dump(mode="json")
    assert dumped["image"] == {
        "shape": [4, 5, 3],
        "sha256": hashlib.sha256(array.tobytes()).hexdigest(),
    }
    assert '"sha256"' in result.model_dump_json()


def test_image_stays_an_array_in_python_dump():
    dumped = ToolResult(text="ok", image=image(3)).model_dump()
    assert isinstance(dumped["image"], np.ndarray)
    assert (dumped["image"] == 3).all()


def test_task_json_fingerprints_differ_for_different_images():
    a = make_task().model_dump(mode="json")
    b = make_task(image=image(2)).model_dump(mode="json")
    assert a["image"]["shape"] == b["image"]["shape"] == [4, 5, 3]
    assert a["image"]["sha256"] != b["image"]["sha256"]
    assert a["source_image"] == b["source_image"]


def test_content_hash_depends_on_image_bytes_and_fields():
    assert make_task().content_hash() == make_task().content_hash()
    assert make_task().content_hash() != make_task(image=image(2)).content_hash()
    assert make_task().content_hash() != make_task(answer="4").content_hash()


# --- deeply frozen task data ------------------------------------------------------------------


def nested_data() -> dict:
    return {"kind": "bar", "values": [1.5, 2], "style": {"fonts": ["sans"], "grid": None},
            "pair": (1, [2])}  # fmt: skip


def test_task_data_is_frozen_all_the_way_down():
    task = make_task(data=nested_data())
    mutations = [
        lambda: task.data.__setitem__("kind", "pie"),
        lambda: task.data.update(kind="pie"),
        lambda: task.data.pop("kind"),
        lambda: task.data["values"].append(3),
        lambda: task.data["values"].__setitem__(0, 9),
        lambda: task.data["values"].sort(),
        lambda: task.data["style"]["fonts"].append("serif"),
        lambda: task.data["style"].setdefault("new", 1),
        lambda: task.data["pair"][1].append(3),
    ]
    for mutate in mutations:
        with pytest.raises(TypeError, match="read-only"):
            mutate()
    assert task.data == nested_data() | {"pair": (1, [2])}  # unchanged, equal to plain data


def test_frozen_data_is_still_json_and_pickles_and_copies():
    import copy
    import json
    import pickle

    data = freeze(nested_data())
    assert json.loads(json.dumps(data)) == json.loads(json.dumps(nested_data()))
    for copied in (pickle.loads(pickle.dumps(data)), copy.deepcopy(data), copy.copy(data)):
        assert copied == data and isinstance(copied, FrozenDict)
        assert isinstance(copied["values"], FrozenList)
    task = make_task(data=nested_data())
    assert pickle.loads(pickle.dumps(task)).data == task.data


def test_the_callers_dict_is_not_the_tasks():
    mine = nested_data()
    task = make_task(data=mine)
    mine["values"].append(99)
    assert task.data["values"] == [1.5, 2]


def test_freeze_refuses_data_that_is_not_json_like():
    with pytest.raises(TypeError, match="JSON-like"):
        freeze({"a": {1, 2}})
    with pytest.raises(pydantic.ValidationError):
        make_task(data={"a": np.zeros(3)})


def test_content_hash_is_unchanged_by_freezing():
    plain = make_task(data=nested_data())
    assert plain.content_hash() == make_task(data=freeze(nested_data())).content_hash()
    assert plain.model_dump_json() == make_task(data=freeze(nested_data())).model_dump_json()


def test_nbytes_counts_the_source_once_rendered():
    task = make_task(source_image=None, render_source=lambda: image(2, (8, 10)))
    assert task.nbytes == 4 * 5 * 3
    task.source_image  # noqa: B018  # renders it
    assert task.nbytes == 4 * 5 * 3 + 8 * 10 * 3


def test_evidence_elements_are_the_evidence_marks_of_the_questions_series():
    def element(kind, key, group="", text=""):
        return Element(kind=kind, key=key, box=Box(0, 0, 4, 4), group=group, text=text)

    elements = (
        element("bar", "Peru", "2021"),
        element("bar", "Peru", "2022"),  # another series: not this question's
        element("value_label", "Peru", "2021", "12"),
        element("category_label", "Peru", "", "Peru"),  # no series: kept
        element("x_value", "Peru"),  # a focus region, not a mark
        element("bar", "Chile", "2021"),  # not evidence
    )
    task = make_task(
        evidence=("Peru",),
        elements=elements,
        data={"question_args": {"series": "2021", "category": "Peru"}},
    )
    assert evidence_elements(task) == [elements[0], elements[2], elements[3]]

from typing import Annotated, Any

import pydantic
import pytest
from pydantic import BaseModel, Field

from iapo_bench.core import Task, ToolResult
from iapo_bench.tools import Hidden, Tool, ToolError, tool


@tool
def add(a: int, b: int = 1) -> str:
    """Add two integers.

    Args:
        a: The first term.
        b: The second term.
    """
    return str(a + b)


@tool
def crop(
    box: Annotated[list[int], Field(min_length=4, max_length=4)],
    task: Hidden[Task],
    label: str = "",
) -> ToolResult:
    """Crop a box of the image.

    The box is given in pixels of the shown image.

    Args:
        box: The box as [x0, y0, x1, y1].
        label: A label to echo.
    """
    return ToolResult(text=f"{task!r}:{box}:{label}")


@tool
def titled(title: str, count: int = 3) -> str:
    """Echo a title.

    Args:
        title: The title to echo.
        count: How often.
    """
    return title * count


class Region(BaseModel):
    name: str
    size: int = 1


@tool
def describe(region: Region) -> str:
    """Describe a region.

    Args:
        region: The region.
    """
    return f"{region.name}:{region.size}"


@tool
def with_options(options: dict[str, str] = {"title": "x", "k": "v"}) -> str:  # noqa: B006
    """Use options.

    Args:
        options: The options.
    """
    return ",".join(sorted(options))


@tool
def fail(kind: str) -> str:
    """Fail in the way asked.

    Args:
        kind: "tool" for a ToolError, anything else for a ZeroDivisionError.
    """
    if kind == "tool":
        raise ToolError("the box is outside the image")
    return str(1 / 0)


@tool(name="renamed_tool")
def original_name() -> int:
    """Return a number."""
    return 42


def keys_outside_properties(schema: Any) -> set[str]:
    keys: set[str] = set()
    if isinstance(schema, dict):
        for key, value in schema.items():
            keys.add(key)
            if key == "properties":
                for sub in value.values():
                    keys |= keys_outside_properties(sub)
            elif key != "default":  # a default is a value, not schema
                keys |= keys_outside_properties(value)
    elif isinstance(schema, list):
        for item in schema:
            keys |= keys_outside_properties(item)
    return keys


# --- schema --------------------------------------------------------------------------------


def test_decorator_returns_a_tool():
    assert isinstance(add, Tool)
    assert add.name == "add"
    assert repr(add) == "Tool('add')"


def test_schema_is_openai_function_format():
    assert add.schema == {
        "type": "function",
        "function": {
            "name": "add",
            "description": "Add two integers.",
            "parameters": {
                "type": "object",
                "additionalProperties": False,
                "properties": {
                    "a": {"type": "integer", "description": "The first term."},
                    "b": {"type": "integer", "default": 1, "description": "The second term."},
                },
                "required": ["a"],
            },
        },
    }


def test_description_joins_short_and_long_description_without_args():
    description = crop.schema["function"]["description"]
    assert (
        description == "Crop a box of the image.\n\nThe box is given in pixels of the shown image."
    )


def test_parameter_descriptions_come_from_docstring_args():
    properties = crop.schema["function"]["parameters"]["properties"]
    assert properties["box"]["description"] == "The box as [x0, y0, x1, y1]."
    assert properties["label"]["description"] == "A label to echo."
    assert properties["box"]["minItems"] == properties["box"]["maxItems"] == 4


def test_required_lists_arguments_without_defaults():
    assert crop.schema["function"]["parameters"]["required"] == ["box"]
    assert titled.schema["function"]["parameters"]["required"] == ["title"]


def test_tool_without_arguments_has_empty_properties_and_required():
    parameters = original_name.schema["function"]["parameters"]
    assert parameters["properties"] == {}
    assert parameters["required"] == []


def test_name_can_be_overridden():
    assert original_name.name == "renamed_tool"
    assert original_name.schema["function"]["name"] == "renamed_tool"
    assert original_name({}).text == "42"


@pytest.mark.parametrize("made", [add, crop, titled, describe, with_options, original_name])
def test_schema_has_no_pydantic_titles(made):
    assert "title" not in keys_outside_properties(made.schema)


def test_parameter_named_title_stays():
    parameters = titled.schema["function"]["parameters"]
    assert parameters["properties"]["title"] == {
        "type": "string",
        "description": "The title to echo.",
    }
    assert parameters["required"] == ["title"]


def test_nested_model_schema_keeps_field_names():
    parameters = describe.schema["function"]["parameters"]
    region = parameters["$defs"]["Region"]
    assert set(region["properties"]) == {"name", "size"}
    assert region["required"] == ["name"]


def test_default_value_with_title_key_is_kept():
    options = with_options.schema["function"]["parameters"]["properties"]["options"]
    assert options["default"] == {"title": "x", "k": "v"}


def test_hidden_arguments_are_absent_from_schema():
    parameters = crop.schema["function"]["parameters"]
    assert set(parameters["properties"]) == {"box", "label"}
    assert "task" not in parameters["required"]
    assert "task" not in str(crop.schema)
    assert crop.hidden == ("task",)


def test_schema_returns_a_fresh_copy():
    first = crop.schema
    first["function"]["name"] = "changed"
    first["function"]["parameters"]["required"].append("label")
    first["function"]["parameters"]["properties"]["box"]["description"] = "changed"
    second = crop.schema
    assert second is not first
    assert second["function"]["name"] == "crop"
    assert second["function"]["parameters"]["required"] == ["box"]
    assert second["function"]["parameters"]["properties"]["box"]["description"] == (
        "The box as [x0, y0, x1, y1]."
    )


# --- validate ------------------------------------------------------------------------------


def test_validate_fills_defaults():
    assert add.validate({"a": 2}) == {"a": 2, "b": 1}
    assert crop.validate({"box": [0, 0, 4, 4]}) == {"box": [0, 0, 4, 4], "label": ""}
    assert describe.validate({"region": {"name": "r"}}) == {"region": {"name": "r", "size": 1}}


def test_validate_coerces_like_pydantic():
    assert add.validate({"a": "2", "b": 3.0}) == {"a": 2, "b": 3}


@pytest.mark.parametrize(
    "arguments",
    [{}, {"a": "x"}, {"a": 1, "extra": 2}, {"a": [1]}],
)
def test_validate_raises_validation_error(arguments):
    with pytest.raises(pydantic.ValidationError):
        add.validate(arguments)


# --- calling -------------------------------------------------------------------------------


def test_call_returns_tool_result_from_string():
    assert add({"a": 2, "b": 5}) == ToolResult(text="7")
    assert add({"a": 2}) == ToolResult(text="3")


def test_call_converts_non_string_results_to_text():
    assert original_name({}) == ToolResult(text="42")


def test_hidden_argument_is_passed_at_call_time():
    result = crop({"box": [1, 2, 3, 4], "label": "x"}, task="TASK")
    assert result == ToolResult(text="'TASK':[1, 2, 3, 4]:x")


def test_nested_model_argument_reaches_function_as_model():
    assert describe({"region": {"name": "r", "size": 5}}) == ToolResult(text="r:5")


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        ({"a": "x"}, "a: Input should be a valid integer, unable to parse string as an integer"),
        ({}, "a: Field required"),
        ({"a": 1, "c": 2}, "c: Extra inputs are not permitted"),
    ],
)
def test_invalid_arguments_return_error_with_pydantic_message(arguments, message):
    result = add(arguments)
    assert result.error == message
    assert result.text == ""
    assert not result.ok


def test_invalid_arguments_of_hidden_tool_name_the_field():
    result = crop({"box": [1, 2, 3]}, task="TASK")
    assert result.error is not None
    assert result.error.startswith("box: List should have at least 4 items")


def test_several_invalid_arguments_are_all_reported():
    result = crop({"box": "no", "label": 3}, task="TASK")
    assert result.error is not None
    assert "box:" in result.error
    assert "label:" in result.error
    assert "; " in result.error


def test_tool_error_message_is_returned():
    assert fail({"kind": "tool"}) == ToolResult(text="", error="the box is outside the image")


def test_other_exceptions_are_returned_naming_their_type():
    result = fail({"kind": "other"})
    assert result == ToolResult(text="", error="ZeroDivisionError: division by zero")


def test_successful_call_is_ok():
    assert add({"a": 1}).ok


def test_missing_hidden_argument_raises_type_error():
    with pytest.raises(TypeError, match="task"):
        crop({"box": [1, 2, 3, 4]})


def test_missing_hidden_argument_raises_even_with_invalid_arguments():
    with pytest.raises(TypeError, match="hidden"):
        crop({"box": "bad"})


# --- decoration errors -----------------------------------------------------------------------


def test_no_docstring_is_rejected():
    with pytest.raises(TypeError, match="docstring"):

        @tool
        def nodoc(a: int) -> str:
            return str(a)


def test_blank_docstring_is_rejected():
    with pytest.raises(TypeError, match="docstring"):

        @tool
        def blank(a: int) -> str:
            """ """
            return str(a)


def test_undescribed_parameter_is_rejected():
    with pytest.raises(TypeError, match="'b' is not described"):

        @tool
        def half(a: int, b: int) -> str:
            """Do something.

            Args:
                a: The value.
            """
            return str(a + b)


def test_parameter_without_type_hint_is_rejected():
    with pytest.raises(TypeError, match="'a' needs a type hint"):

        @tool
        def untyped(a) -> str:
            """Do something.

            Args:
                a: The value.
            """
            return str(a)


def test_var_positional_is_rejected():
    with pytest.raises(TypeError, match=r"\*args"):

        @tool
        def star(*values: int) -> str:
            """Do something.

            Args:
                values: The values.
            """
            return str(values)


def test_var_keyword_is_rejected():
    with pytest.raises(TypeError, match=r"\*\*kwargs"):

        @tool
        def starstar(**values: int) -> str:
            """Do something.

            Args:
                values: The values.
            """
            return str(values)


def test_hidden_parameter_needs_no_description():
    @tool
    def hidden_only(task: Hidden[Task]) -> str:
        """Report the task."""
        return str(task)

    assert hidden_only.hidden == ("task",)
    assert hidden_only({}, task="T") == ToolResult(text="T")

"""The ``@tool`` decorator: a typed, documented function becomes a :class:`Tool`.

A tool is a plain Python function with type hints and a Google-style docstring (TRL reads
the same). A tool that looks at something in particular declares it in its result's
:class:`~iapo_bench.core.Focus` (the regions it read, the elements it named, the items it
opened), which rewards such as ``right_tool`` read.

The decorator builds a pydantic model of its visible arguments and the OpenAI function schema
the model is shown. Arguments marked :data:`Hidden` (the task, its metadata) are passed by
the env and never appear in the schema. Calling a :class:`Tool` never raises: failures come
back as ``ToolResult(error=...)``, which the agent sees.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Mapping
from typing import Annotated, Any, TypeVar, get_type_hints

import docstring_parser
import pydantic
from pydantic import BaseModel, ConfigDict, Field

from iapo_bench.core import ToolResult

__all__ = ["Hidden", "Tool", "ToolError", "format_validation_error", "tool"]

T = TypeVar("T")


class _HiddenMarker:
    def __repr__(self) -> str:
        return "HIDDEN"


_HIDDEN = _HiddenMarker()

Hidden = Annotated[T, _HIDDEN]
"""Marks an argument the env supplies (``task: Hidden[Task]``); it is absent from the schema."""


class ToolError(Exception):
    """Raised inside a tool for a failure the agent caused; its message is shown to the agent."""


_SCHEMA_VALUES = {"default", "const", "enum", "examples"}


def _strip_titles(schema: Any) -> Any:
    # OpenAI-style schemas carry no pydantic "title" keys; properties named "title" and
    # values (defaults, enums) keep theirs.
    if isinstance(schema, dict):
        out = {}
        for key, value in schema.items():
            if key == "title":
                continue
            if key == "properties":
                out[key] = {name: _strip_titles(sub) for name, sub in value.items()}
            elif key in _SCHEMA_VALUES:
                out[key] = value
            else:
                out[key] = _strip_titles(value)
        return out
    if isinstance(schema, list):
        return [_strip_titles(item) for item in schema]
    return schema


class Tool:
    """A callable tool with a validated argument model and an OpenAI function schema.

    Made by :func:`tool`; see there for an example.
    """

    def __init__(
        self,
        fn: Callable[..., ToolResult | str],
        name: str,
        description: str,
        arguments_model: type[BaseModel],
        hidden: tuple[str, ...],
    ) -> None:
        self.fn = fn
        self.name = name
        self.description = description
        self.arguments_model = arguments_model
        self.hidden = hidden
        parameters = _strip_titles(arguments_model.model_json_schema())
        parameters.setdefault("properties", {})
        parameters.setdefault("required", [])
        self._schema = {
            "type": "function",
            "function": {"name": name, "description": description, "parameters": parameters},
        }

    @property
    def schema(self) -> dict[str, Any]:
        """The OpenAI function schema (a fresh copy)."""
        return _deep_copy(self._schema)

    def validate(self, arguments: Mapping[str, Any]) -> dict[str, Any]:
        """Validated arguments with defaults filled in; raises ``pydantic.ValidationError``."""
        return self.arguments_model.model_validate(dict(arguments)).model_dump()

    def __call__(self, arguments: Mapping[str, Any], **hidden: Any) -> ToolResult:
        """Run the tool on JSON-like ``arguments``; never raises."""
        missing = set(self.hidden) - set(hidden)
        if missing:  # a programming error in the caller, not the agent's
            raise TypeError(f"tool {self.name!r} needs hidden arguments {sorted(missing)}")
        if not isinstance(arguments, Mapping):
            return ToolResult(text="", error=f"arguments must be an object, got {arguments!r}")
        try:
            values = self.arguments_model.model_validate(dict(arguments))
        except pydantic.ValidationError as error:
            return ToolResult(text="", error=format_validation_error(error))
        try:
            result = self.fn(**dict(values), **{k: hidden[k] for k in self.hidden})
        except ToolError as error:
            return ToolResult(text="", error=str(error))
        except Exception as error:  # tools never raise into the env
            return ToolResult(text="", error=f"{type(error).__name__}: {error}")
        return result if isinstance(result, ToolResult) else ToolResult(text=str(result))

    def __repr__(self) -> str:
        return f"Tool({self.name!r})"


def _deep_copy(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _deep_copy(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_deep_copy(v) for v in value]
    return value


def format_validation_error(error: pydantic.ValidationError) -> str:
    """A one-line summary of a pydantic validation error, as shown to the agent."""
    parts = []
    for item in error.errors(include_url=False):
        where = ".".join(str(p) for p in item["loc"]) or "arguments"
        parts.append(f"{where}: {item['msg']}")
    return "; ".join(parts)


def tool(fn: Callable[..., Any] | None = None, *, name: str | None = None) -> Any:
    """Make a typed function with a Google-style docstring into a :class:`Tool`.

    >>> @tool
    ... def add(a: int, b: int = 1) -> str:
    ...     '''Add two integers.
    ...
    ...     Args:
    ...         a: The first term.
    ...         b: The second term.
    ...     '''
    ...     return str(a + b)
    >>> add.schema["function"]["parameters"]["required"]
    ['a']
    >>> add({"a": 2}).text
    '3'
    >>> add({"a": "x"}).error
    'a: Input should be a valid integer, unable to parse string as an integer'
    """

    def build(fn: Callable[..., Any]) -> Tool:
        tool_name = name or fn.__name__
        try:
            doc = docstring_parser.parse(
                inspect.getdoc(fn) or "", docstring_parser.DocstringStyle.GOOGLE
            )
        except docstring_parser.ParseError as error:
            raise TypeError(f"tool {tool_name!r}: unreadable docstring: {error}") from None
        description = "\n\n".join(
            part for part in (doc.short_description, doc.long_description) if part
        )
        if not description:
            raise TypeError(f"tool {tool_name!r} needs a docstring describing what it does")
        param_docs = {p.arg_name: p.description or "" for p in doc.params}
        hints = get_type_hints(fn, include_extras=True)
        fields: dict[str, Any] = {}
        hidden: list[str] = []
        for param in inspect.signature(fn).parameters.values():
            if param.kind in (param.VAR_POSITIONAL, param.VAR_KEYWORD):
                raise TypeError(f"tool {tool_name!r}: *args and **kwargs are not allowed")
            annotation = hints.get(param.name)
            if annotation is None:
                raise TypeError(f"tool {tool_name!r}: argument {param.name!r} needs a type hint")
            if _HIDDEN in getattr(annotation, "__metadata__", ()):
                hidden.append(param.name)
                continue
            if not param_docs.get(param.name):
                raise TypeError(
                    f"tool {tool_name!r}: argument {param.name!r} is not described in the "
                    "docstring's Args section"
                )
            default = ... if param.default is param.empty else param.default
            fields[param.name] = (annotation, Field(default, description=param_docs[param.name]))
        model = pydantic.create_model(
            f"{tool_name}_arguments",
            __config__=ConfigDict(extra="forbid"),
            **fields,
        )
        made = Tool(fn, tool_name, description, model, tuple(hidden))
        made.__doc__ = fn.__doc__
        return made

    return build(fn) if fn is not None else build

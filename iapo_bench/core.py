"""The shared value types of iapo-bench, at the bottom of every import.

Everything above (tools, rewards, envs, baselines, the harness) passes these around; this
module imports nothing else of the package.

- :class:`Task`: one question about one image, with its hidden reference and tool metadata.
- :class:`ToolCall`, :class:`Answer`, :class:`ParseError`: what the one action parser makes of a
  model's message (see :func:`iapo_bench.tools.parse_action`).
- :class:`ToolResult`: what a tool returns (text, an optional image, an optional error), with
  the :class:`Focus` of the call: what it looked at.
- :class:`Turn`, :class:`Trajectory`: one episode, as the env records it and rewards read it.
- :class:`PolicyFailure`: what a policy returns instead of a message when something outside
  the model failed (an endpoint down): an infrastructure error, never scored as the model's.

Images are ``uint8`` arrays of shape ``(H, W, 3)``, made read-only when a model stores them,
so a frozen model really is frozen. Models that hold images compare them by value.
"""

from __future__ import annotations

import dataclasses
import enum
import hashlib
import re
from collections.abc import Callable, Mapping
from typing import Annotated, Any, Literal

import numpy as np
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    PlainSerializer,
    PlainValidator,
    PrivateAttr,
    computed_field,
    field_validator,
)

__all__ = [
    "FOCUS_REGION_KINDS",
    "Action",
    "Answer",
    "AnswerType",
    "Box",
    "Element",
    "Focus",
    "FrozenDict",
    "FrozenList",
    "ImageArray",
    "ParseError",
    "ParseErrorKind",
    "PolicyFailure",
    "Split",
    "Task",
    "ToolCall",
    "ToolResult",
    "Trajectory",
    "Turn",
    "as_image",
    "clean_text",
    "evidence_elements",
    "freeze",
]

Split = Literal["train", "validation", "test"]
"""The three disjoint task splits of every family."""


def as_image(value: Any) -> np.ndarray:
    """Validate ``value`` as an RGB image and return a read-only ``uint8 (H, W, 3)`` array.

    Accepts a numpy array or a PIL image. Raises ``ValueError`` naming what is wrong.

    >>> as_image(np.zeros((2, 3, 3), dtype=np.uint8)).shape
    (2, 3, 3)
    """
    if not isinstance(value, np.ndarray) and hasattr(value, "convert"):  # a PIL image
        value = np.asarray(value.convert("RGB"))
    if not isinstance(value, np.ndarray):
        raise ValueError(f"an image must be a numpy array or PIL image, got {type(value).__name__}")
    if value.dtype != np.uint8 or value.ndim != 3 or value.shape[2] != 3:
        raise ValueError(f"an image must be uint8 (H, W, 3), got {value.dtype} {value.shape}")
    if value.shape[0] < 1 or value.shape[1] < 1:
        raise ValueError(f"an image must not be empty, got shape {value.shape}")
    if value.flags.writeable:
        value = value.copy()
        value.flags.writeable = False
    return value


_LONE_SURROGATE = re.compile("[\ud800-\udfff]")


def clean_text(text: str) -> str:
    r"""``text`` with each lone surrogate replaced by U+FFFD, so it encodes as UTF-8.

    A broken decoder (or a hostile agent) can hand over a ``str`` holding surrogate code
    points, which no UTF-8 file or JSON record can take; everything else, NUL and control
    characters included, is kept as it is. Linear time.

    >>> clean_text("a\ud800b") == "a\ufffdb", clean_text("ok\x00")
    (True, 'ok\x00')
    """
    if text.isascii():  # the common case, in C: nothing to replace
        return text
    return _LONE_SURROGATE.sub("\ufffd", text)


def _image_summary(value: np.ndarray) -> dict[str, Any]:
    # JSON records carry a fingerprint of each image, not its pixels.
    return {"shape": list(value.shape), "sha256": hashlib.sha256(value.tobytes()).hexdigest()}


ImageArray = Annotated[
    np.ndarray,
    PlainValidator(as_image),
    PlainSerializer(_image_summary, when_used="json"),
]
"""A read-only ``uint8 (H, W, 3)`` image; serialised to JSON as its shape and SHA-256."""


def _read_only(self: Any, *args: Any, **kwargs: Any) -> Any:
    raise TypeError(f"{type(self).__name__} is read-only: a task's data is shared by every episode")


class FrozenDict(dict):  # type: ignore[type-arg]
    """A ``dict`` that refuses every mutation: the deeply frozen form of a task's data.

    A subclass of ``dict``, so JSON encoders, ``==`` and pydantic treat it as one.

    >>> data = freeze({"kind": "bar", "values": [1, 2]})
    >>> data["values"].append(3)
    Traceback (most recent call last):
    ...
    TypeError: FrozenList is read-only: a task's data is shared by every episode
    """

    __slots__ = ()
    __setitem__ = __delitem__ = __ior__ = _read_only
    clear = pop = popitem = setdefault = update = _read_only

    def __reduce__(self) -> tuple[Any, ...]:
        # dict's own pickling refills the copy item by item, which __setitem__ refuses.
        return (FrozenDict, (dict(self),))

    def __copy__(self) -> FrozenDict:
        return self

    def __deepcopy__(self, memo: Any) -> FrozenDict:
        return self


class FrozenList(list):  # type: ignore[type-arg]
    """A ``list`` that refuses every mutation (see :class:`FrozenDict`); equal to a plain list."""

    __slots__ = ()
    __setitem__ = __delitem__ = __iadd__ = __imul__ = _read_only
    append = extend = insert = pop = remove = clear = sort = reverse = _read_only

    def __reduce__(self) -> tuple[Any, ...]:
        return (FrozenList, (list(self),))

    def __copy__(self) -> FrozenList:
        return self

    def __deepcopy__(self, memo: Any) -> FrozenList:
        return self


def freeze(value: Any) -> Any:
    """``value`` with every dict and list inside it made read-only (tuples frozen inside).

    JSON-like data only: other mutable containers (sets, arrays) are refused with ``TypeError``.

    >>> freeze({"a": [1, {"b": 2}]}) == {"a": [1, {"b": 2}]}
    True
    """
    if isinstance(value, (FrozenDict, FrozenList)):
        return value
    if isinstance(value, Mapping):
        return FrozenDict({str(k): freeze(v) for k, v in value.items()})
    if isinstance(value, list):
        return FrozenList(freeze(v) for v in value)
    if isinstance(value, tuple):
        return tuple(freeze(v) for v in value)
    if value is None or isinstance(value, (str, int, float, bool)):
        return value
    raise TypeError(f"task data must be JSON-like, got {type(value).__name__}")


def _values_equal(a: Any, b: Any) -> bool:
    if isinstance(a, np.ndarray) or isinstance(b, np.ndarray):
        return (
            isinstance(a, np.ndarray)
            and isinstance(b, np.ndarray)
            and a.shape == b.shape
            and bool(np.array_equal(a, b))
        )
    if isinstance(a, (tuple, list)) and isinstance(b, (tuple, list)):
        return len(a) == len(b) and all(_values_equal(x, y) for x, y in zip(a, b, strict=True))
    return bool(a == b)


class _Value(BaseModel):
    """Frozen pydantic base whose equality compares image arrays by value."""

    model_config = ConfigDict(frozen=True, extra="forbid", arbitrary_types_allowed=True)

    def __eq__(self, other: object) -> bool:
        if type(self) is not type(other):
            return NotImplemented
        return all(
            _values_equal(getattr(self, name), getattr(other, name))
            for name in type(self).model_fields
        )

    __hash__ = None  # type: ignore[assignment]  # image arrays are not hashable


class AnswerType(str, enum.Enum):
    """How a reference answer is to be compared (DESIGN.md's answer types)."""

    NUMBER = "number"
    TEXT = "text"
    CHOICE = "choice"
    ID = "id"
    DATE = "date"
    LIST = "list"


@dataclasses.dataclass(frozen=True, slots=True)
class Box:
    """An axis-aligned pixel box ``[x0, x1) x [y0, y1)`` in the image the model was shown.

    A plain frozen dataclass, not a pydantic model: generators make dozens per task on a hot
    path, and pydantic takes them as they are inside a :class:`Task`.
    """

    x0: int
    """Left edge, inclusive."""
    y0: int
    """Top edge, inclusive."""
    x1: int
    """Right edge, exclusive."""
    y1: int
    """Bottom edge, exclusive."""

    @property
    def width(self) -> int:
        """Width in pixels."""
        return self.x1 - self.x0

    @property
    def height(self) -> int:
        """Height in pixels."""
        return self.y1 - self.y0

    def as_list(self) -> list[int]:
        """The box as ``[x0, y0, x1, y1]``, the order tools take."""
        return [self.x0, self.y0, self.x1, self.y1]

    def contains(self, other: Box) -> bool:
        """Whether ``other`` lies entirely inside this box."""
        return (
            self.x0 <= other.x0
            and self.y0 <= other.y0
            and other.x1 <= self.x1
            and other.y1 <= self.y1
        )

    def union(self, other: Box) -> Box:
        """The smallest box holding both boxes."""
        return Box(
            x0=min(self.x0, other.x0),
            y0=min(self.y0, other.y0),
            x1=max(self.x1, other.x1),
            y1=max(self.y1, other.y1),
        )


@dataclasses.dataclass(frozen=True, slots=True)
class Element:
    """One drawn element of a task image, recorded by its generator for tools and tests."""

    kind: str
    """What it is, e.g. 'bar', 'value_label', or a focus region: 'x_value', 'row', 'column'."""
    key: str
    """The data key it belongs to (a category label), or '' for chart furniture."""
    box: Box
    """Where it is, in pixels of the shown image."""
    group: str = ""
    """The series (legend entry, table column) it belongs to, or ''."""
    text: str = ""
    """The string drawn, for text elements."""


class Task(_Value):
    """One task: an image, a question, and the hidden data that scores and serves it.

    A task is fully determined by its key (family, version, split, difficulty, seed): the same
    key gives the same bytes in any process. Observations never carry the hidden fields
    (``answer``, ``evidence``, ``elements``, ``data``, ``scene``, ``source_image``).

    The full-resolution source is given either as an array (``source_image=...``) or as a
    function that renders it on first use (``render_source=...``), since most episodes
    never zoom.
    """

    id: str = Field(description="Stable id, '{family}/{version}/{split}/d{difficulty}/{seed}'.")
    family: str = Field(description="Task family, e.g. 'chart'.")
    version: str = Field(description="Env version of the family, e.g. 'v0'.")
    split: Split = Field(description="Which disjoint split the seed belongs to.")
    difficulty: int = Field(ge=0, description="Difficulty level; 0 is the easiest.")
    seed: int = Field(ge=0, description="Generator seed, inside the split's seed range.")
    image: ImageArray = Field(description="The image as first shown to the agent.")
    scene: Any = Field(
        default=None,
        description="The vector scene the image was drawn from (an iapo_bench.scene.Scene), "
        "when the family draws one; zoom re-rasterises it.",
    )
    question: str = Field(description="The question shown with the image.")
    answer: str = Field(description="The reference answer, as text.")
    answer_type: AnswerType = Field(description="How the answer is compared.")
    question_kind: str = Field(description="The generator's question template, e.g. 'compare'.")
    evidence: tuple[str, ...] = Field(
        default=(), description="Keys of the elements the answer depends on."
    )
    elements: tuple[Element, ...] = Field(
        default=(), description="Every drawn element with its box, for tools and tests."
    )
    tool_names: tuple[str, ...] = Field(
        default=(), description="Names of the family's tools that apply to this task."
    )
    data: Mapping[str, Any] = Field(
        default_factory=dict,
        description="The generator's data table (JSON-like), from which the answer is computed; "
        "deeply frozen (:func:`freeze`), since every episode of the task shares it.",
    )

    _source: np.ndarray | None = PrivateAttr(default=None)
    _render_source: Callable[[], Any] | None = PrivateAttr(default=None)

    def __init__(
        self,
        *,
        source_image: Any = None,
        render_source: Callable[[], Any] | None = None,
        **fields: Any,
    ) -> None:
        super().__init__(**fields)
        if (source_image is None) == (render_source is None):
            raise ValueError("a Task needs exactly one of source_image and render_source")
        if source_image is not None:
            self._source = as_image(source_image)
        self._render_source = render_source

    @field_validator("data", mode="after")
    @classmethod
    def _freeze_data(cls, value: Mapping[str, Any]) -> Mapping[str, Any]:
        try:
            return freeze(value)
        except TypeError as error:  # pydantic reports ValueErrors as validation errors
            raise ValueError(str(error)) from None

    @property
    def nbytes(self) -> int:
        """Bytes held by the task's images (the source counted once it is rendered)."""
        source = self._source.nbytes if self._source is not None else 0
        return self.image.nbytes + source

    @computed_field  # type: ignore[prop-decorator]
    @property
    def source_image(self) -> ImageArray:
        """The full-resolution render the shown image was made from (rendered on first use)."""
        if self._source is None:
            assert self._render_source is not None
            self._source = as_image(self._render_source())
        return self._source

    def __eq__(self, other: object) -> bool:
        if type(other) is not Task:
            return NotImplemented
        return super().__eq__(other) and _values_equal(self.source_image, other.source_image)

    __hash__ = None  # type: ignore[assignment]

    def content_hash(self) -> str:
        """SHA-256 over everything that makes up the task's bytes."""
        digest = hashlib.sha256()
        for image in (self.image, self.source_image):
            digest.update(repr(image.shape).encode())
            digest.update(image.tobytes())
        if self.scene is not None:
            digest.update(self.scene.to_json().encode())
        digest.update(self.model_dump_json(exclude={"image", "scene", "source_image"}).encode())
        return digest.hexdigest()


class ToolCall(_Value):
    """A parsed, schema-valid call of a named tool."""

    kind: Literal["tool_call"] = Field(default="tool_call", description="Discriminator.")
    name: str = Field(description="The tool's name.")
    arguments: dict[str, Any] = Field(
        default_factory=dict, description="Arguments as validated by the tool's schema."
    )


class Answer(_Value):
    """A final answer; it ends the episode."""

    kind: Literal["answer"] = Field(default="answer", description="Discriminator.")
    text: str = Field(description="The answer text, stripped of surrounding whitespace.")


class ParseErrorKind(str, enum.Enum):
    """Why a message could not be read as exactly one action."""

    NO_ACTION = "no_action"
    MALFORMED_JSON = "malformed_json"
    UNKNOWN_TOOL = "unknown_tool"
    INVALID_ARGUMENTS = "invalid_arguments"
    SEVERAL_ACTIONS = "several_actions"
    TOO_LONG = "too_long"


class ParseError(_Value):
    """A message that is not exactly one valid action; the agent is told why and goes on."""

    kind: Literal["parse_error"] = Field(default="parse_error", description="Discriminator.")
    error: ParseErrorKind = Field(description="The typed reason, counted in reports.")
    message: str = Field(description="A human-readable explanation shown to the agent.")


Action = Annotated[ToolCall | Answer | ParseError, Field(discriminator="kind")]
"""What :func:`iapo_bench.tools.parse_action` returns."""


class Focus(_Value):
    """What a tool call looked at, as the tool declares it: regions, named elements, items.

    Rewards read it (``right_tool``: did the call look at the evidence?) instead of parsing
    each tool's argument names. Regions are pixels of the image first shown.

    >>> Focus(boxes=(Box(0, 0, 8, 8),)).keys
    ()
    """

    boxes: tuple[Box, ...] = Field(default=(), description="Regions of the shown image it read.")
    keys: tuple[str, ...] = Field(
        default=(), description="Element keys it named (the labels a focus tool took)."
    )
    items: tuple[str, ...] = Field(default=(), description="Gallery item ids it opened.")


class ToolResult(_Value):
    """What a tool returns to the agent; tools report failures here instead of raising."""

    text: str = Field(description="Text shown to the agent.")
    image: ImageArray | None = Field(default=None, description="An image shown to the agent.")
    error: str | None = Field(
        default=None, description="Why the call failed, or None when it succeeded."
    )
    focus: Focus | None = Field(
        default=None,
        description="What a successful call looked at, declared by the tool; never shown to "
        "the agent. None when the tool looks at nothing in particular (a text search).",
    )

    @property
    def ok(self) -> bool:
        """Whether the call succeeded."""
        return self.error is None


class Turn(_Value):
    """One agent message and what the env answered."""

    text: str = Field(description="The agent's message, verbatim.")
    action: Action = Field(description="What the parser made of it.")
    result: ToolResult | None = Field(
        default=None, description="The tool's result when the action was a call."
    )


class Trajectory(_Value):
    """One episode of a task, as rewards and the harness read it."""

    task_id: str = Field(description="The task's id; privileged code looks the task up by it.")
    turns: tuple[Turn, ...] = Field(default=(), description="Every turn, in order.")
    truncated: bool = Field(default=False, description="Whether the turn limit ended it.")

    @property
    def answer(self) -> Answer | None:
        """The final answer, or None when the episode ended without one."""
        if self.turns and isinstance(self.turns[-1].action, Answer):
            return self.turns[-1].action
        return None

    @property
    def tool_calls(self) -> tuple[Turn, ...]:
        """The turns whose action was a valid tool call."""
        return tuple(t for t in self.turns if isinstance(t.action, ToolCall))

    @property
    def parse_errors(self) -> tuple[ParseError, ...]:
        """The parse errors, in order."""
        return tuple(t.action for t in self.turns if isinstance(t.action, ParseError))


class PolicyFailure(_Value):
    """A message a policy could not produce, for a reason outside the model (infrastructure).

    A policy returns it in place of a message (:meth:`Policy.act
    <iapo_bench.baselines.base.Policy.act>` returns ``str | PolicyFailure`` per observation)
    when, for example, its endpoint stayed down, timed out or refused the request after every
    retry. It is not an action: ``ToolUseEnv.step`` refuses it, and the harness records the
    episode as an infrastructure error, leaves it out of the score and plays it again when the
    run is resumed.

    >>> PolicyFailure(error="APIConnectionError: Connection refused").kind
    'policy_failure'
    """

    kind: Literal["policy_failure"] = Field(default="policy_failure", description="Discriminator.")
    error: str = Field(description="What failed, as the policy saw it (bounded, one line).")


FOCUS_REGION_KINDS = frozenset({"x_value", "y_value", "row", "column"})
"""Element kinds that are focus regions (a whole row or column), not marks or labels."""


def evidence_elements(task: Task) -> list[Element]:
    """The marks and labels the task's answer depends on, not the focus regions.

    The elements whose key is evidence, in the question's series (or in none: category labels
    and other furniture of no series): what a zoom must show, what the oracle looks at, where
    the attribution reward measures the evidence share.
    """
    args = task.data.get("question_args", {})
    series = {"", args.get("series"), args.get("key_series")}
    return [
        e
        for e in task.elements
        if e.key in task.evidence and e.kind not in FOCUS_REGION_KINDS and e.group in series
    ]

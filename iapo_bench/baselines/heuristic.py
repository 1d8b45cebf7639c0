"""The heuristic agent: the honest non-learned row of every leaderboard.

It sees what a model sees (the question, the images, the tool results) and nothing hidden,
and it reads images the only way a program can: with the OCR engine. Per family:

- Charts: zoom into the whole chart, read the zoom, pair every label with the nearest number
  along a row or a column, and compute the answer the question asks for from those pairs.
- OCR documents: read the image as shown, find the line whose words the question names
  (the field's label), call ``ocr`` on that row (on the foot of the page for a footnote), and
  answer with the text after the label, beside it or below it.
- Image search: search with the description, the framed photo in a cluttered scene, or the
  whole query image; open the top hit and answer with the metadata field the question names.
"""

from __future__ import annotations

import re
import statistics
from collections.abc import Sequence
from typing import Any

import numpy as np

from iapo_bench.baselines.base import Info, Observation, question_of
from iapo_bench.core import Box, ToolCall
from iapo_bench.envs.family import parse_task_id
from iapo_bench.rewards.match import normalize_text, parse_number
from iapo_bench.tools.ocr import OcrLine, get_engine
from iapo_bench.tools.parser import format_answer, format_tool_call

__all__ = ["HeuristicAgent", "parse_ocr_result"]


class HeuristicAgent:
    """Uses only the visible input and the real tools (zoom, OCR, search), no hidden data.

    >>> HeuristicAgent().name
    'heuristic'
    """

    name = "heuristic"

    def act(self, observations: Sequence[Observation], infos: Sequence[Info]) -> list[str]:
        """The heuristic's message for each episode."""
        return [self._act_one(obs, info) for obs, info in zip(observations, infos, strict=True)]

    def _act_one(self, obs: Observation, info: Info) -> str:
        family = parse_task_id(info["task_id"])[0]  # the family is public: it is the env
        tools = {schema["function"]["name"] for schema in info["tools"]}
        question = question_of(info)
        if family == "ocr" and "ocr" in tools:
            return _ocr_document(question, obs, info)
        if family == "search" and {"search_images", "open_item"} <= tools:
            return _search(question, obs, info)
        if "zoom" in tools:
            return _chart(question, obs, info)
        return format_answer("0")


# --- reading tool results ------------------------------------------------------------------

_OCR_ROW = re.compile(r"\A(?P<text>.*\S)\s+\[(?P<box>\d+, \d+, \d+, \d+)\]\s+(?P<score>[\d.]+)\Z")


def parse_ocr_result(text: str) -> list[OcrLine]:
    """The lines of an ``ocr`` tool result (``text  [x0, y0, x1, y1]  score`` a row).

    >>> parse_ocr_result("TOTAL  [16, 240, 52, 250]  0.98")[0].box.x1
    52
    """
    lines = []
    for row in text.splitlines():
        match = _OCR_ROW.match(row.strip())
        if match:
            x0, y0, x1, y1 = (int(v) for v in match["box"].split(", "))
            box = Box(x0=x0, y0=y0, x1=x1, y1=y1)
            lines.append(OcrLine(text=match["text"], box=box, score=float(match["score"])))
    return lines


def _last_result(info: Info) -> str:
    """The text of the latest tool message."""
    message = info["messages"][-1]
    return "".join(part.get("text", "") for part in message["content"] if part["type"] == "text")


# --- OCR documents -------------------------------------------------------------------------

_SYNONYMS = {"no": "number", "wt": "weight"}  # abbreviations that are not prefixes
_WEAK = {"the", "a", "an", "is", "on", "of", "what", "this", "for", "with", "to", "how", "does",
         "give", "receipt", "invoice", "form", "plaque", "label", "footnote"}  # fmt: skip


def _tokens(text: str) -> list[str]:
    """Lower-case words; "MemberID" (OCR drops narrow spaces) splits into two."""
    text = re.sub(r"(?<=[a-z])(?=[A-Z])", " ", text)
    return [_SYNONYMS.get(t, t) for t in re.findall(r"[a-z0-9]+", text.lower())]


def _position(word: str, question: list[str]) -> int | None:
    """Where ``word`` (or a word it abbreviates, "Tel." for "telephone") is in the question."""
    for i, candidate in enumerate(question):
        if candidate == word or (len(word) >= 3 and candidate.startswith(word)):
            return i
    return None


def _label_run(line: OcrLine, question: list[str]) -> tuple[float, int, int]:
    """The run of the line's words that best names a field of the question.

    Returns ``(score, -first question position, end)``: more named words win, then the
    field the question names first.
    """
    words = _tokens(line.text)
    best = (0.0, 0, 0)
    for start in range(len(words)):
        end, score, first = start, 0.0, len(question)
        while end < len(words) and (at := _position(words[end], question)) is not None:
            score += 0.25 if words[end] in _WEAK else 1.0
            first = min(first, at)
            end += 1
        best = max(best, (score, -first, end))
    return best


def _best_label(lines: list[OcrLine], question: str) -> tuple[OcrLine, int] | None:
    """The line holding the field label the question names, and where the label ends."""
    words = _tokens(question)
    scored = [(_label_run(line, words), i) for i, line in enumerate(lines)]
    scored = [(run, i) for run, i in scored if run[0] >= 1]
    if not scored:
        return None
    (_, _, end), index = max(scored, key=lambda item: (item[0][:2], -item[1]))
    return lines[index], end


def _ocr_document(question: str, obs: Observation, info: Info) -> str:
    if info["turn"] == 0:
        # Labels are legible as shown: find the asked-for one, then read its row at full
        # resolution. Unlabelled fine print (a footnote) has no label to find: the foot of
        # the page is read without reading the page as shown first.
        image = obs["images"][0]
        arguments = {}
        if "footnote" in question:  # footnotes are fine print at the foot of the page
            height, width = image.shape[:2]
            arguments = {"box": [0, round(0.8 * height), width, height]}
        elif (found := _best_label(get_engine().read(image), question)) is not None:
            box, width = found[0].box, image.shape[1]
            slack = 4 + round(0.03 * width)  # a photo may be turned by a few degrees
            arguments = {"box": [0, max(0, box.y0 - slack), width, box.y1 + slack]}
        call = ToolCall(name="ocr", arguments=arguments)
        return "Read the field at full resolution.\n" + format_tool_call(call)
    lines = parse_ocr_result(_last_result(info))
    found = _best_label(lines, question)
    if found is None:
        return format_answer("")
    label, end = found
    # The value follows the label in its own line, sits right of it, or stands below it.
    value = _until_next_field(label.text.split()[end:]) if len(label.text.split()) > end else ""
    if not value:
        beside = [
            line
            for line in lines
            if line is not label
            and line.box.x0 >= label.box.x1 - 2
            and _overlap(line.box, label.box, vertical=True) > 0.3
        ]
        below = [
            line
            for line in lines
            if line.box.y0 >= label.box.y1 - 2 and _overlap(line.box, label.box) > 0
        ]
        if beside:
            value = min(beside, key=lambda line: line.box.x0).text
        elif below:
            value = min(below, key=lambda line: line.box.y0).text
    return format_answer(_clean_value(value.rstrip("."), question))


def _until_next_field(words: list[str]) -> str:
    """The words of a value up to the next "Key value" pair ("Lisbon Ref KXA-2347" -> Lisbon)."""
    kept: list[str] = []
    for i, word in enumerate(words):
        starts_field = word[:1].isupper() and word.rstrip(".").isalpha() and i + 1 < len(words)
        if kept and (starts_field or kept[-1].endswith(".")):
            break
        kept.append(word)
    return " ".join(kept).rstrip(".")


def _clean_value(value: str, question: str) -> str:
    """Numbers lose units and currency when the question asks for an amount or a count."""
    if re.match(r"(?i)\A(how much|how many|since what year|what page number)", question) or (
        re.search(r"(?i)\b(total|subtotal|tax)\b", question)
    ):
        match = re.search(r"\d[\d,]*(?:\.\d+)?", value)
        if match:
            return match.group(0).replace(",", "")
    return value


def _overlap(a: Box, b: Box, vertical: bool = False) -> float:
    """Overlap of two boxes along one axis, over the smaller extent."""
    if vertical:
        inter = min(a.y1, b.y1) - max(a.y0, b.y0)
        return inter / max(1, min(a.height, b.height))
    inter = min(a.x1, b.x1) - max(a.x0, b.x0)
    return inter / max(1, min(a.width, b.width))


# --- charts ----------------------------------------------------------------------------------

_CHART_QUESTIONS = (
    ("value", r"What percentage of .+ is (?P<a>.+)\?"),
    ("value", r"What is the .+ value for (?P<a>.+)\?"),
    ("compare", r"Which .+ has the higher .+: (?P<a>.+) or (?P<b>.+)\?"),
    ("argmax", r"Which .+ has the highest .+\?"),
    ("argmin", r"Which .+ has the lowest .+\?"),
    ("difference", r"What is the difference in .+ between (?P<a>.+) and (?P<b>.+)\?"),
    ("sum", r"What is the total .+ over all .+\?"),
    ("mean", r"What is the average .+ over all .+\?"),
    ("count_above", r"How many .+ have .+ above (?P<t>.+)\?"),
    ("trend", r"From (?P<a>.+) to (?P<b>.+), did the .+ increase or decrease\?"),
    ("two_hop", r"For the .+ with the highest .+, what is the .+ value\?"),
)


def _chart(question: str, obs: Observation, info: Info) -> str:
    if info["turn"] == 0:
        height, width = obs["images"][0].shape[:2]
        factor = round(max(1.0, min(3.0, 1800 / max(width, height))), 2)
        call = ToolCall(name="zoom", arguments={"box": [0, 0, width, height], "factor": factor})
        return "The print is small; zoom into the whole chart.\n" + format_tool_call(call)
    shown, zoomed = obs["images"][0], obs["images"][-1]
    scale = zoomed.shape[1] / shown.shape[1]
    pairs = _label_values(get_engine().read(zoomed), scale)
    kind, match = next(
        ((kind, m) for kind, pattern in _CHART_QUESTIONS if (m := re.match(pattern, question))),
        ("", None),
    )
    return format_answer(_chart_answer(kind, match, pairs))


def _aligned(lines: list[OcrLine], axis: int, tolerance: float) -> list[list[OcrLine]]:
    """Groups of three or more lines sharing a centre x (``axis=0``) or centre y (``axis=1``)."""
    groups: list[list[OcrLine]] = []
    for line in sorted(lines, key=lambda line: _center(line.box)[axis]):
        if groups and _center(line.box)[axis] - _center(groups[-1][-1].box)[axis] <= tolerance:
            groups[-1].append(line)
        else:
            groups.append([line])
    return [group for group in groups if len(group) >= 3]


def _label_values(lines: list[OcrLine], scale: float) -> dict[str, float]:
    """Category labels paired with the value printed in their column (or row).

    Category labels are the words lined up along an axis; numbers lined up along the other
    axis are tick labels, not values. Each category takes the nearest value across its axis.
    """
    tolerance = 6 * scale
    words = [line for line in lines if parse_number(line.text) is None]
    numbers = [line for line in lines if parse_number(line.text) is not None]
    rows, columns = _aligned(words, 1, tolerance), _aligned(words, 0, tolerance)
    if not rows and not columns:  # a pie: labels sit around it, each nearest its own share
        return _nearest_pairs(words, numbers, 80 * scale)
    # Categories under a vertical chart share a row; beside a horizontal one, a column.
    along = 1 if max(map(len, rows), default=0) >= max(map(len, columns), default=0) else 0
    categories = max(rows if along == 1 else columns, key=len)
    ticks = {id(line) for group in _aligned(numbers, 1 - along, tolerance) for line in group}
    values = [line for line in numbers if id(line) not in ticks]
    pairs: dict[str, float] = {}
    for label in categories:
        across = _center(label.box)[1 - along]
        candidates = [
            (abs(_center(line.box)[1 - along] - across), line)
            for line in values
            if abs(_center(line.box)[1 - along] - across) < 30 * scale
        ]
        if candidates:
            value = parse_number(min(candidates, key=lambda c: c[0])[1].text)
            if value is not None:
                pairs.setdefault(normalize_text(label.text), value)
    return pairs


def _nearest_pairs(words: list[OcrLine], numbers: list[OcrLine], reach: float) -> dict[str, float]:
    """Each word paired with the nearest number within ``reach`` pixels."""
    pairs: dict[str, float] = {}
    for word in words:
        wx, wy = _center(word.box)
        near = [
            (((nx - wx) ** 2 + (ny - wy) ** 2) ** 0.5, line)
            for line in numbers
            for nx, ny in [_center(line.box)]
        ]
        near = [item for item in near if item[0] < reach]
        if near:
            value = parse_number(min(near, key=lambda item: item[0])[1].text)
            if value is not None:
                pairs.setdefault(normalize_text(word.text), value)
    return pairs


def _center(box: Box) -> tuple[float, float]:
    return (box.x0 + box.x1) / 2, (box.y0 + box.y1) / 2


def _chart_answer(kind: str, match: re.Match[str] | None, pairs: dict[str, float]) -> str:
    def value(name: str) -> float | None:
        return pairs.get(normalize_text(name))

    if match is None or not pairs:
        return "0"
    if kind == "value":
        found = value(match["a"])
        return "0" if found is None else f"{found:g}"
    if kind in ("compare", "difference", "trend"):
        a, b = value(match["a"]), value(match["b"])
        if a is None or b is None:
            return match["a"] if kind == "compare" else ("increase" if kind == "trend" else "0")
        if kind == "compare":
            return match["a"] if a >= b else match["b"]
        if kind == "trend":
            return "increase" if b > a else "decrease"
        return f"{abs(a - b):g}"
    values = list(pairs.values())
    if kind in ("argmax", "argmin"):
        pick = max if kind == "argmax" else min
        return pick(pairs, key=pairs.__getitem__)
    if kind == "sum":
        return f"{sum(values):g}"
    if kind == "mean":
        return f"{statistics.fmean(values):g}"
    if kind == "count_above":
        threshold = parse_number(match["t"])
        return str(sum(v > threshold for v in values)) if threshold is not None else "0"
    if kind == "two_hop":
        return f"{max(values):g}"
    return "0"


# --- image search ----------------------------------------------------------------------------

_ITEM_ID = re.compile(r"\b[A-Z]-\d{5}\b")


def _search(question: str, obs: Observation, info: Info) -> str:
    turn = info["turn"]
    if turn == 0:
        description = re.search(r"\"(.+?)\"", question)
        image = obs["images"][0]
        height, width = image.shape[:2]
        query: Any = [0, 0, width, height]
        if description:
            query = description.group(1)
        elif "framed photo" in question:
            query = _frame_box(image) or query
        call = ToolCall(name="search_images", arguments={"query": query, "k": 5})
        return "Find the item in the gallery first.\n" + format_tool_call(call)
    result = _last_result(info)
    if turn == 1:
        found = _ITEM_ID.search(result)
        if found is None:
            return format_answer("")
        call = ToolCall(name="open_item", arguments={"item_id": found.group(0)})
        return "Open the best match.\n" + format_tool_call(call)
    return format_answer(_metadata_answer(question, result))


_FRAME = np.array([252, 252, 250])


def _frame_box(image: np.ndarray) -> list[int] | None:
    """The box of a near-white photo frame: the rows and columns it fills for 80+ pixels."""
    mask = np.all(np.abs(image.astype(np.int16) - _FRAME) <= 4, axis=2)
    rows, columns = np.flatnonzero(mask.sum(1) >= 80), np.flatnonzero(mask.sum(0) >= 80)
    if not len(rows) or not len(columns) or mask.mean() > 0.5:  # no frame, or a white scene
        return None
    return [int(columns.min()), int(rows.min()), int(columns.max()) + 1, int(rows.max()) + 1]


def _metadata_answer(question: str, metadata: str) -> str:
    """The metadata field the question names, from ``open_item``'s ``key: value`` lines."""
    fields = {}
    for row in metadata.splitlines():
        key, _, value = row.partition(":")
        if value:
            fields[key.strip().lower()] = value.strip()
    wanted = set(_tokens(question))
    for key, value in fields.items():
        if set(_tokens(key)) & wanted:
            return value
    return next(iter(fields.values()), "") if fields else ""

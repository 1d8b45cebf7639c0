"""ReFocus / VTool-R1 chart and table splits: questions with the element boxes the tools use.

ReFocus (Fu et al., 2025) ships each split as one JSON file (``data/chartQA_h_bar_wbb.json``,
``data/chartQA_v_bar_wbb.json``, ``data/tablevqa_wbb.json``, ``data/table-vwtq_syn_wbb.json``,
``data/tablevqa-vtabfact_wbb.json``): an object from record id to record (a list of records,
or JSON Lines, reads too). A record::

    chart:  {"query": ..., "answer": ..., "figure_path": "data/ChartQA Dataset/test/png/x.png",
             "x_values": ["2019", ...], "x_bboxes": [{"x1": .1, "y1": .2, "x2": .3, "y2": .9}, ...],
             "y_values": [...], "y_bboxes": [...]}
    table:  {"query": ..., "answer": ..., "figure_path": ...,
             "column_headers": [...], "columns_bbox": [...],
             "row_starters": [...], "rows_bbox": [...]}

VTool-R1's conversion names the same boxes ``x_values_bbox`` / ``y_values_bbox`` (a mapping
from value to box, or a list in the values' order), the question ``question`` and the image
``image``; both forms read. Boxes are ``{"x1", "y1", "x2", "y2"}`` (or ``[x1, y1, x2, y2]``),
in fractions of the image size as ReFocus writes them, or in pixels when any coordinate
exceeds 1. Relative image paths start at the folder above the JSON file's (ReFocus's
repository root), else at its own folder, else at ``?images=``.

X values become the chart tools' ``x_value`` regions, y values ``y_value``, table columns
``column`` and rows ``row``: a task gets the focus tools of the kinds it records, with
``crop`` and ``zoom``. Scored with relaxed accuracy, as ReFocus's chart splits are.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from iapo_bench.core import AnswerType
from iapo_bench.envs.loaders.base import (
    FileSource,
    Record,
    Region,
    SourceError,
    answer_type_of,
    field,
    read_json,
    where,
)

__all__ = ["ReFocusSource"]

# (region kind, the values' field names, the boxes' field names), in the order read.
_AXES = (
    ("x_value", ("x_values",), ("x_bboxes", "x_values_bbox")),
    ("y_value", ("y_values",), ("y_bboxes", "y_values_bbox")),
    ("column", ("column_headers",), ("columns_bbox",)),
    ("row", ("row_starters",), ("rows_bbox",)),
)


def _box(value: Any, file: Path, key: str, name: str) -> tuple[float, float, float, float]:
    """A ReFocus box as ``(x0, y0, x1, y1)``; :class:`SourceError` naming the field."""
    if isinstance(value, Mapping) and all(k in value for k in ("x1", "y1", "x2", "y2")):
        coords = [value["x1"], value["y1"], value["x2"], value["y2"]]
    elif isinstance(value, Sequence) and not isinstance(value, str) and len(value) == 4:
        coords = list(value)
    else:
        raise SourceError(
            f"{where(file, key, name)}: a box must be {{'x1', 'y1', 'x2', 'y2'}} or "
            f"[x1, y1, x2, y2], got {value!r}"[:300]
        )
    if not all(isinstance(c, (int, float)) and not isinstance(c, bool) for c in coords):
        raise SourceError(f"{where(file, key, name)}: box coordinates must be numbers: {coords}")
    x0, y0, x1, y1 = (float(c) for c in coords)
    if x1 < x0 or y1 < y0:
        raise SourceError(f"{where(file, key, name)}: box {coords} has x2 < x1 or y2 < y1")
    return x0, y0, x1, y1


def _regions(row: Mapping[str, Any], file: Path, key: str) -> tuple[Region, ...]:
    regions: list[Region] = []
    for kind, value_names, box_names in _AXES:
        values = field(row, value_names, list, file, key, required=False) or []
        boxes = field(row, box_names, (list, dict), file, key, required=False)
        box_name = next((n for n in box_names if row.get(n) is not None), box_names[0])
        if boxes is None:
            if values:
                raise SourceError(f"{where(file, key, box_name)}: missing boxes for {values}")
            continue
        if isinstance(boxes, dict):  # VTool-R1: value -> box
            pairs = list(boxes.items())
        else:
            if len(boxes) != len(values):
                raise SourceError(
                    f"{where(file, key, box_name)}: {len(boxes)} boxes for {len(values)} "
                    f"{value_names[0]}"
                )
            pairs = list(zip(values, boxes, strict=True))
        for label, box in pairs:
            regions.append(Region(kind, str(label), _box(box, file, key, box_name)))
    return tuple(regions)


class ReFocusSource(FileSource):
    """One ReFocus (or VTool-R1) split file: chart or table questions with element boxes."""

    name = "refocus"
    family = "chart"
    default_rubric = "relaxed_accuracy:1,exact_match:0"
    base_tools = ("crop", "zoom")

    def read(self) -> tuple[list[Record], list[Path]]:
        """Read the split file's records and their boxes."""
        if not self.path.is_file():
            raise SourceError(
                f"{self.path}: give the split's JSON file, e.g. chartQA_v_bar_wbb.json"
            )
        file = self.path
        rows = read_json(file)
        if isinstance(rows, dict):
            items = [(str(k), v) for k, v in rows.items()]
        elif isinstance(rows, list):
            items = [
                (str(row.get("id", i)) if isinstance(row, Mapping) else str(i), row)
                for i, row in enumerate(rows)
            ]
        else:
            raise SourceError(f"{file}: must map record ids to records, got {type(rows).__name__}")
        records = []
        for key, row in items:
            question = field(row, ("query", "question"), str, file, key)
            answer_value = field(row, ("answer", "label"), (str, int, float, list), file, key)
            image = field(row, ("figure_path", "image", "image_path"), str, file, key)
            answers = (
                [str(a) for a in answer_value]
                if isinstance(answer_value, list)
                else [str(answer_value)]
            )
            if not answers or not answers[0].strip():
                raise SourceError(f"{where(file, key, 'answer')}: empty answer")
            regions = _regions(row, file, key)
            coords = [c for region in regions for c in region.box]
            is_table = any(r.kind in ("row", "column") for r in regions)
            origin = row.get("source") if isinstance(row.get("source"), str) else None
            if isinstance(answer_value, list) and len(answers) > 1:
                answer, answer_type = ", ".join(answers), AnswerType.LIST
            else:
                answer, answer_type = answers[0], answer_type_of(answers[0])
            records.append(
                Record(
                    key=key,
                    file=file,
                    image=self.image_path(image, file.parent.parent, file.parent),
                    question=question,
                    answer=answer,
                    answer_type=answer_type,
                    question_kind=f"refocus:{origin or ('table' if is_table else 'chart')}",
                    answers=(answer,) if answer_type is AnswerType.LIST else tuple(answers),
                    regions=regions,
                    normalized=bool(coords) and max(coords) <= 1.0,
                )
            )
        return records, [file]

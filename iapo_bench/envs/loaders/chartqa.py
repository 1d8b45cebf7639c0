"""ChartQA (Masry et al., 2022): a split folder of the public release.

Layout (``ChartQA Dataset/{train,val,test}/``)::

    test/test_human.json        [{"imgname": "41699051005347.png", "query": "...", "label": "..."}]
    test/test_augmented.json    the machine-generated questions, in the same form
    test/png/<imgname>          the chart images
    test/tables/<stem>.csv      the data tables (where present; kept as hidden task data)

``chartqa:/path/to/ChartQA Dataset/test`` reads both question files (``?subset=human`` or
``?subset=augmented`` one of them); a path to one JSON file reads that file. ChartQA has no
element boxes that name the axis values, so its tasks get ``crop`` and ``zoom`` only; the
ReFocus files of the same charts (:mod:`~iapo_bench.envs.loaders.refocus`) carry boxes and
add the focus tools. Scored with relaxed accuracy (5%), ChartQA's metric.
"""

from __future__ import annotations

import csv
from pathlib import Path
from typing import Any

from iapo_bench.core import AnswerType
from iapo_bench.envs.loaders.base import (
    FileSource,
    Record,
    SourceError,
    answer_type_of,
    field,
    read_json,
    where,
)

__all__ = ["ChartQASource"]

SUBSETS = ("human", "augmented")
"""ChartQA's two question sets: ChartQA-H (human-written) and ChartQA-M (generated)."""


def read_table(path: Path) -> dict[str, Any]:
    """A ChartQA data table as ``{"header": [...], "rows": [[...], ...]}`` (cells as text)."""
    try:
        with path.open(newline="", encoding="utf-8") as handle:
            rows = [row for row in csv.reader(handle) if row]
    except (OSError, UnicodeDecodeError, csv.Error) as error:
        raise SourceError(f"{path}: is not a readable CSV table: {error}") from None
    return {"header": rows[0] if rows else [], "rows": rows[1:]}


class ChartQASource(FileSource):
    """ChartQA's human and augmented questions of one split, with their data tables.

    Options: ``subset`` (``human``, ``augmented`` or ``all``, the default).
    """

    name = "chartqa"
    family = "chart"
    default_rubric = "relaxed_accuracy:1,exact_match:0"
    base_tools = ("crop", "zoom")
    options = ("subset",)

    def read(self, subset: str = "all") -> tuple[list[Record], list[Path]]:
        """Read the question files of the split (or the one file given)."""
        if subset not in (*SUBSETS, "all"):
            raise SourceError(f"subset must be human, augmented or all, got {subset!r}")
        if self.path.is_file():
            files = [self.path]
        else:
            chosen = SUBSETS if subset == "all" else (subset,)
            files = [f for name in chosen for f in sorted(self.path.glob(f"*_{name}.json"))]
            if not files:
                raise SourceError(
                    f"{self.path}: no ChartQA question files here (expected "
                    f"<split>_human.json and <split>_augmented.json beside png/ and tables/)"
                )
        records: list[Record] = []
        extra: list[Path] = list(files)
        for file in files:
            rows = read_json(file)
            if not isinstance(rows, list):
                raise SourceError(f"{file}: must be a list of questions, got {type(rows).__name__}")
            kind = next((name for name in SUBSETS if file.stem.endswith(name)), "questions")
            for index, row in enumerate(rows):
                key = str(index)
                name = field(row, "imgname", str, file, key)
                query = field(row, "query", str, file, key)
                label = field(row, "label", (str, int, float, list), file, key)
                labels = [str(v) for v in label] if isinstance(label, list) else [str(label)]
                if not labels or not labels[0].strip():
                    raise SourceError(f"{where(file, key, 'label')}: empty answer")
                table = file.parent / "tables" / f"{Path(name).stem}.csv"
                data: dict[str, Any] = {"imgname": name}
                if table.is_file():
                    data["table"] = read_table(table)
                    extra.append(table)
                answer = labels[0]
                records.append(
                    Record(
                        key=key,
                        file=file,
                        image=self.image_path(name, file.parent / "png"),
                        question=query,
                        answer=answer,
                        answer_type=answer_type_of(answer) if len(labels) == 1 else AnswerType.TEXT,
                        question_kind=f"chartqa:{kind}",
                        answers=tuple(labels),
                        data=data,
                    )
                )
        return records, extra

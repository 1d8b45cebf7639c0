"""CharXiv (Wang et al., 2024): descriptive and reasoning questions about charts from papers.

Layout (the ``princeton-nlp/CharXiv`` repository with its images unzipped)::

    data/descriptive_val.json   {"<figure_id>": {"figure_id": 0, "qids": [2, 6, 11, 13],
                                  "answers": [...], "subplot_loc": [1, 1], ...}, ...}
    data/reasoning_val.json     {"<figure_id>": {"figure_id": 0, "inst_category": 3,
                                  "query": "...", "answer": "...", ...}, ...}
    images/<figure_id>.jpg

``charxiv:/path/to/CharXiv/data/reasoning_val.json`` reads one file: each descriptive figure
gives one task per question (its template id ``qid`` picks the question, asked about the
subplot at ``subplot_loc``), each reasoning figure one task. The test files' answers are
withheld (``null``), so only the validation files can be scored. Images are looked for in
``images/`` beside ``data/`` (or ``?images=``). CharXiv has no element boxes: its tasks get
``crop`` and ``zoom``. CharXiv grades with GPT-4o; offline, the rubric is exact match
(numbers by value, text normalised), which is stricter on free-form answers.

The question texts are written here from the templates' meaning (title, axis labels and
ticks, tick spacing, line counts and crossings, legend, colour bar, trend, subplot layout).
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

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

__all__ = ["DESCRIPTIVE_QUESTIONS", "CharXivSource"]

_NA = " If there is none, answer 'Not Applicable'."
DESCRIPTIVE_QUESTIONS: dict[int, tuple[str, AnswerType]] = {
    1: ("what is its title?" + _NA, AnswerType.TEXT),
    2: (
        "what is the label of the x-axis (the bottom one if there are two)?" + _NA,
        AnswerType.TEXT,
    ),
    3: ("what is the label of the y-axis (the left one if there are two)?" + _NA, AnswerType.TEXT),
    4: ("what is the leftmost labelled tick on the x-axis?", AnswerType.TEXT),
    5: ("what is the rightmost labelled tick on the x-axis?", AnswerType.TEXT),
    6: ("what is the lowest labelled tick on the y-axis?", AnswerType.TEXT),
    7: ("what is the highest labelled tick on the y-axis?", AnswerType.TEXT),
    8: (
        "what is the difference between consecutive numerical ticks on the x-axis? If the "
        "ticks are not numbers or not evenly spaced, answer 'Not Applicable'.",
        AnswerType.NUMBER,
    ),
    9: (
        "what is the difference between consecutive numerical ticks on the y-axis? If the "
        "ticks are not numbers or not evenly spaced, answer 'Not Applicable'.",
        AnswerType.NUMBER,
    ),
    10: ("how many lines does it have (not counting grid lines)?" + _NA, AnswerType.NUMBER),
    11: ("do any of its lines intersect? Answer Yes or No." + _NA, AnswerType.TEXT),
    12: ("how many labels does its legend have?" + _NA, AnswerType.NUMBER),
    13: (
        "what are the labels of its legend, top to bottom then left to right, separated by "
        "commas?" + _NA,
        AnswerType.TEXT,
    ),
    14: (
        "what is the difference between the largest and smallest tick labels of its colour "
        "bar?" + _NA,
        AnswerType.NUMBER,
    ),
    15: ("what is the largest tick label of its colour bar?" + _NA, AnswerType.NUMBER),
    16: (
        "in a few words, what is the general trend of the data from left to right?",
        AnswerType.TEXT,
    ),
    17: ("how many labelled ticks are there across all its axes?", AnswerType.NUMBER),
    18: ("What is the layout of the subplots, as 'n by m' (rows by columns)?", AnswerType.TEXT),
    19: ("How many subplots does the figure have?", AnswerType.NUMBER),
}
"""Descriptive question templates by CharXiv's ``qid``; 1-17 ask about one subplot."""

_REASONING_KINDS = {1: "text-in-chart", 2: "text-in-general", 3: "number-in-chart",
                    4: "number-in-general"}  # fmt: skip


def _subplot(loc: object, file: Path, key: str) -> str:
    """How a question names its subplot, from CharXiv's ``subplot_loc``."""
    if isinstance(loc, list) and len(loc) == 2 and all(isinstance(v, int) for v in loc):
        if loc[0] == 0:
            return "For the plot, "
        return f"For the subplot at row {loc[0]} and column {loc[1]}, "
    if isinstance(loc, str) and loc.strip():
        return f"For {loc.strip()}, "
    raise SourceError(
        f"{where(file, key, 'subplot_loc')}: must be [row, column] or a name, got {loc!r}"
    )


class CharXivSource(FileSource):
    """One CharXiv question file (descriptive or reasoning), with its figures."""

    name = "charxiv"
    family = "chart"
    default_rubric = "exact_match:1,relaxed_accuracy:0"
    base_tools = ("crop", "zoom")

    def read(self) -> tuple[list[Record], list[Path]]:
        """Read the descriptive or reasoning questions of the file."""
        if not self.path.is_file():
            raise SourceError(
                f"{self.path}: give a question file, e.g. data/descriptive_val.json or "
                "data/reasoning_val.json"
            )
        file = self.path
        figures = read_json(file)
        if not isinstance(figures, Mapping):
            raise SourceError(
                f"{file}: must map figure ids to figures, got {type(figures).__name__}"
            )
        roots = (file.parent.parent / "images", file.parent / "images", file.parent)
        records: list[Record] = []
        for key, figure in figures.items():
            figure_id = field(figure, "figure_id", (int, str), file, key)
            image = self.image_path(f"{figure_id}.jpg", *roots)
            if isinstance(figure, Mapping) and "qids" in figure:
                records.extend(self._descriptive(figure, str(key), file, image))
            else:
                records.append(self._reasoning(figure, str(key), file, image))
        return records, [file]

    def _descriptive(
        self, figure: Mapping[str, object], key: str, file: Path, image: Path
    ) -> list[Record]:
        qids = field(figure, "qids", list, file, key)
        answers = figure.get("answers")
        if answers is None:
            raise SourceError(
                f"{where(file, key, 'answers')}: answers are withheld (CharXiv's test split); "
                "score on the validation files"
            )
        if not isinstance(answers, list) or len(answers) != len(qids):
            raise SourceError(f"{where(file, key, 'answers')}: must list one answer per qid")
        out = []
        for index, (qid, answer) in enumerate(zip(qids, answers, strict=True)):
            if qid not in DESCRIPTIVE_QUESTIONS:
                raise SourceError(f"{where(file, key, 'qids')}: unknown template id {qid!r}")
            text, answer_type = DESCRIPTIVE_QUESTIONS[qid]
            prefix = "" if qid in (18, 19) else _subplot(figure.get("subplot_loc"), file, key)
            reference = str(answer)
            out.append(
                Record(
                    key=f"{key}/{index}",
                    file=file,
                    image=image,
                    question=prefix + text,
                    answer=reference,
                    answer_type=answer_type,
                    question_kind=f"charxiv:descriptive:{qid}",
                    data={"figure_id": figure["figure_id"], "qid": qid},
                )
            )
        return out

    def _reasoning(self, figure: Mapping[str, object], key: str, file: Path, image: Path) -> Record:
        query = field(figure, "query", str, file, key)
        category = field(figure, "inst_category", int, file, key)
        if category not in _REASONING_KINDS:
            raise SourceError(f"{where(file, key, 'inst_category')}: must be 1-4, got {category}")
        answer = figure.get("answer")
        if answer is None:
            raise SourceError(
                f"{where(file, key, 'answer')}: the answer is withheld (CharXiv's test split); "
                "score on the validation files"
            )
        reference = str(answer)
        numeric = category in (3, 4)
        hint = " Answer with a number." if numeric else " Answer with a short phrase."
        return Record(
            key=key,
            file=file,
            image=image,
            question=query.strip() + hint,
            answer=reference,
            answer_type=answer_type_of(reference) if numeric else AnswerType.TEXT,
            question_kind=f"charxiv:reasoning:{_REASONING_KINDS[category]}",
            data={"figure_id": figure["figure_id"], "inst_category": category},
        )

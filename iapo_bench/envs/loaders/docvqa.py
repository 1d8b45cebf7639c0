"""DocVQA (Mathew et al., 2021): questions about scanned document pages, scored with ANLS.

Layout (the RRC download, one folder per split)::

    val/val_v1.0.json   {"dataset_name": "docvqa", "dataset_split": "val", "data": [
                          {"questionId": 49153, "question": "...", "docId": 14465,
                           "image": "documents/xnbl0037_1.png", "answers": ["0.28"],
                           "question_types": [...]}, ...]}
    val/documents/<page>.png

``docvqa:/path/to/val/val_v1.0.json`` (or the folder holding it) reads it; ``image`` paths
start at the JSON file's folder (or ``?images=``). The test file withholds answers, so only
train and val can be scored. A page is shown whole (about 1700x2200 pixels) and its tasks get
``ocr`` and ``zoom``. Scored with ANLS against every listed answer.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

from iapo_bench.core import AnswerType
from iapo_bench.envs.loaders.base import FileSource, Record, SourceError, field, read_json, where

__all__ = ["DocVQASource", "find_json"]


def find_json(folder: Path, what: str) -> Path:
    """The one ``*.json`` annotation file of a split folder; :class:`SourceError` otherwise."""
    found = sorted(p for p in folder.glob("*.json") if p.is_file())
    if len(found) != 1:
        listed = ", ".join(p.name for p in found) or "none"
        raise SourceError(
            f"{folder}: expected one {what} JSON file here, found {listed}; give its path"
        )
    return found[0]


def qa_rows(file: Path) -> list[object]:
    """The ``data`` list of a DocVQA- or TextVQA-style annotation file."""
    top = read_json(file)
    if not isinstance(top, Mapping) or not isinstance(top.get("data"), list):
        raise SourceError(f"{where(file, None, 'data')}: must be an object whose 'data' is a list")
    return top["data"]


class DocVQASource(FileSource):
    """One DocVQA split file with its page images."""

    name = "docvqa"
    family = "ocr"
    default_rubric = "anls:1,exact_match:0"
    base_tools = ("ocr", "zoom")

    def read(self) -> tuple[list[Record], list[Path]]:
        """Read the split's questions."""
        file = self.path if self.path.is_file() else find_json(self.path, "DocVQA")
        records = []
        for index, row in enumerate(qa_rows(file)):
            key = str(index)
            qid = field(row, "questionId", (int, str), file, key)
            key = f"{index} (questionId {qid})"
            question = field(row, "question", str, file, key)
            image = field(row, "image", str, file, key)
            answers = row.get("answers") if isinstance(row, Mapping) else None
            if answers is None:
                raise SourceError(
                    f"{where(file, key, 'answers')}: missing (DocVQA's test split withholds its "
                    "answers; score on train or val)"
                )
            if (
                not isinstance(answers, list)
                or not answers
                or not all(isinstance(a, str) for a in answers)
            ):
                raise SourceError(
                    f"{where(file, key, 'answers')}: must be a non-empty list of strings"
                )
            types = row.get("question_types") or []
            records.append(
                Record(
                    key=key,
                    file=file,
                    image=self.image_path(image, file.parent),
                    question=question,
                    answer=answers[0],
                    answer_type=AnswerType.TEXT,
                    question_kind="docvqa:" + ("/".join(map(str, types)) or "question"),
                    answers=tuple(answers),
                    data={"question_id": qid, "doc_id": row.get("docId")},
                )
            )
        return records, [file]

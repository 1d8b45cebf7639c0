"""TextVQA (Singh et al., 2019): questions about text in photographs, ten answers each.

Layout (the public v0.5.1 release)::

    TextVQA_0.5.1_val.json            {"dataset_type": "val", "data": [
                                        {"question_id": 34602, "question": "...",
                                         "image_id": "003a8ae2ef43b901", "answers": [10 x "..."],
                                         "image_width": 1024, "image_height": 664, ...}, ...]}
    train_val_images/train_images/<image_id>.jpg   (train and val share this folder)

``textvqa:/path/to/TextVQA_0.5.1_val.json`` reads it; images are looked for in
``train_images/`` and ``train_val_images/train_images/`` beside the file (or ``?images=``).
The test file withholds answers. A task's reference is the commonest of the ten answers
(all ten are kept) and it is scored with the ten-annotator VQA accuracy
(:func:`~iapo_bench.rewards.match.vqa_accuracy`). Tasks get ``ocr`` and ``zoom``.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping
from pathlib import Path

from iapo_bench.core import AnswerType
from iapo_bench.envs.loaders.base import FileSource, Record, SourceError, field, where
from iapo_bench.envs.loaders.docvqa import find_json, qa_rows

__all__ = ["TextVQASource"]


class TextVQASource(FileSource):
    """One TextVQA annotation file with its images."""

    name = "textvqa"
    family = "ocr"
    default_rubric = "vqa_accuracy:1,exact_match:0"
    base_tools = ("ocr", "zoom")

    def read(self) -> tuple[list[Record], list[Path]]:
        """Read the file's questions."""
        file = self.path if self.path.is_file() else find_json(self.path, "TextVQA")
        roots = (
            file.parent / "train_images",
            file.parent / "train_val_images" / "train_images",
            file.parent / "test_images",
            file.parent,
        )
        records = []
        for index, row in enumerate(qa_rows(file)):
            key = str(index)
            qid = field(row, "question_id", (int, str), file, key)
            key = f"{index} (question_id {qid})"
            question = field(row, "question", str, file, key)
            image_id = field(row, "image_id", str, file, key)
            answers = row.get("answers") if isinstance(row, Mapping) else None
            if answers is None:
                raise SourceError(
                    f"{where(file, key, 'answers')}: missing (TextVQA's test split withholds its "
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
            counts = Counter(answers)
            best = max(counts.values())
            reference = next(a for a in answers if counts[a] == best)  # ties: the first given
            records.append(
                Record(
                    key=key,
                    file=file,
                    image=self.image_path(f"{image_id}.jpg", *roots),
                    question=question,
                    answer=reference,
                    answer_type=AnswerType.TEXT,
                    question_kind="textvqa",
                    answers=tuple(answers),
                    data={"question_id": qid, "image_id": image_id},
                )
            )
        return records, [file]

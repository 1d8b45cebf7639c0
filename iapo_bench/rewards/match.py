"""Outcome rewards that compare the final answer with the reference.

- :func:`normalize_text` / :func:`parse_number` / :func:`parse_date`: the normalisation the
  rewards share (case, spaces, punctuation, articles; thousands separators, currency,
  percent and units; date formats).
- :func:`exact_match`: 1 when the normalised answer equals the reference (numbers by value,
  dates by day).
- :func:`relaxed_accuracy`: ChartQA's relaxed accuracy: numbers within 5% of the reference,
  anything else by exact match.
- :func:`anls`: DocVQA's average normalised Levenshtein similarity (threshold 0.5).
- :func:`multiple_choice`: the chosen option, by letter or by text.
- :func:`list_f1`: F1 of the answer's items against the reference's, as sets.
- :func:`vqa_accuracy`: the VQA / TextVQA accuracy against ten annotators' answers.

Each is a :data:`~iapo_bench.rewards.rubric.Reward`: ``(trajectory, task) -> float | None``,
built on a string-level twin (:func:`match_text`, :func:`anls_score`, ...) that the TRL
adapter uses too. An episode without an answer (truncated) scores 0.
"""

from __future__ import annotations

import datetime
import re
import unicodedata

from iapo_bench.core import AnswerType, Task, Trajectory

__all__ = [
    "anls",
    "anls_score",
    "choice_score",
    "exact_match",
    "list_f1",
    "list_f1_score",
    "match_text",
    "multiple_choice",
    "normalize_text",
    "parse_date",
    "parse_number",
    "relaxed_accuracy",
    "relaxed_score",
    "vqa_accuracy",
    "vqa_normalize",
    "vqa_score",
]

_NUMBER = re.compile(r"\A[-+]?(\d+(\.\d*)?|\.\d+)([eE][-+]?\d+)?\Z")
_CURRENCY = "$€£¥"
_UNITS = frozenset(
    ("g", "kg", "mg", "lb", "lbs", "oz", "t", "km", "m", "cm", "mm", "mi", "ft", "in", "ml",
     "l", "s", "ms", "min", "h", "hr", "hrs", "kwh", "w", "kw", "mph", "pt", "px", "usd",
     "eur", "gbp", "°c", "°f")
)  # fmt: skip
_UNIT = re.compile(r"\A(?P<number>.*?\d)(?P<space>\s*)(?P<unit>[^\d\s]+)\Z")


def normalize_text(text: str) -> str:
    """Case-folded, NFKC-normalised, without punctuation, articles and extra spaces.

    >>> normalize_text("  The  Peru. ")
    'peru'
    """
    text = unicodedata.normalize("NFKC", text).casefold().strip()
    text = re.sub(r"[\"'`“”‘’.,;:!?()\[\]{}]", " ", text)
    words = text.split()
    # Articles go, unless nothing else is left ("A" may be a choice label).
    content = [w for w in words if w not in {"the", "a", "an"}]
    return " ".join(content or words)


def parse_number(text: str) -> float | None:
    """The number in ``text``, forgiving separators, currency, percent and units ("450 g").

    Other trailing words ("3 apples") make it no number. A one-letter unit must stand apart
    from the number: "1990s" is a decade and "5m" may be five million, so neither is read as
    a number of seconds or metres ("5 m" and "12kg" are).

    >>> parse_number("$1,234.50"), parse_number("12%"), parse_number("450 g"), parse_number("Peru")
    (1234.5, 12.0, 450.0, None)
    >>> parse_number("1990s") is None, parse_number("12kg")
    (True, 12.0)
    """
    text = unicodedata.normalize("NFKC", text).strip().rstrip(".")
    unit = _UNIT.match(text)
    if unit and unit["unit"].casefold() in _UNITS and (unit["space"] or len(unit["unit"]) > 1):
        text = unit["number"]
    text = text.strip(_CURRENCY).rstrip("%").strip().replace(",", "").replace(" ", "")
    if not _NUMBER.match(text):
        return None
    value = float(text)
    return value if value == value and abs(value) != float("inf") else None


_MONTHS = {
    month: number
    for number, month in enumerate(
        ("jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec"), 1
    )
}
_ISO = re.compile(r"\A(\d{4})[-/.](\d{1,2})[-/.](\d{1,2})\Z")
_DMY = re.compile(r"\A(\d{1,2})[-/.](\d{1,2})[-/.](\d{4})\Z")
_TEXT_DATE = re.compile(
    r"\A([a-z]{3})[a-z]*\.? (\d{1,2}),? (\d{4})\Z|\A(\d{1,2}) ([a-z]{3})[a-z]*\.? (\d{4})\Z"
)


def parse_date(text: str) -> datetime.date | None:
    """The day written in ``text``: ISO, day/month/year (or with dots), or with a month name.

    Numeric dates are read day first, as the documents print them; "03/04/2024" is 3 April.

    >>> parse_date("2024-03-17"), parse_date("17.03.2024"), parse_date("Mar 17, 2024")
    (datetime.date(2024, 3, 17), datetime.date(2024, 3, 17), datetime.date(2024, 3, 17))
    """
    text = unicodedata.normalize("NFKC", text).strip().casefold()
    try:
        if match := _ISO.match(text):
            return datetime.date(int(match[1]), int(match[2]), int(match[3]))
        if match := _DMY.match(text):
            return datetime.date(int(match[3]), int(match[2]), int(match[1]))
        if match := _TEXT_DATE.match(text):
            month, day, year = (match[1], match[2], match[3]) if match[1] else (
                match[5], match[4], match[6])  # fmt: skip
            if month in _MONTHS:
                return datetime.date(int(year), _MONTHS[month], int(day))
    except ValueError:  # a 31st of February
        return None
    return None


def match_text(predicted: str, reference: str, answer_type: AnswerType | str = "text") -> float:
    """1.0 when ``predicted`` matches ``reference`` after normalisation, else 0.0.

    Numbers compare by value ("1,234.50" equals "1234.5"), dates by day ("17/03/2024" equals
    "2024-03-17"), everything else by normalised text.

    >>> match_text("1,234.50", "1234.5", "number"), match_text("The Peru.", "peru")
    (1.0, 1.0)
    """
    kind = AnswerType(answer_type)
    if kind is AnswerType.NUMBER:
        got, want = parse_number(predicted), parse_number(reference)
        if got is not None and want is not None:
            return float(got == want)
    if kind is AnswerType.DATE:
        got_day, want_day = parse_date(predicted), parse_date(reference)
        if got_day is not None and want_day is not None:
            return float(got_day == want_day)
    return float(normalize_text(predicted) == normalize_text(reference))


def _number_readings(text: str) -> tuple[float, ...]:
    """The values a written number may mean: a percentage is also read as a fraction."""
    value = parse_number(text)
    if value is None:
        return ()
    return (value, value / 100) if text.strip().rstrip(".").endswith("%") else (value,)


def _within(got: float, want: float, tolerance: float) -> bool:
    if want == 0:
        return got == 0
    return abs(got - want) / abs(want) <= tolerance


def relaxed_score(
    predicted: str, reference: str, answer_type: AnswerType | str = "text", tolerance: float = 0.05
) -> float:
    """ChartQA's relaxed accuracy of one answer: numbers within ``tolerance`` of the reference.

    It agrees with the public definition (pix2struct's ``relaxed_correctness``, which
    lmms-eval and VLMEvalKit copy) on every numeric pair it reads: a relative change of at
    most ``tolerance``, and a percentage read as a fraction ("12%" matches "0.12"). Where that
    definition is unsound, this one differs, deliberately:

    - A percentage is read both ways, so "12%" also matches "12" (pix2struct reads it only as
      0.12 and fails the pair, though a person would not).
    - A zero reference needs a zero by value ("0.0" matches "0"); pix2struct falls back to
      comparing strings there, failing "0.0".
    - Numbers may carry thousands separators, currency and units ("$1,049.99"); pix2struct
      calls ``float`` and compares such answers as strings, failing them.
    - Anything else compares by :func:`match_text` (case, punctuation, articles and spaces
      forgiven; dates by day), where pix2struct compares lower-cased strings exactly.

    >>> relaxed_score("104", "100"), relaxed_score("106", "100"), relaxed_score("12%", "0.12")
    (1.0, 0.0, 1.0)
    """
    got, want = _number_readings(predicted), _number_readings(reference)
    if got and want:
        return float(any(_within(g, w, tolerance) for g in got for w in want))
    return match_text(predicted, reference, answer_type)


def _levenshtein(a: str, b: str) -> int:
    previous = list(range(len(b) + 1))
    for i, char_a in enumerate(a, start=1):
        current = [i]
        for j, char_b in enumerate(b, start=1):
            current.append(
                min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + (char_a != char_b))
            )
        previous = current
    return previous[-1]


def anls_score(predicted: str, references: str | list[str], threshold: float = 0.5) -> float:
    """DocVQA's ANLS of one answer: 1 - normalised edit distance, 0 past ``threshold``.

    Compares lower-cased, whitespace-collapsed strings and takes the best reference.

    >>> anls_score("Lisbon", "Lisbon"), round(anls_score("Lisb0n", "Lisbon"), 3)
    (1.0, 0.833)
    >>> anls_score("Paris", "Lisbon")
    0.0
    """
    refs = [references] if isinstance(references, str) else list(references)
    got = " ".join(predicted.casefold().split())
    best = 0.0
    for reference in refs:
        want = " ".join(reference.casefold().split())
        if not got and not want:
            return 1.0
        distance = _levenshtein(got, want) / max(len(got), len(want))
        best = max(best, 0.0 if distance >= threshold else 1.0 - distance)
    return best


_LETTER = re.compile(r"\A\(?([A-Za-z])[).:]?(?:\s|\Z)")


def choice_score(predicted: str, reference: str, options: list[str] | None = None) -> float:
    """1.0 when ``predicted`` picks the reference option: by its text, or by its letter.

    With ``options`` ("A" is the first), "B", "(B)" and "B. Peru" all pick the second one.

    >>> choice_score("(B) Peru", "Peru", ["Chile", "Peru"]), choice_score("Chile", "Peru")
    (1.0, 0.0)
    """
    if match_text(predicted, reference):
        return 1.0
    letter = _LETTER.match(predicted.strip())
    if options and letter:
        index = ord(letter[1].upper()) - ord("A")
        if 0 <= index < len(options):
            return match_text(options[index], reference)
    return 0.0


def _items(text: str) -> set[str]:
    parts = re.split(r"\s*(?:,|;|\band\b|\n)\s*", text)
    return {normalize_text(p) for p in parts if normalize_text(p)}


def list_f1_score(predicted: str, reference: str) -> float:
    """F1 of the items of ``predicted`` against those of ``reference``, as sets.

    Items are separated by commas, semicolons, "and" or new lines, and normalised.

    >>> list_f1_score("Oslo, Riga", "Riga, Oslo and Turin")
    0.8
    """
    got, want = _items(predicted), _items(reference)
    if not got or not want:
        return float(got == want)
    common = len(got & want)
    if not common:
        return 0.0
    precision, recall = common / len(got), common / len(want)
    return 2 * precision * recall / (precision + recall)


def _prediction(trajectory: Trajectory) -> str | None:
    answer = trajectory.answer
    return None if answer is None else answer.text


def exact_match(trajectory: Trajectory, task: Task) -> float:
    """1.0 when the answer matches the reference after normalisation, else 0.0.

    Number answers compare by value ("1,234.50" equals "1234.5"), dates by day, others by
    normalised text (:func:`match_text`).
    """
    predicted = _prediction(trajectory)
    return 0.0 if predicted is None else match_text(predicted, task.answer, task.answer_type)


def relaxed_accuracy(trajectory: Trajectory, task: Task, tolerance: float = 0.05) -> float:
    """ChartQA's relaxed accuracy: a number within ``tolerance`` (relative) of the reference.

    Non-numeric answers fall back to :func:`exact_match`, as in ChartQA's definition; where
    this differs from pix2struct's reference code, and why, :func:`relaxed_score` says.
    """
    predicted = _prediction(trajectory)
    if predicted is None:
        return 0.0
    return relaxed_score(predicted, task.answer, task.answer_type, tolerance)


def anls(trajectory: Trajectory, task: Task) -> float:
    """ANLS against the reference and any alternatives in ``task.data["answers"]``."""
    predicted = _prediction(trajectory)
    if predicted is None:
        return 0.0
    return anls_score(predicted, [task.answer, *task.data.get("answers", ())])


def multiple_choice(trajectory: Trajectory, task: Task) -> float | None:
    """The chosen option against the reference; abstains on tasks that are not a choice.

    Options, when the task lists them, are in ``task.data["options"]``.
    """
    if task.answer_type is not AnswerType.CHOICE:
        return None
    predicted = _prediction(trajectory)
    if predicted is None:
        return 0.0
    return choice_score(predicted, task.answer, task.data.get("options"))


def list_f1(trajectory: Trajectory, task: Task) -> float:
    """F1 of the answer's items against the reference's (:func:`list_f1_score`)."""
    predicted = _prediction(trajectory)
    return 0.0 if predicted is None else list_f1_score(predicted, task.answer)


# VQA's answer normalisation (the VQA and TextVQA evaluation's rules, written out here):
# punctuation, periods, number words, articles and apostrophe-less contractions.
_VQA_PUNCTUATION = ';/[]"{}()=+\\_-><@`,?!'
_VQA_DIGIT_COMMA = re.compile(r"(\d)(,)(\d)")
_VQA_PERIOD = re.compile(r"\.(?!\d)")
_VQA_NUMBERS = {
    "none": "0", "zero": "0", "one": "1", "two": "2", "three": "3", "four": "4", "five": "5",
    "six": "6", "seven": "7", "eight": "8", "nine": "9", "ten": "10",
}  # fmt: skip
_VQA_ARTICLES = frozenset(("a", "an", "the"))
_VQA_CONTRACTIONS = {
    word.replace("'", ""): word
    for word in (
        "ain't", "aren't", "can't", "couldn't", "couldn't've", "didn't", "doesn't", "don't",
        "hadn't", "hasn't", "haven't", "he'd", "he'll", "he's", "how'd", "how'll", "how's",
        "i'd", "i'll", "i'm", "i've", "isn't", "it'd", "it'll", "it's", "let's", "ma'am",
        "mightn't", "might've", "mustn't", "must've", "needn't", "o'clock", "shan't", "she'd",
        "she'll", "she's", "should've", "shouldn't", "that's", "there's", "there'd",
        "there're", "they'd", "they'll", "they're", "they've", "wasn't", "we'd", "we'll",
        "we're", "we've", "weren't", "what'll", "what're", "what's", "what've", "when's",
        "where'd", "where's", "where've", "who'd", "who'll", "who's", "who've", "why's",
        "won't", "would've", "wouldn't", "y'all", "you'd", "you'll", "you're", "you've",
    )
}  # fmt: skip


def vqa_normalize(text: str) -> str:
    """An answer as the VQA evaluation compares it.

    Lower-cased; a punctuation mark is dropped when it touches a space (or the text holds a
    comma between digits) and becomes a space otherwise; a period not followed by a digit is
    dropped; number words become digits, articles go, and contractions written without their
    apostrophe get it back.

    >>> vqa_normalize("Two dogs."), vqa_normalize("dont stop"), vqa_normalize("1,000")
    ('2 dogs', "don't stop", '1000')
    """
    text = text.replace("\n", " ").replace("\t", " ").strip().lower()
    drop = _VQA_DIGIT_COMMA.search(text) is not None
    for mark in _VQA_PUNCTUATION:
        if drop or f"{mark} " in text or f" {mark}" in text:
            text = text.replace(mark, "")
        else:
            text = text.replace(mark, " ")
    text = _VQA_PERIOD.sub("", text)
    words = []
    for word in text.split():
        word = _VQA_NUMBERS.get(word, word)
        if word not in _VQA_ARTICLES:
            words.append(_VQA_CONTRACTIONS.get(word, word))
    return " ".join(words)


def vqa_score(predicted: str, answers: list[str] | tuple[str, ...]) -> float:
    """VQA accuracy of one answer against the annotators' ``answers`` (TextVQA gives ten).

    An answer is fully right when at least three annotators gave it: for each annotator, the
    answer scores ``min(1, matches among the other annotators / 3)``, and the score is the
    mean over annotators (VQA's average over every set of nine). With one reference answer,
    it is a match of the normalised strings (:func:`vqa_normalize`).

    >>> vqa_score("two", ["2"] * 3 + ["3"] * 7), vqa_score("3", ["2"] * 3 + ["3"] * 7)
    (0.9, 1.0)
    >>> vqa_score("Coca Cola", ["coca-cola"]), vqa_score("Pepsi", ["coca-cola"])
    (1.0, 0.0)
    """
    if not answers:
        raise ValueError("VQA accuracy needs at least one reference answer")
    got = vqa_normalize(predicted)
    references = [vqa_normalize(answer) for answer in answers]
    if len(references) == 1:
        return float(got == references[0])
    matches = sum(reference == got for reference in references)
    # Leaving out annotator i removes one match exactly when i gave the answer.
    scores = [min(1.0, (matches - (reference == got)) / 3) for reference in references]
    return sum(scores) / len(scores)


def vqa_accuracy(trajectory: Trajectory, task: Task) -> float:
    """VQA accuracy against the annotators' answers in ``task.data["answers"]`` (TextVQA).

    A task without them is scored against its one reference (:func:`vqa_score`).
    """
    predicted = _prediction(trajectory)
    if predicted is None:
        return 0.0
    return vqa_score(predicted, list(task.data.get("answers") or [task.answer]))

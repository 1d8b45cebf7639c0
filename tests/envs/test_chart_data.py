"""Tests of chart data tables and questions (iapo_bench/envs/chart/data.py), without drawing.

The reference answer is recomputed here from the table alone, with integer and Fraction
arithmetic, independently of :func:`answer_question`.
"""

from __future__ import annotations

import math
from collections import Counter
from fractions import Fraction
from typing import Any

import numpy as np
import pytest

from iapo_bench.envs.chart import ChartFamily
from iapo_bench.envs.chart.data import (
    KINDS,
    QUESTION_KINDS,
    answer_question,
    draw_question,
    draw_table,
    format_number,
    plain_number,
    question_kinds_for,
    question_text,
)

FAMILY = ChartFamily()
DIFFICULTIES = (0, 1, 2, 3)
SEEDS_PER_CASE = 100
"""Tables drawn per (kind, difficulty); drawing a table (no rendering) is cheap."""


def _seeds(kind: str) -> list[int]:
    """Train seeds whose chart kind is ``kind`` (``KINDS[seed % 9]``)."""
    index = KINDS.index(kind)
    return [index + len(KINDS) * i for i in range(SEEDS_PER_CASE)]


def _draw(seed: int, difficulty: int) -> dict[str, Any]:
    """The data table and question of a task, drawn exactly as ChartFamily._generate does."""
    rng = np.random.default_rng([seed, difficulty, 0xC4A27])
    table = draw_table(rng, KINDS[seed % len(KINDS)], difficulty)
    table |= draw_question(rng, table)
    return table


TABLES: list[tuple[int, int, dict[str, Any]]] = [
    (seed, difficulty, _draw(seed, difficulty))
    for kind in KINDS
    for difficulty in DIFFICULTIES
    for seed in _seeds(kind)
]


def _label(seed: int, difficulty: int, table: dict[str, Any]) -> str:
    return f"chart/v0/train/d{difficulty}/{seed} ({table['kind']})"


# --- An independent reference answer ----------------------------------------------------


def _fixed(units: int, decimals: int) -> str:
    """``units * 10**-decimals`` (units >= 0) with exactly ``decimals`` decimals."""
    assert units >= 0
    whole, fraction = divmod(units, 10**decimals)
    return f"{whole}.{fraction:0{decimals}d}" if decimals else str(whole)


def _mean_answers(total: int, count: int, decimals: int) -> set[str]:
    """The mean ``total / count`` (in ``10**-decimals`` units) to ``decimals + 1`` places.

    Round to nearest; an exact tie (a mean ending in 5 one place further) may go either way.
    """
    tenths = Fraction(10 * total, count)  # the mean in units of 10**-(decimals + 1)
    low = math.floor(tenths)
    if tenths - low == Fraction(1, 2):
        return {_fixed(low, decimals + 1), _fixed(low + 1, decimals + 1)}
    return {_fixed(math.floor(tenths + Fraction(1, 2)), decimals + 1)}


def _expected_answers(table: dict[str, Any]) -> set[str]:
    """Every acceptable reference answer (one, unless values tie or a mean is a tie)."""
    categories: list[str] = table["categories"]
    series: list[str] = table["series"]
    decimals: int = table["decimals"]
    kind: str = table["question_kind"]
    args: dict[str, Any] = table["question_args"]
    column = table["raw_values"][series.index(args["series"])]
    value_of = dict(zip(categories, column, strict=True))
    if kind == "value":
        return {_fixed(value_of[args["category"]], decimals)}
    if kind == "compare":
        a, b = args["categories"]
        return {a if value_of[a] > value_of[b] else b}
    if kind == "argmax":
        return {c for c in categories if value_of[c] == max(column)}
    if kind == "argmin":
        return {c for c in categories if value_of[c] == min(column)}
    if kind == "difference":
        a, b = args["categories"]
        return {_fixed(abs(value_of[a] - value_of[b]), decimals)}
    if kind == "sum":
        return {_fixed(sum(column), decimals)}
    if kind == "mean":
        return _mean_answers(sum(column), len(column), decimals)
    if kind == "count_above":
        return {str(len([v for v in column if v > args["threshold"]]))}
    if kind == "trend":
        a, b = args["categories"]
        return {"increase" if value_of[b] > value_of[a] else "decrease"}
    if kind == "two_hop":
        keys = table["raw_values"][series.index(args["key_series"])]
        best = [c for c, v in zip(categories, keys, strict=True) if v == max(keys)]
        return {_fixed(value_of[c], decimals) for c in best}
    raise AssertionError(f"unexpected question kind {kind!r}")


def test_fixed_helper() -> None:
    assert _fixed(1234, 1) == "123.4"
    assert _fixed(5, 2) == "0.05"
    assert _fixed(40, 1) == "4.0"
    assert _fixed(40, 0) == "40"
    assert _fixed(0, 2) == "0.00"


def test_mean_helper() -> None:
    assert _mean_answers(10, 3, 0) == {"3.3"}  # 3.333...
    assert _mean_answers(20, 3, 0) == {"6.7"}  # 6.666...
    assert _mean_answers(1, 4, 1) == {"0.02", "0.03"}  # 0.025: a tie
    assert _mean_answers(1234, 5, 2) == {"2.468"}


def test_every_kind_and_question_kind_occurs_in_the_sample() -> None:
    assert {t["kind"] for _, _, t in TABLES} == set(KINDS)
    assert {t["question_kind"] for _, _, t in TABLES} == set(QUESTION_KINDS)
    for kind in KINDS:
        tables = [t for _, _, t in TABLES if t["kind"] == kind]
        asked = {t["question_kind"] for t in tables}
        fitting = set().union(*(question_kinds_for(t) for t in tables))
        assert asked == fitting, (kind, fitting - asked)
    assert {t["decimals"] for _, _, t in TABLES} == {0, 1, 2}


def test_reference_answer_recomputed_from_the_table() -> None:
    counts: Counter[str] = Counter()
    for seed, difficulty, table in TABLES:
        expected = _expected_answers(table)
        answer = answer_question(table)
        assert answer in expected, (_label(seed, difficulty, table), answer, expected)
        counts[table["question_kind"]] += 1
    assert set(counts) == set(QUESTION_KINDS)
    assert min(counts.values()) >= 20, counts


def test_task_answer_and_data_come_from_the_table() -> None:
    """Generated tasks carry the drawn table (plus a style) and its answer."""
    seen = set()
    for kind in KINDS:
        for difficulty in DIFFICULTIES:
            for seed in _seeds(kind)[:2]:
                task = FAMILY.generate("train", difficulty, seed)
                table = _draw(seed, difficulty)
                data = dict(task.data)
                assert set(data) == {*table, "style"}, task.id
                assert {k: data[k] for k in table} == table, task.id
                assert task.answer in _expected_answers(data), (task.id, task.answer)
                assert task.question == question_text(table), task.id
                assert task.question_kind == table["question_kind"], task.id
                seen.add(task.question_kind)
    assert len(seen) >= 8


# --- The tables -----------------------------------------------------------------------------


def test_table_shape_and_types() -> None:
    for seed, difficulty, table in TABLES:
        label = _label(seed, difficulty, table)
        categories, series, raw = table["categories"], table["series"], table["raw_values"]
        assert table["kind"] == KINDS[seed % len(KINDS)], label
        assert 3 <= len(categories) <= 12, label
        assert len(raw) == len(series) >= 1, label
        assert all(len(row) == len(categories) for row in raw), label
        assert all(type(v) is int and v > 0 for row in raw for v in row), label
        assert table["decimals"] in (0, 1, 2), label
        assert len(set(categories)) == len(categories), label
        assert len(set(series)) == len(series), label
        if table["kind"] in ("vbar", "hbar", "pie"):
            assert len(series) == 1, label
        elif table["kind"] == "line":
            assert 2 <= len(series) <= 3 and len(categories) >= 4, label
        else:
            assert 2 <= len(series) <= 5, label


def test_more_categories_at_higher_difficulty() -> None:
    means = []
    for difficulty in DIFFICULTIES:
        counts = [len(t["categories"]) for _, d, t in TABLES if d == difficulty]
        means.append(sum(counts) / len(counts))
    assert means == sorted(means) and means[0] < means[-1], means


def test_values_within_a_series_are_distinct() -> None:
    """So argmax, argmin, compare and trend have one right answer."""
    repeated = []
    for seed, difficulty, table in TABLES:
        for name, row in zip(table["series"], table["raw_values"], strict=True):
            if len(set(row)) != len(row):
                repeated.append((_label(seed, difficulty, table), name, row))
    assert not repeated, f"{len(repeated)} series repeat a value, e.g. {repeated[:5]}"


def test_pie_percentages_sum_to_exactly_one_hundred() -> None:
    pies = [(s, d, t) for s, d, t in TABLES if t["kind"] == "pie"]
    assert len(pies) == len(DIFFICULTIES) * SEEDS_PER_CASE
    for seed, difficulty, table in pies:
        (raw,) = table["raw_values"]
        assert sum(raw) == 100 * 10 ** table["decimals"], _label(seed, difficulty, table)
        assert (table["suffix"], table["prefix"]) == ("%", ""), _label(seed, difficulty, table)


def test_series_and_category_names_are_disjoint() -> None:
    for seed, difficulty, table in TABLES:
        overlap = set(table["categories"]) & set(table["series"])
        assert not overlap, (_label(seed, difficulty, table), overlap)


def test_stacked_values_are_never_percentages() -> None:
    """Stacked totals would pass 100%."""
    for seed, difficulty, table in TABLES:
        if table["kind"].startswith("stacked"):
            assert table["suffix"] == "", _label(seed, difficulty, table)


# --- Questions ------------------------------------------------------------------------------


def _bare(kind: str, series: int) -> dict[str, Any]:
    return {"kind": kind, "series": [f"S{i}" for i in range(series)]}


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("series", [1, 2, 4])
def test_question_kinds_for(kind: str, series: int) -> None:
    kinds = question_kinds_for(_bare(kind, series))
    assert len(set(kinds)) == len(kinds)
    assert set(kinds) <= set(QUESTION_KINDS)
    assert {"value", "compare", "argmax", "argmin", "difference"} <= set(kinds)
    assert ("trend" in kinds) == (kind == "line")
    assert ("two_hop" in kinds) == (series >= 2)
    aggregates = {"sum", "mean", "count_above"}
    if kind == "pie":
        assert not aggregates & set(kinds)
    else:
        assert aggregates <= set(kinds)


def test_drawn_questions_fit_their_table() -> None:
    for seed, difficulty, table in TABLES:
        label = _label(seed, difficulty, table)
        kind, args = table["question_kind"], table["question_args"]
        categories, series = table["categories"], table["series"]
        assert kind in question_kinds_for(table), label
        assert args["series"] in series, label
        if kind == "value":
            assert set(args) == {"series", "category"}, label
            assert args["category"] in categories, label
        elif kind in ("compare", "difference", "trend"):
            assert set(args) == {"series", "categories"}, label
            a, b = args["categories"]
            assert categories.index(a) < categories.index(b), label  # in chart order
        elif kind == "count_above":
            assert set(args) == {"series", "threshold"}, label
            column = table["raw_values"][series.index(args["series"])]
            above = len([v for v in column if v > args["threshold"]])
            assert 1 <= above <= len(column) - 1, (label, args, column)  # never trivial
        elif kind == "two_hop":
            assert set(args) == {"series", "key_series"}, label
            assert args["key_series"] in series and args["key_series"] != args["series"], label
        else:
            assert set(args) == {"series"}, label


def test_question_text_mentions_its_arguments() -> None:
    for seed, difficulty, table in TABLES:
        label = _label(seed, difficulty, table)
        text = question_text(table)
        kind, args = table["question_kind"], table["question_args"]
        assert text.endswith("?"), label
        assert args["series"].lower() in text.lower(), (label, text)
        if kind == "value":
            assert args["category"] in text, (label, text)
        if kind in ("compare", "difference", "trend"):
            a, b = args["categories"]
            assert a in text and b in text, (label, text)
            assert text.index(a) < text.index(b), (label, text)
        if kind == "count_above":
            assert format_number(args["threshold"], table) in text, (label, text)
        if kind == "two_hop":
            assert args["key_series"].lower() in text.lower(), (label, text)
        if kind in ("argmax", "argmin", "compare", "two_hop"):
            assert table["noun"] in text, (label, text)
        if kind in ("sum", "mean", "count_above"):
            assert table["plural"] in text, (label, text)


def test_answers_of_a_hand_made_table() -> None:
    table = {
        "kind": "grouped_vbar",
        "noun": "city",
        "plural": "cities",
        "metric": "Visitors",
        "categories": ["Lyon", "Osaka", "Quito"],
        "series": ["2021", "2022"],
        "raw_values": [[105, 302, 201], [52, 71, 94]],
        "decimals": 1,
        "prefix": "",
        "suffix": "",
        "thousands": False,
    }
    cases = [
        ("value", {"series": "2021", "category": "Osaka"}, "30.2"),
        ("compare", {"series": "2022", "categories": ["Lyon", "Quito"]}, "Quito"),
        ("argmax", {"series": "2022"}, "Quito"),
        ("argmin", {"series": "2021"}, "Lyon"),
        ("difference", {"series": "2021", "categories": ["Lyon", "Quito"]}, "9.6"),
        ("sum", {"series": "2021"}, "60.8"),
        ("mean", {"series": "2022"}, "7.23"),  # 21.7 / 3 = 7.2333...
        ("count_above", {"series": "2021", "threshold": 201}, "1"),  # strictly above
        ("count_above", {"series": "2021", "threshold": 200}, "2"),
        ("trend", {"series": "2022", "categories": ["Osaka", "Quito"]}, "increase"),
        ("trend", {"series": "2021", "categories": ["Osaka", "Quito"]}, "decrease"),
        ("two_hop", {"series": "2022", "key_series": "2021"}, "7.1"),  # Osaka leads 2021
    ]
    for kind, args, expected in cases:
        table |= {"question_kind": kind, "question_args": args}
        assert answer_question(table) == expected, (kind, args)
        assert _expected_answers(table) == {expected}, (kind, args)
        text = question_text(table)
        assert args["series"] in text, (kind, text)


# --- Number formats -------------------------------------------------------------------------


def _style(decimals: int, prefix: str = "", suffix: str = "", thousands: bool = False) -> dict:
    return {"decimals": decimals, "prefix": prefix, "suffix": suffix, "thousands": thousands}


@pytest.mark.parametrize(
    "raw, style, expected",
    [
        (123456, _style(1, "$", thousands=True), "$12,345.6"),
        (123456, _style(1, "$"), "$12345.6"),
        (5, _style(0, "€"), "€5"),
        (42, _style(0, suffix="%"), "42%"),
        (425, _style(1, suffix="%"), "42.5%"),
        (123456, _style(2), "1234.56"),
        (123456, _style(2, thousands=True), "1,234.56"),
        (7, _style(2), "0.07"),
        (70, _style(2), "0.70"),
        (1234567, _style(0, "€", thousands=True), "€1,234,567"),
        (999, _style(0, thousands=True), "999"),
        (0, _style(1), "0.0"),
    ],
)
def test_format_number(raw: int, style: dict, expected: str) -> None:
    assert format_number(raw, style) == expected


@pytest.mark.parametrize(
    "value, decimals, expected",
    [
        (1234.5, 2, "1234.50"),
        (1234567.0, 0, "1234567"),
        (3, 0, "3"),
        (0.05, 2, "0.05"),
        (12.34, 1, "12.3"),
        (2.468, 3, "2.468"),
    ],
)
def test_plain_number(value: float, decimals: int, expected: str) -> None:
    assert plain_number(value, decimals) == expected


def test_formatted_values_round_trip() -> None:
    """Every drawn value reads back, without its units, as the raw value."""
    for seed, difficulty, table in TABLES[::7]:
        decimals = table["decimals"]
        for row in table["raw_values"]:
            for raw in row:
                text = format_number(raw, table)
                assert text.startswith(table["prefix"]) and text.endswith(table["suffix"])
                number = text[len(table["prefix"]) : len(text) - len(table["suffix"])]
                if not table["thousands"]:
                    assert "," not in number, _label(seed, difficulty, table)
                assert number.replace(",", "") == _fixed(raw, decimals)

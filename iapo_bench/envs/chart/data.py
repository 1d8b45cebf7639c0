"""Chart data tables, number formats and questions, independent of how they are drawn.

A table has ``categories`` (x values, y values, pie slices or table rows) and ``series``
(legend entries or table columns); ``raw_values[s][c]`` is an integer count of
``10**-decimals`` units, so every answer is exact arithmetic on the table.

- :func:`draw_table`: a seeded table for a chart kind and difficulty.
- :func:`draw_question`: a seeded question of a kind that fits the chart.
- :func:`answer_question`: the reference answer, recomputed from the table alone.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

__all__ = [
    "KINDS",
    "QUESTION_KINDS",
    "answer_question",
    "draw_question",
    "draw_table",
    "format_number",
    "plain_number",
    "question_kinds_for",
    "question_text",
]

KINDS = (
    "vbar",
    "hbar",
    "grouped_vbar",
    "grouped_hbar",
    "stacked_vbar",
    "stacked_hbar",
    "line",
    "pie",
    "table",
)
"""Chart kinds; a task's kind is ``KINDS[seed % len(KINDS)]``."""

QUESTION_KINDS = (
    "value",
    "compare",
    "argmax",
    "argmin",
    "difference",
    "sum",
    "mean",
    "count_above",
    "trend",
    "two_hop",
)
"""Question templates."""

# (noun, plural, metric, categories); categories are disjoint from every series name.
_THEMES: tuple[tuple[str, str, str, tuple[str, ...]], ...] = (
    (
        "country",
        "countries",
        "Exports",
        (
            "Peru",
            "Chile",
            "Kenya",
            "Norway",
            "Japan",
            "Brazil",
            "Egypt",
            "Canada",
            "India",
            "Spain",
            "Ghana",
            "Poland",
            "Mexico",
            "Vietnam",
            "Morocco",
            "Finland",
        ),
    ),
    (
        "fruit",
        "fruits",
        "Harvest",
        (
            "Apple",
            "Mango",
            "Cherry",
            "Banana",
            "Grape",
            "Lemon",
            "Papaya",
            "Plum",
            "Kiwi",
            "Guava",
            "Melon",
            "Peach",
            "Lime",
            "Fig",
            "Apricot",
            "Quince",
        ),
    ),
    (
        "city",
        "cities",
        "Visitors",
        (
            "Lyon",
            "Osaka",
            "Quito",
            "Dakar",
            "Perth",
            "Turin",
            "Hanoi",
            "Tunis",
            "Porto",
            "Cork",
            "Kyiv",
            "Lagos",
            "Leeds",
            "Split",
            "Bergen",
            "Cusco",
        ),
    ),
    (
        "product",
        "products",
        "Sales",
        (
            "Widget",
            "Gadget",
            "Sprocket",
            "Gizmo",
            "Bracket",
            "Flange",
            "Gasket",
            "Hinge",
            "Nozzle",
            "Pulley",
            "Rivet",
            "Valve",
            "Spindle",
            "Bushing",
            "Ratchet",
            "Clamp",
        ),
    ),
    (
        "team",
        "teams",
        "Points",
        (
            "Falcons",
            "Otters",
            "Comets",
            "Badgers",
            "Lynx",
            "Ravens",
            "Herons",
            "Vipers",
            "Wolves",
            "Bison",
            "Pumas",
            "Sharks",
            "Eagles",
            "Moose",
            "Hornets",
            "Stags",
        ),
    ),
    (
        "region",
        "regions",
        "Revenue",
        (
            "North",
            "South",
            "East",
            "West",
            "Central",
            "Coastal",
            "Alpine",
            "Delta",
            "Prairie",
            "Highland",
            "Lowland",
            "Islands",
            "Metro",
            "Valley",
            "Frontier",
            "Lakes",
        ),
    ),
)
_LONG_NAMES = (
    "Northern Territories",
    "Southern Provinces",
    "Eastern Seaboard",
    "Western Plateau",
    "Central Lowlands",
    "Coastal Wetlands",
    "Alpine Foothills",
    "River Delta Area",
    "Great Prairie Belt",
    "Upper Highlands",
    "Lower Valley Zone",
    "Outer Islands",
    "Greater Metro Area",
    "Lake District",
    "Frontier Counties",
    "Inner Basin",
)
_SERIES = (
    ("2021", "2022", "2023", "2024"),
    ("Q1", "Q2", "Q3", "Q4"),
    ("Online", "Retail", "Wholesale", "Export"),
    ("Men", "Women", "Youth", "Seniors"),
)
_TABLE_COLUMNS = ("Revenue", "Profit", "Staff", "Stores", "Budget", "Growth", "Score", "Units")
_MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")
_YEARS = tuple(str(y) for y in range(2009, 2025))

# Per difficulty: categories (min, max), series (min, max), smallest gap between sorted
# values as a share of the top of the range.
_SHAPE = {
    0: ((3, 5), (2, 2), 0.10),
    1: ((5, 7), (2, 3), 0.06),
    2: ((6, 9), (2, 3), 0.04),
    3: ((8, 12), (3, 4), 0.02),
}


def format_number(raw: int, table: dict[str, Any]) -> str:
    """A value as drawn: currency prefix, thousands separators, decimals, percent suffix.

    >>> format_number(123456, {"decimals": 1, "prefix": "$", "suffix": "", "thousands": True})
    '$12,345.6'
    """
    decimals = table["decimals"]
    separator = "," if table["thousands"] else ""
    return f"{table['prefix']}{raw / 10**decimals:{separator}.{decimals}f}{table['suffix']}"


def plain_number(value: float, decimals: int) -> str:
    """A number as a reference answer: no units, no separators.

    >>> plain_number(1234.5, 2)
    '1234.50'
    """
    return f"{value:.{decimals}f}"


def _spaced_values(
    rng: np.random.Generator, n: int, low: float, top: float, gap: float
) -> list[int]:
    """``n`` distinct integers in ``[low, top]``, sorted neighbours at least ``gap`` apart.

    The gap is rounded up to a whole unit first, so rounding can never make two equal.
    """
    low_int, gap_int = math.ceil(low), max(1, math.ceil(gap))
    slack = max(0, math.floor(top) - low_int - (n - 1) * gap_int)
    weights = rng.random(n + 1)
    extras = np.floor(slack * weights / weights.sum()).astype(np.int64)
    ordered = low_int + int(extras[0]) + np.concatenate([[0], np.cumsum(gap_int + extras[1:n])])
    return [int(ordered[i]) for i in rng.permutation(n)]


def _shares(rng: np.random.Generator, n: int, total: int, gap: float) -> list[int]:
    """``n`` distinct positive integers summing to ``total`` (pie slices in final units)."""
    values = _spaced_values(rng, n, max(1, total / (8 * n)), total / n, gap)
    # Spaced values are each at most total / n; hand out the rest in proportion, which keeps
    # them strictly ordered, and the last few units to the largest.
    remainder = total - sum(values)
    current = sum(values)
    values = [v + remainder * v // current for v in values]
    values[int(np.argmax(values))] += total - sum(values)
    return values


def draw_table(rng: np.random.Generator, kind: str, difficulty: int) -> dict[str, Any]:
    """A seeded data table (JSON-like dict) for ``kind`` at ``difficulty``."""
    (cat_low, cat_high), (ser_low, ser_high), gap_share = _SHAPE[difficulty]
    noun, plural, metric, vocabulary = _THEMES[int(rng.integers(len(_THEMES)))]
    n = int(rng.integers(cat_low, cat_high + 1))
    if kind == "line":
        n = max(n, 4)
        timeline = _MONTHS if rng.random() < 0.5 else _YEARS
        first = int(rng.integers(0, len(timeline) - n + 1))
        categories = list(timeline[first : first + n])
        noun, plural = ("month", "months") if timeline is _MONTHS else ("year", "years")
    else:
        if difficulty == 3 and kind in ("vbar", "grouped_vbar", "stacked_vbar", "hbar"):
            vocabulary = _LONG_NAMES  # long labels: a distractor
            noun, plural = "area", "areas"
        if kind == "grouped_vbar":
            n = min(n, 8)  # grouped columns stay wide enough for their value labels
        categories = [str(c) for c in rng.choice(vocabulary, size=n, replace=False)]
    if kind in ("vbar", "hbar", "pie"):
        series = [metric]
    elif kind == "table":
        k = int(rng.integers(ser_low + 1, ser_high + 2))
        series = [str(s) for s in rng.choice(_TABLE_COLUMNS, size=k, replace=False)]
    else:
        k = int(rng.integers(ser_low, ser_high + 1))
        if kind == "line":
            k = min(k, 3)
        if kind == "grouped_vbar":
            k = min(k, 2 if difficulty >= 2 else 3)
        # Lines run over months or years, so their series are never named by time.
        choices = _SERIES[2:] if kind == "line" else _SERIES
        names = choices[int(rng.integers(len(choices)))]
        series = list(names[:k])
    decimals = int(rng.choice([0, 0, 1, 2] if difficulty >= 2 else [0, 1]))
    if kind == "grouped_vbar":
        decimals = min(decimals, 1)  # short labels fit side by side over narrow bars
    prefix, suffix, thousands = "", "", False
    style = int(rng.integers(4))
    if style == 1:
        prefix = str(rng.choice(["$", "€"]))
    elif style == 2 and kind in ("vbar", "hbar", "grouped_vbar", "grouped_hbar", "line", "table"):
        suffix = "%"  # not on stacks: their totals would pass 100%
    scale = 10**decimals
    if kind == "pie":
        decimals = int(rng.integers(0, 2))
        scale = 10**decimals
        raw_values = [_shares(rng, n, 100 * scale, gap_share * 100 * scale / n + 1)]
        suffix, prefix = "%", ""
    else:
        if suffix == "%":
            top = 100
        else:
            top = int(rng.choice([40, 90, 250, 800, 2500, 9000, 40000]))
            thousands = top >= 2500 and rng.random() < 0.7 and kind != "grouped_vbar"
        raw_values = []
        for _ in series:
            # At least 10 units: one-character labels are too easy to miss, even for OCR.
            low = max(10.0, top * (0.3 if kind.startswith("stacked") else 0.05))
            values = _spaced_values(rng, n, low * scale, top * scale, gap_share * top * scale)
            raw_values.append(values)
    return {
        "kind": kind,
        "noun": noun,
        "plural": plural,
        "metric": metric,
        "title": (
            f"{noun.capitalize()} figures"
            if kind == "table"
            else f"{metric} by {noun}"
            if len(series) == 1
            else f"{metric} by {noun} and group"
        ),
        "categories": categories,
        "series": series,
        "raw_values": raw_values,
        "decimals": decimals,
        "prefix": prefix,
        "suffix": suffix,
        "thousands": bool(thousands),
    }


def question_kinds_for(table: dict[str, Any]) -> tuple[str, ...]:
    """The question templates that fit a table's chart kind."""
    kind = table["kind"]
    base = ["value", "compare", "argmax", "argmin", "difference"]
    if kind != "pie":
        base += ["sum", "mean", "count_above"]
    if kind == "line":
        base.append("trend")
    if len(table["series"]) > 1:
        base.append("two_hop")
    return tuple(base)


def draw_question(rng: np.random.Generator, table: dict[str, Any]) -> dict[str, Any]:
    """A seeded question (kind and arguments) over ``table``."""
    kinds = question_kinds_for(table)
    kind = kinds[int(rng.integers(len(kinds)))]
    categories, series = table["categories"], table["series"]
    s = int(rng.integers(len(series)))
    args: dict[str, Any] = {"series": series[s]}
    if kind == "value":
        args["category"] = categories[int(rng.integers(len(categories)))]
    elif kind in ("compare", "difference", "trend"):
        i, j = sorted(int(v) for v in rng.choice(len(categories), size=2, replace=False))
        args["categories"] = [categories[i], categories[j]]
    elif kind == "count_above":
        ordered = sorted(table["raw_values"][s])
        k = int(rng.integers(1, len(ordered)))
        args["threshold"] = (ordered[k - 1] + ordered[k]) // 2
    elif kind == "two_hop":
        key = int(rng.choice([i for i in range(len(series)) if i != s]))
        args["key_series"] = series[key]
    return {"question_kind": kind, "question_args": args}


def _column(table: dict[str, Any], series: str) -> dict[str, int]:
    values = table["raw_values"][table["series"].index(series)]
    return dict(zip(table["categories"], values, strict=True))


def answer_question(table: dict[str, Any]) -> str:
    """The reference answer, computed from the table (tests recompute it independently)."""
    kind, args = table["question_kind"], table["question_args"]
    column = _column(table, args["series"])
    decimals = table["decimals"]
    scale = 10**decimals
    if kind == "value":
        return plain_number(column[args["category"]] / scale, decimals)
    if kind == "compare":
        return max(args["categories"], key=column.__getitem__)
    if kind == "argmax":
        return max(column, key=column.__getitem__)
    if kind == "argmin":
        return min(column, key=column.__getitem__)
    if kind == "difference":
        a, b = args["categories"]
        return plain_number(abs(column[a] - column[b]) / scale, decimals)
    if kind == "sum":
        return plain_number(sum(column.values()) / scale, decimals)
    if kind == "mean":
        return plain_number(sum(column.values()) / len(column) / scale, decimals + 1)
    if kind == "count_above":
        return str(sum(v > args["threshold"] for v in column.values()))
    if kind == "trend":
        a, b = args["categories"]
        return "increase" if column[b] > column[a] else "decrease"
    if kind == "two_hop":
        key_column = _column(table, args["key_series"])
        best = max(key_column, key=key_column.__getitem__)
        return plain_number(column[best] / scale, decimals)
    raise ValueError(f"unknown question kind {kind!r}")


def _measure(table: dict[str, Any], series: str) -> str:
    """How a question names a series: 'exports', 'Q2 visitors', 'profit'."""
    if table["kind"] == "table":
        return series.lower()
    if len(table["series"]) == 1:
        return table["metric"].lower()
    return f"{series} {table['metric'].lower()}"


def question_text(table: dict[str, Any]) -> str:
    """The question as shown to the agent."""
    kind, args = table["question_kind"], table["question_args"]
    noun, plural = table["noun"], table["plural"]
    measure = _measure(table, args["series"])
    if table["kind"] == "pie":
        measure = f"share of {measure}"
    if kind == "value":
        if table["kind"] == "pie":
            return f"What percentage of {table['metric'].lower()} is {args['category']}?"
        return f"What is the {measure} value for {args['category']}?"
    if kind == "compare":
        a, b = args["categories"]
        return f"Which {noun} has the higher {measure}: {a} or {b}?"
    if kind == "argmax":
        return f"Which {noun} has the highest {measure}?"
    if kind == "argmin":
        return f"Which {noun} has the lowest {measure}?"
    if kind == "difference":
        a, b = args["categories"]
        return f"What is the difference in {measure} between {a} and {b}?"
    if kind == "sum":
        return f"What is the total {measure} over all {plural}?"
    if kind == "mean":
        return f"What is the average {measure} over all {plural}?"
    if kind == "count_above":
        threshold = format_number(args["threshold"], table)
        return f"How many {plural} have {measure} above {threshold}?"
    if kind == "trend":
        a, b = args["categories"]
        return f"From {a} to {b}, did the {measure} increase or decrease?"
    key = _measure(table, args["key_series"])
    return f"For the {noun} with the highest {key}, what is the {measure} value?"

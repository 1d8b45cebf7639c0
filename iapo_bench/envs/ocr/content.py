"""Words and values the OCR documents are written with: names, places, dates, ids, prices.

Everything is drawn from a generator passed in, so a task's key fixes its text. Ids use an
alphabet without look-alike glyphs (no 0/O, 1/I/L, 5/S, 8/B), so a correct reading is never
ambiguous at any size.
"""

from __future__ import annotations

import datetime

import numpy as np

__all__ = [
    "CITIES",
    "FIRST_NAMES",
    "ITEMS",
    "LAST_NAMES",
    "MONTHS",
    "STORES",
    "WORDS",
    "choose",
    "draw_date",
    "draw_id",
    "draw_money",
    "filler",
]

STORES = (
    "Harbor Market", "Maple Grocer", "Northside Foods", "Blue Fern Deli", "Copper Kettle",
    "Sunrise Bakery", "Granite Hardware", "Willow Books", "Orchard Pantry", "Redwood Outfitters",
    "Lantern Cafe", "Silver Spoon", "Meadow Pharmacy", "Pine & Co", "Riverside Supply",
    "Golden Crust", "Atlas Stationery", "Cedar Garden", "Quarry Tools", "Tidewater Fish",
)  # fmt: skip
ITEMS = (
    "Apples", "Bananas", "Bread", "Butter", "Cheese", "Coffee", "Eggs", "Flour", "Honey",
    "Lemons", "Milk", "Oats", "Olive Oil", "Onions", "Pasta", "Pears", "Rice", "Salmon",
    "Soap", "Sugar", "Tea", "Tomatoes", "Yogurt", "Walnuts", "Batteries", "Candles", "Paper",
    "Pencils", "Tape", "Gloves", "Nails", "Glue", "Brush", "Sponge", "Towels",
)  # fmt: skip
FIRST_NAMES = (
    "Alice", "Bruno", "Carmen", "Dmitri", "Elena", "Farid", "Grace", "Hugo", "Ingrid", "Jonas",
    "Keiko", "Luca", "Marta", "Nadia", "Oscar", "Priya", "Quentin", "Rosa", "Tomas", "Umar",
    "Vera", "Walter", "Yara", "Zoltan",
)  # fmt: skip
LAST_NAMES = (
    "Andersen", "Baptiste", "Costa", "Dubois", "Eriksen", "Fischer", "Garcia", "Hartmann",
    "Ivanova", "Jansen", "Kowalski", "Laurent", "Moreau", "Novak", "Okafor", "Petrov",
    "Quinn", "Romero", "Schmidt", "Tanaka", "Varga", "Weber", "Young", "Zhang",
)  # fmt: skip
CITIES = (
    "Lisbon", "Porto", "Madrid", "Lyon", "Geneva", "Munich", "Vienna", "Prague", "Krakow",
    "Dublin", "Bristol", "Oslo", "Bergen", "Tallinn", "Riga", "Turin", "Naples", "Seville",
    "Utrecht", "Ghent", "Zagreb", "Athens", "Valencia", "Hamburg",
)  # fmt: skip
WORDS = (
    "account", "agreement", "applies", "balance", "below", "charges", "claim", "conditions",
    "customer", "delivery", "details", "document", "each", "except", "further", "goods",
    "included", "items", "liability", "notice", "order", "payment", "period", "please",
    "price", "products", "receipt", "refund", "request", "return", "service", "shall",
    "statement", "subject", "terms", "total", "unless", "valid", "within", "written",
)  # fmt: skip
MONTHS = (
    "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
)  # fmt: skip

_ID_LETTERS = "ACDEFGHJKMNPQRTUVWXY"
_ID_DIGITS = "234679"


def choose(rng: np.random.Generator, options: tuple[str, ...] | list[str]) -> str:
    """One of ``options``, uniformly."""
    return options[int(rng.integers(len(options)))]


def draw_id(rng: np.random.Generator, pattern: str) -> str:
    """An id shaped by ``pattern``: ``A`` a letter, ``9`` a digit, anything else kept.

    >>> draw_id(np.random.default_rng(0), "AA-9999")
    'WQ-6332'
    """
    out = []
    for char in pattern:
        if char == "A":
            out.append(choose(rng, _ID_LETTERS))
        elif char == "9":
            out.append(choose(rng, _ID_DIGITS))
        else:
            out.append(char)
    return "".join(out)


_DATE_FORMATS = ("iso", "dmy", "mdy_text", "dot")


def draw_date(rng: np.random.Generator, fmt: str | None = None) -> str:
    """A date between 2019 and 2026 in one of four printed formats (drawn unless given).

    >>> draw_date(np.random.default_rng(1), "iso")
    '2022-10-13'
    """
    day = datetime.date(2019, 1, 1) + datetime.timedelta(days=int(rng.integers(0, 8 * 365)))
    fmt = fmt or choose(rng, _DATE_FORMATS)
    if fmt == "iso":
        return day.isoformat()
    if fmt == "dmy":
        return f"{day.day:02d}/{day.month:02d}/{day.year}"
    if fmt == "dot":
        return f"{day.day:02d}.{day.month:02d}.{day.year}"
    return f"{MONTHS[day.month - 1]} {day.day}, {day.year}"


def draw_money(rng: np.random.Generator, low: float, high: float) -> float:
    """An amount in ``[low, high)`` with cents."""
    return round(float(rng.uniform(low, high)), 2)


def filler(rng: np.random.Generator, words: int) -> str:
    """A run of ``words`` plain words: body text that holds no answer."""
    return " ".join(choose(rng, WORDS) for _ in range(words))

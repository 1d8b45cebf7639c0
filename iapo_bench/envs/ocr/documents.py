"""The six document kinds of ToolUse-OCR-v0: receipts, invoices, forms, signs, labels, pages.

Each builder lays out one document on a :class:`~iapo_bench.envs.ocr.sheet.Sheet` and returns
its :class:`Field` s: the details a question may ask for. A field has a legible *label*
(headings and labels are drawn at ``style.label`` pixels) and a *value* in fine print
(``style.value`` pixels, too small to read as shown), so the image says where to look and
only a tool says what is there. Values of one kind repeat (subtotal, tax and total; issue
and due dates), so reading any number is not enough: the label picks the field.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable

import numpy as np

from iapo_bench.core import AnswerType
from iapo_bench.envs.ocr.content import (
    CITIES,
    FIRST_NAMES,
    ITEMS,
    LAST_NAMES,
    STORES,
    choose,
    draw_date,
    draw_id,
    draw_money,
    filler,
)
from iapo_bench.envs.ocr.sheet import RGB, Sheet

__all__ = ["BUILDERS", "KINDS", "Document", "Field", "Style"]


@dataclasses.dataclass(frozen=True)
class Style:
    """How a document looks: paper, ink, faces and the two text sizes (shown pixels)."""

    paper: RGB
    ink: RGB
    accent: RGB
    face: str
    value_face: str
    label: float
    value: float


@dataclasses.dataclass(frozen=True)
class Field:
    """A detail a question may ask for: where it is anchored, what it says, the reference."""

    key: str
    """Element key of its label and value."""
    label: str
    """The printed text that names it ("Total", "Date of birth")."""
    value: str
    """The text printed as its value."""
    answer: str
    """The reference answer (a number without its unit or currency sign)."""
    answer_type: AnswerType
    question: str


@dataclasses.dataclass(frozen=True)
class Document:
    """A laid-out document: its sheet, its height in shown pixels and its fields."""

    sheet: Sheet
    height: int
    fields: tuple[Field, ...]


def _pair(sheet: Sheet, style: Style, x0: float, x1: float, y: float, field: Field) -> None:
    """A label at the left and its value right-aligned on the same baseline."""
    sheet.text(x0, y, field.label, style.label, style.face, style.ink, kind="label", key=field.key)
    sheet.text(
        x1, y, field.value, style.value, style.value_face, style.ink, "rs", "value", field.key
    )


def _fit(sheet: Sheet, rng: np.random.Generator, width: float, style: Style) -> str:
    """A line of filler words in fine print no wider than ``width``."""
    words = filler(rng, 40).split()
    line = words[0]
    for word in words[1:]:
        if sheet.width_of(f"{line} {word}", style.value, style.value_face) > width:
            break
        line = f"{line} {word}"
    return line


def _money(value: float, sign: str) -> str:
    return f"{sign}{value:,.2f}"


def receipt(rng: np.random.Generator, style: Style) -> Document:
    """A till receipt: store, number, date, cashier, items, subtotal, tax, total."""
    width = int(rng.integers(240, 300))
    sheet, x0, x1 = Sheet(width, style.paper), 16.0, width - 16.0
    sign = choose(rng, ("$", "€", "£"))
    store = choose(rng, STORES)
    y = 34.0
    sheet.text(width / 2, y, store, style.label * 1.6, "sans-bold", style.ink, "ms", "heading")
    y += style.value * 2.2
    street = f"{int(rng.integers(2, 300))} {choose(rng, LAST_NAMES)} Street, {choose(rng, CITIES)}"
    sheet.text(width / 2, y, street, style.value, style.value_face, style.ink, "ms")
    number = draw_id(rng, "AA-9999")
    date = draw_date(rng)
    cashier = choose(rng, FIRST_NAMES)
    fields = [
        Field("number", "Receipt No.", number, number, AnswerType.ID,
              "What is the receipt number?"),
        Field("date", "Date", date, date, AnswerType.DATE,
              "What date is printed on the receipt?"),
        Field("cashier", "Cashier", cashier, cashier, AnswerType.TEXT,
              "What is the name of the cashier on the receipt?"),
    ]  # fmt: skip
    y += style.label * 2.2
    for field in fields:
        _pair(sheet, style, x0, x1, y, field)
        y += style.label * 1.5
    sheet.rule(x0, x1, y - style.label * 0.6, style.ink, dashed=True)
    y += style.label * 0.6
    names = rng.choice(len(ITEMS), size=int(rng.integers(3, 8)), replace=False)
    subtotal = 0.0
    for index in names:
        name = ITEMS[int(index)]
        price = draw_money(rng, 0.5, 40)
        subtotal += price
        key = f"item:{name}"
        item = Field(key, name, _money(price, sign), f"{price:.2f}", AnswerType.NUMBER,
                     f"How much does the receipt charge for {name}?")  # fmt: skip
        sheet.text(x0, y, name, style.value, style.value_face, style.ink, kind="label", key=key)
        sheet.text(x1, y, item.value, style.value, style.value_face, style.ink, "rs", "value", key)
        fields.append(item)
        y += style.value * 1.9
    subtotal = round(subtotal, 2)
    tax = round(subtotal * float(rng.choice([0.05, 0.07, 0.1, 0.2])), 2)
    total = round(subtotal + tax, 2)
    sheet.rule(x0, x1, y - style.value, style.ink, dashed=True)
    y += style.label * 0.8
    for key, label, amount in (("subtotal", "Subtotal", subtotal), ("tax", "Tax", tax)):
        field = Field(key, label, _money(amount, sign), f"{amount:.2f}", AnswerType.NUMBER,
                      f"What is the {label.lower()} on the receipt?")  # fmt: skip
        _pair(sheet, style, x0, x1, y, field)
        fields.append(field)
        y += style.label * 1.5
    field = Field("total", "TOTAL", _money(total, sign), f"{total:.2f}", AnswerType.NUMBER,
                  "What is the total on the receipt?")  # fmt: skip
    _pair(sheet, style, x0, x1, y, field)
    fields.append(field)
    y += style.label * 2
    sheet.text(width / 2, y, "Thank you for shopping with us", style.value, style.value_face,
               style.ink, "ms")  # fmt: skip
    return Document(sheet, int(y + 20), tuple(fields))


def invoice(rng: np.random.Generator, style: Style) -> Document:
    """An invoice: sender, number, issue and due dates, customer, line items, total due."""
    width = int(rng.integers(380, 440))
    sheet, x0, x1 = Sheet(width, style.paper), 20.0, width - 20.0
    sheet.rect((0, 0, width, 8), fill=style.accent)
    y = 40.0
    sheet.text(x0, y, choose(rng, STORES), style.label * 1.5, "sans-bold", style.accent,
               kind="heading")  # fmt: skip
    sheet.text(x1, y, "INVOICE", style.label * 1.8, "sans-bold", style.ink, "rs", "heading")
    y += style.label * 2.5
    customer = f"{choose(rng, FIRST_NAMES)} {choose(rng, LAST_NAMES)}"
    issued, due = draw_date(rng, "iso"), draw_date(rng, "iso")
    number = draw_id(rng, "INV-99999")
    fields = [
        Field("number", "Invoice No.", number, number, AnswerType.ID,
              "What is the invoice number?"),
        Field("date", "Issue date", issued, issued, AnswerType.DATE,
              "What is the issue date of the invoice?"),
        Field("due", "Due date", due, due, AnswerType.DATE,
              "What is the due date of the invoice?"),
        Field("customer", "Bill to", customer, customer, AnswerType.TEXT,
              "Who is the invoice billed to?"),
    ]  # fmt: skip
    column = x0 + (x1 - x0) * 0.55
    for field in fields:
        _pair(sheet, style, x0, column, y, field)
        y += style.label * 1.6
    y += style.label
    sheet.rect((x0, y - style.label * 1.2, x1, y + style.label * 0.4), fill=style.accent)
    for x, anchor, title in ((x0 + 4, "ls", "Description"), (x1 - 70, "rs", "Qty"),
                             (x1 - 4, "rs", "Amount")):  # fmt: skip
        sheet.text(x, y, title, style.label, "sans-bold", style.paper, anchor, "heading")
    y += style.label * 1.8
    sign = choose(rng, ("$", "€", "£"))
    total = 0.0
    for index in rng.choice(len(ITEMS), size=int(rng.integers(2, 6)), replace=False):
        quantity = int(rng.integers(1, 12))
        amount = draw_money(rng, 5, 900)
        total += amount
        sheet.text(x0 + 4, y, ITEMS[int(index)], style.value, style.value_face, style.ink)
        sheet.text(x1 - 70, y, str(quantity), style.value, style.value_face, style.ink, "rs")
        sheet.text(x1 - 4, y, _money(amount, sign), style.value, style.value_face, style.ink, "rs")
        y += style.value * 2
    sheet.rule(x0, x1, y - style.value, style.ink)
    y += style.label * 1.2
    total = round(total, 2)
    field = Field("total", "Total due", _money(total, sign), f"{total:.2f}", AnswerType.NUMBER,
                  "What is the total due on the invoice?")  # fmt: skip
    _pair(sheet, style, x0 + (x1 - x0) * 0.45, x1, y, field)
    fields.append(field)
    y += style.label * 2
    sheet.text(x0, y, "Payment " + filler(rng, 8), style.value, style.value_face, style.ink)
    return Document(sheet, int(y + 18), tuple(fields))


def form(rng: np.random.Generator, style: Style) -> Document:
    """A filled-in form: printed labels, values written in ink on the lines beside them."""
    width = int(rng.integers(380, 440))
    sheet, x0, x1 = Sheet(width, style.paper), 22.0, width - 22.0
    title = choose(rng, ("Registration Form", "Application Form", "Membership Form"))
    y = 38.0
    sheet.text(width / 2, y, title, style.label * 1.6, "sans-bold", style.ink, "ms", "heading")
    y += style.label * 2.8
    name = f"{choose(rng, FIRST_NAMES)} {choose(rng, LAST_NAMES)}"
    born = draw_date(rng, "dmy")
    member = draw_id(rng, "AA999999")
    city = choose(rng, CITIES)
    signed = draw_date(rng, "dmy")
    fields = (
        Field("name", "Full name", name, name, AnswerType.TEXT,
              "What full name is filled in on the form?"),
        Field("born", "Date of birth", born, born, AnswerType.DATE,
              "What date of birth is filled in on the form?"),
        Field("member", "Member ID", member, member, AnswerType.ID,
              "What member ID is filled in on the form?"),
        Field("city", "City", city, city, AnswerType.TEXT,
              "What city is filled in on the form?"),
        Field("signed", "Date signed", signed, signed, AnswerType.DATE,
              "On what date was the form signed?"),
    )  # fmt: skip
    column = x0 + 120
    ink = (30, 50, 150) if rng.random() < 0.7 else style.ink  # pen ink, usually blue
    for field in fields:
        sheet.text(x0, y, field.label, style.label, style.face, style.ink, kind="label",
                   key=field.key)  # fmt: skip
        sheet.rule(column, x1, y + 2, style.ink)
        sheet.text(column + 6, y - 1, field.value, style.value, style.value_face, ink,
                   kind="value", key=field.key)  # fmt: skip
        y += style.label * 2.6
    sheet.rect((x0, y, x1, y + 4 * style.value * 1.8 + 8), outline=style.ink)
    for _ in range(4):
        y += style.value * 1.8
        sheet.text(x0 + 6, y, filler(rng, 9), style.value, style.value_face, style.ink)
    return Document(sheet, int(y + 24), fields)


def sign(rng: np.random.Generator, style: Style) -> Document:
    """A shop front in a street scene: the shop's sign, and a plaque by the door."""
    width, height = int(rng.integers(420, 500)), int(rng.integers(330, 380))
    sky = tuple(int(v) for v in rng.integers(150, 230, size=3))
    wall = tuple(int(v) for v in rng.integers(90, 200, size=3))
    sheet = Sheet(width, sky)  # type: ignore[arg-type]
    sheet.rect((0, 60, width, height), fill=wall)  # type: ignore[arg-type]
    for x in range(10, width, 70):  # upstairs windows
        sheet.rect((x, 70, x + 40, 110), fill=(60, 70, 90), outline=(230, 230, 230))
    sheet.rect((0, height - 20, width, height), fill=(110, 110, 110))  # pavement
    board = (30.0, 125.0, width - 30.0, 185.0)
    sheet.rect(board, fill=style.accent, outline=style.paper, width=2)
    shop = choose(rng, STORES)
    sheet.text(width / 2, 165, shop, style.label * 2.2, "serif-bold", style.paper, "ms",
               "heading")  # fmt: skip
    door = (width / 2 - 35, 205.0, width / 2 + 35, height - 20.0)
    sheet.rect(door, fill=(70, 45, 30))
    plaque_x0, plaque_x1 = door[2] + 14, min(width - 10, door[2] + 160)
    plaque = (plaque_x0, 205.0, plaque_x1, 300.0)
    sheet.rect(plaque, fill=style.paper, outline=style.ink)
    opens, closes = int(rng.integers(6, 11)), int(rng.integers(16, 23))
    hours = f"{opens}:00-{closes}:00"
    phone = draw_id(rng, "999 9999")
    year = str(int(rng.integers(1890, 2020)))
    fields = (
        Field("hours", "Open", hours, hours, AnswerType.TEXT,
              "What opening hours are written on the plaque?"),
        Field("phone", "Tel.", phone, phone, AnswerType.ID,
              "What telephone number is written on the plaque?"),
        Field("since", "Since", year, year, AnswerType.NUMBER,
              "Since what year has the shop been open, according to the plaque?"),
    )  # fmt: skip
    y = 226.0
    for field in fields:
        _pair(sheet, style, plaque_x0 + 6, plaque_x1 - 6, y, field)
        y += style.label * 2.3
    return Document(sheet, height, fields)


def label(rng: np.random.Generator, style: Style) -> Document:
    """A product label: brand and name, weight, best-before date, serial and lot numbers."""
    width = int(rng.integers(360, 420))
    sheet, x0, x1 = Sheet(width, style.paper), 18.0, width - 18.0
    sheet.rect((6, 6, width - 6, 300), outline=style.accent, width=2)
    y = 42.0
    product = f"{choose(rng, STORES).split()[0]} {choose(rng, ITEMS)}"
    sheet.text(x0, y, product, style.label * 2, "sans-bold", style.accent, kind="heading")
    y += style.label * 2.4
    weight = str(int(rng.choice([125, 150, 200, 250, 300, 400, 450, 500, 750, 900])))
    best = draw_date(rng)
    serial = draw_id(rng, "AA9A-9999-A9")
    lot = draw_id(rng, "L9999")
    fields = (
        Field("weight", "Net wt", f"{weight} g", weight, AnswerType.NUMBER,
              "How many grams is the net weight on the label?"),
        Field("best", "Best before", best, best, AnswerType.DATE,
              "What best-before date is printed on the label?"),
        Field("serial", "Serial No.", serial, serial, AnswerType.ID,
              "What is the serial number on the label?"),
        Field("lot", "Lot", lot, lot, AnswerType.ID,
              "What is the lot number on the label?"),
    )  # fmt: skip
    column = x0 + (x1 - x0) * 0.62
    for field in fields:
        _pair(sheet, style, x0, column, y, field)
        y += style.label * 1.7
    y += style.label * 0.5
    sheet.text(x0, y, "Ingredients:", style.label, "sans-bold", style.ink, kind="heading")
    for _ in range(3):
        y += style.value * 1.8
        sheet.text(x0, y, filler(rng, 10), style.value, style.value_face, style.ink)
    bars_x = column + 20
    for i in range(40):  # a barcode, decoration only
        if rng.random() < 0.6:
            sheet.rect((bars_x + i * 2, 80, bars_x + i * 2 + 1, 130), fill=style.ink)
    return Document(sheet, int(max(y + 24, 310)), fields)


def page(rng: np.random.Generator, style: Style) -> Document:
    """A page of paragraphs under a title, with a footnote in small print at the bottom."""
    width = int(rng.integers(380, 440))
    sheet, x0, x1 = Sheet(width, style.paper), 24.0, width - 24.0
    y = 40.0
    title = f"{choose(rng, ('Notice', 'Terms', 'Report', 'Bulletin'))} of {choose(rng, CITIES)}"
    sheet.text(x0, y, title, style.label * 1.7, "serif-bold", style.ink, kind="heading")
    y += style.label * 1.5
    for _ in range(int(rng.integers(3, 5))):
        y += style.value * 2.5
        for _ in range(int(rng.integers(3, 7))):
            line = _fit(sheet, rng, x1 - x0, style)
            sheet.text(x0, y, line, style.value, style.value_face, style.ink)
            y += style.value * 1.7
    y += style.label * 2
    sheet.rule(x0, x0 + 90, y - style.label, style.ink)
    city = choose(rng, CITIES)
    reference = draw_id(rng, "AAA-9999")
    number = str(int(rng.integers(2, 400)))
    fields = (
        Field("city", "Printed in", city, city, AnswerType.TEXT,
              "In what city was this page printed, according to the footnote?"),
        Field("reference", "Ref.", reference, reference, AnswerType.ID,
              "What reference code does the footnote give?"),
        Field("page", "Page", number, number, AnswerType.NUMBER,
              "What page number does the footnote give?"),
    )  # fmt: skip
    x, face = x0, style.value_face
    for i, field in enumerate(fields):  # one footnote line: "Printed in Lisbon.  Ref. KXA-2347."
        sheet.text(x, y, field.label, style.value, face, style.ink, kind="label", key=field.key)
        x += sheet.width_of(field.label + " ", style.value, face)
        sheet.text(x, y, field.value, style.value, face, style.ink, kind="value", key=field.key)
        x += sheet.width_of(field.value, style.value, face)
        if i < len(fields) - 1:
            sheet.text(x, y, ".", style.value, face, style.ink)
            x += sheet.width_of(".  ", style.value, face)
    return Document(sheet, int(y + 20), fields)


BUILDERS: dict[str, Callable[[np.random.Generator, Style], Document]] = {
    "receipt": receipt,
    "invoice": invoice,
    "form": form,
    "sign": sign,
    "label": label,
    "page": page,
}
"""Document builders by kind."""

KINDS = tuple(BUILDERS)
"""The document kinds; a task's kind is ``KINDS[seed % len(KINDS)]``."""

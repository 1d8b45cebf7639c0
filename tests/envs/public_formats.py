"""Small copies of public datasets in their exact layouts, written for tests (images by Pillow).

Each writer takes a folder and returns what a test needs to open and check it: the path a
source spec names and the records' answers. Images are drawn with the pinned fonts, so the
OCR tool can read them.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw

from iapo_bench.fonts import font


def chart_image(labels: list[str], values: list[int], size=(400, 300)) -> Image.Image:
    """A plain vertical bar chart: one bar per label, the label under it, white elsewhere."""
    image = Image.new("RGB", size, "white")
    draw = ImageDraw.Draw(image)
    width = size[0] // len(labels)
    for i, (label, value) in enumerate(zip(labels, values, strict=True)):
        x0 = i * width + 10
        draw.rectangle((x0, 250 - value * 2, x0 + width - 20, 250), fill=(40, 90, 200))
        draw.text((x0, 260), label, font=font("sans", 16), fill="black")
    return image


def text_image(lines: list[str], size=(480, 200), px: int = 26) -> Image.Image:
    """A page of large printed lines, one under another."""
    image = Image.new("RGB", size, (252, 252, 250))
    draw = ImageDraw.Draw(image)
    for i, line in enumerate(lines):
        draw.text((20, 20 + i * (px + 14)), line, font=font("sans", px), fill=(10, 10, 10))
    return image


def write_chartqa(root: Path, split: str = "test") -> Path:
    """``ChartQA Dataset/<split>/`` with two charts, 2 human and 1 augmented questions."""
    folder = root / "ChartQA Dataset" / split
    (folder / "png").mkdir(parents=True)
    (folder / "tables").mkdir()
    chart_image(["2019", "2020", "2021"], [30, 50, 80]).save(folder / "png" / "100.png")
    chart_image(["Peru", "Chile"], [60, 20]).save(folder / "png" / "two_0.png")
    (folder / "tables" / "100.csv").write_text("Year,Sales\n2019,30\n2020,50\n2021,80\n")
    human = [
        {"imgname": "100.png", "query": "What were the sales in 2020?", "label": "50"},
        {"imgname": "two_0.png", "query": "Which country has the taller bar?", "label": "Peru"},
    ]
    augmented = [{"imgname": "100.png", "query": "What is the sum of all sales?", "label": "160"}]
    (folder / f"{split}_human.json").write_text(json.dumps(human))
    (folder / f"{split}_augmented.json").write_text(json.dumps(augmented))
    return folder


def write_refocus(root: Path) -> Path:
    """A ReFocus repository: ``data/chartQA_v_bar_wbb.json`` (normalised boxes) and the
    ChartQA image it names under ``data/ChartQA Dataset/test/png``."""
    png = root / "data" / "ChartQA Dataset" / "test" / "png"
    png.mkdir(parents=True)
    chart_image(["2019", "2020", "2021"], [30, 50, 80]).save(png / "100.png")
    # Three x-value columns of a 400x300 chart, in fractions of its size.
    boxes = [{"x1": i / 3, "y1": 0.0, "x2": (i + 1) / 3, "y2": 1.0} for i in range(3)]
    records = {
        "7": {
            "query": "What were the sales in 2020?",
            "answer": "50",
            "figure_path": "data/ChartQA Dataset/test/png/100.png",
            "x_values": ["2019", "2020", "2021"],
            "x_bboxes": boxes,
            "y_values": [],
            "y_bboxes": [],
        }
    }
    path = root / "data" / "chartQA_v_bar_wbb.json"
    path.write_text(json.dumps(records))
    return path


def write_refocus_table(root: Path) -> Path:
    """A ReFocus table split (``data/tablevqa_wbb.json``) with pixel boxes, as a list."""
    images = root / "data" / "tables"
    images.mkdir(parents=True)
    text_image(["Year  Team  Wins", "1969  Reds  88", "1972  Reds  95"], size=(420, 160)).save(
        images / "t1.png"
    )
    records = [
        {
            "id": "t1",
            "query": "How many wins in 1972?",
            "answer": "95",
            "figure_path": "data/tables/t1.png",
            "column_headers": ["Year", "Team", "Wins"],
            "columns_bbox": [[0, 0, 120, 160], [120, 0, 260, 160], [260, 0, 420, 160]],
            "row_starters": ["Year", "1969", "1972"],
            "rows_bbox": [[0, 10, 420, 50], [0, 50, 420, 90], [0, 90, 420, 130]],
        }
    ]
    path = root / "data" / "tablevqa_wbb.json"
    path.write_text(json.dumps(records))
    return path


def write_charxiv(root: Path, split: str = "val") -> tuple[Path, Path]:
    """A CharXiv checkout: ``data/descriptive_<split>.json``, ``data/reasoning_<split>.json``
    and ``images/<figure_id>.jpg``; answers are null on the test split, as published."""
    (root / "data").mkdir(parents=True)
    (root / "images").mkdir()
    for figure_id in (3, 12):
        chart_image(["a", "b"], [40, 70]).save(root / "images" / f"{figure_id}.jpg", quality=90)
    withheld = split == "test"
    descriptive = {
        "3": {
            "figure_id": 3,
            "qids": [1, 2, 10, 19],
            "answers": None if withheld else ["Not Applicable", "Year", "2", "1"],
            "subplot_loc": [0, 0],
            "num_subplots": 1,
        }
    }
    reasoning = {
        "12": {
            "figure_id": 12,
            "inst_category": 3,
            "query": "What is the height of bar b?",
            "answer": None if withheld else "70",
            "reasoning_q_source": 1,
        }
    }
    desc = root / "data" / f"descriptive_{split}.json"
    reas = root / "data" / f"reasoning_{split}.json"
    desc.write_text(json.dumps(descriptive))
    reas.write_text(json.dumps(reasoning))
    return desc, reas


def write_docvqa(root: Path, split: str = "val") -> Path:
    """DocVQA's ``<split>/<split>_v1.0.json`` with two pages under ``documents/``."""
    folder = root / split
    (folder / "documents").mkdir(parents=True)
    text_image(["INVOICE", "Total due: 4,280.00", "Ref: AX-7731"]).save(
        folder / "documents" / "xnbl0037_1.png"
    )
    text_image(["MEMO", "Date: 17/03/1998"]).save(folder / "documents" / "txpp0227_10.png")
    withheld = split == "test"
    data = [
        {
            "questionId": 49153,
            "question": "What is the total due?",
            "question_types": ["form"],
            "image": "documents/xnbl0037_1.png",
            "docId": 14465,
            "ucsf_document_id": "xnbl0037",
            "ucsf_document_page_no": "1",
            "answers": None if withheld else ["4,280.00", "4280.00"],
            "data_split": split,
        },
        {
            "questionId": 8366,
            "question": "What is the date of the memo?",
            "question_types": ["layout"],
            "image": "documents/txpp0227_10.png",
            "docId": 1968,
            "ucsf_document_id": "txpp0227",
            "ucsf_document_page_no": "10",
            "answers": None if withheld else ["17/03/1998"],
            "data_split": split,
        },
    ]
    if withheld:
        for row in data:
            del row["answers"]
    path = folder / f"{split}_v1.0.json"
    payload = {"dataset_name": "docvqa", "dataset_split": split, "dataset_version": "1.0"}
    path.write_text(json.dumps({**payload, "data": data}))
    return path


def write_textvqa(root: Path) -> Path:
    """``TextVQA_0.5.1_val.json`` with its image under ``train_val_images/train_images/``."""
    images = root / "train_val_images" / "train_images"
    images.mkdir(parents=True)
    text_image(["COCA COLA", "OPEN 24 HOURS"], size=(400, 120)).save(
        images / "003a8ae2ef43b901.jpg", quality=92
    )
    answers = ["coca cola"] * 6 + ["coca-cola"] * 2 + ["coke", "pepsi"]
    data = [
        {
            "question": "What brand is on the sign?",
            "image_id": "003a8ae2ef43b901",
            "image_classes": ["Sign"],
            "flickr_original_url": "https://example.invalid/a.jpg",
            "flickr_300k_url": "https://example.invalid/b.jpg",
            "image_width": 400,
            "image_height": 120,
            "answers": answers,
            "question_tokens": ["what", "brand", "is", "on", "the", "sign"],
            "question_id": 34602,
            "set_name": "val",
        }
    ]
    path = root / "TextVQA_0.5.1_val.json"
    payload = {"dataset_type": "val", "dataset_name": "textvqa", "dataset_version": "0.5.1"}
    path.write_text(json.dumps({**payload, "data": data}))
    return path


def pixels(path: Path) -> np.ndarray:
    """An image file's RGB pixels."""
    with Image.open(path) as image:
        return np.asarray(image.convert("RGB"))

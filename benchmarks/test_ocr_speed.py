"""Speed of ToolUse-OCR-v0: the OCR engine and tool, and oracle episodes against their floor.

- ``test_ocr_engine_448``: RapidOCR on a 448x448 crop of a document: bare paper (detection
  alone), two lines and eight lines of print (the issue's goal: at most 40 ms median on two
  CPU cores).
- ``test_ocr_tool_region``: the ``ocr`` tool on a 150x150 region of the shown image (450x450
  source pixels), with the bare engine call on the same window as its floor.
- ``test_oracle_episode``: reset (which draws and photographs the document), the oracle's
  zoom, its answer; paired with its floor: the bare Pillow/OpenCV work the episode contains
  (draw the sheet, photograph it, reduce it, crop and resize the zoom).
- ``test_ocr_document_page``: a whole DocVQA-like page (1700x2200, scanned: blurred, noisy,
  JPEG), read uncached, with the recall of the answers and of all the text drawn (every line
  and table cell); its floor, measured in the same run, is the bare detection and
  recognition model time on the same inputs (ONNX Runtime alone), and ``cached_ms`` a second
  read of the same page (the engine remembers pages it read).
"""

import io
import statistics
import time

import numpy as np
import pytest
from PIL import Image, ImageDraw

import iapo_bench  # noqa: F401  (registers the ids)
from iapo_bench.baselines import OracleAgent
from iapo_bench.envs import get_family, load_task
from iapo_bench.envs.ocr.documents import BUILDERS
from iapo_bench.envs.ocr.family import _photograph, _style
from iapo_bench.fonts import font
from iapo_bench.scene import SOURCE_SCALE
from iapo_bench.tools.ocr import get_engine, ocr

ROUNDS = 15
OCR = get_family("ocr")


@pytest.fixture(scope="module")
def page():
    task = OCR.generate("train", 1, 4)  # a product label: lines of print at several sizes
    get_engine().read(task.source_image[:448, :448])  # load the models, untimed
    return task


# Crops of the label's source: bare paper, two lines of print, eight lines of print.
CROPS = {"paper": None, "two-lines": 450, "eight-lines": 150}


@pytest.mark.parametrize("crop_name", list(CROPS))
def test_ocr_engine_448(benchmark, page, crop_name):
    """RapidOCR on a 448x448 crop: detection is the fixed cost, each line adds recognition."""
    top = CROPS[crop_name]
    if top is None:
        crop = np.full((448, 448, 3), 250, dtype=np.uint8)
    else:
        crop = np.ascontiguousarray(page.source_image[top : top + 448, 20:468])
    assert crop.shape == (448, 448, 3)
    # Uncached: the engine remembers images it read, and every round reads the same crop.
    lines = benchmark(lambda: get_engine().read(crop, cache=False))
    benchmark.extra_info["lines"] = len(lines)
    assert (len(lines) == 0) == (top is None)


def test_ocr_tool_region(benchmark, page):
    box = [10, 20, 160, 170]
    forget = get_engine()._read_cache.clear  # each round reads the window afresh
    result = benchmark.pedantic(
        lambda: ocr({"box": box}, task=page), setup=forget, rounds=ROUNDS, iterations=1
    )
    assert result.ok and "No text" not in result.text
    window = np.ascontiguousarray(page.source_image[60:510, 30:480])
    floors = []
    for _ in range(ROUNDS if not benchmark.disabled else 1):
        began = time.perf_counter()
        get_engine().read(window, cache=False)
        floors.append(time.perf_counter() - began)
    benchmark.extra_info["floor_ms"] = 1000 * statistics.median(floors)


def _floor(task) -> None:
    """The bare drawing work of an episode on ``task``."""
    rng = np.random.default_rng([task.seed, task.difficulty, 0x0C12])
    style = _style(rng)
    document = BUILDERS[task.data["kind"]](rng, style)
    rng.integers(len(document.fields))  # the field draw, keeping the generator in step
    source, _ = _photograph(
        document.sheet.render(document.height), rng, task.difficulty, style.paper
    )
    source.reduce(SOURCE_SCALE)
    call = OracleAgent.tool_call(task, set(task.tool_names))
    x0, y0, x1, y1 = (v * SOURCE_SCALE for v in call.arguments["box"])
    factor = call.arguments["factor"] / SOURCE_SCALE
    region = source.crop((x0, y0, x1, y1))
    region.resize((round(region.width * factor), round(region.height * factor)), Image.BICUBIC)


@pytest.mark.parametrize("difficulty", OCR.difficulties, ids=lambda d: f"d{d}")
def test_oracle_episode(benchmark, oracle_episodes, difficulty):
    seeds = iter(range(20_000_000, 30_000_000))
    oracle_episodes(
        benchmark,
        "ToolUse-OCR-v0",
        lambda: OCR.task_id("train", difficulty, next(seeds)),
        lambda task: lambda: _floor(task),
        cold=load_task.cache_clear,
        rounds=ROUNDS,
    )


_WORDS = tuple(
    [
        "the",
        "committee",
        "report",
        "annual",
        "review",
        "budget",
        "research",
        "program",
        "sales",
        "data",
        "analysis",
        "samples",
        "product",
        "marketing",
        "brand",
        "market",
        "share",
        "division",
        "meeting",
        "memo",
        "attached",
        "results",
        "approved",
        "summary",
        "quarterly",
        "federal",
        "regional",
        "district",
        "office",
    ]
)


def document_page(seed: int, size=(1700, 2200)) -> tuple[np.ndarray, list[str], list[str]]:
    """A scanned letter-size page at 200 dpi: a title, a form, paragraphs, a table, fine print.

    Returns the page, the values a DocVQA question would ask for (the form's values, the
    table's totals, the form number in 18-pixel print at the foot), and every piece of text
    drawn on it (each a line or a table cell).
    """
    import cv2

    rng = np.random.default_rng(seed)
    page = Image.new("RGB", size, (250, 250, 246))
    draw = ImageDraw.Draw(page)
    answers, drawn = [], []
    y = 110
    title = " ".join(rng.choice(_WORDS, 4)).upper()
    draw.text((150, y), title, font=font("serif-bold", 44), fill=(20, 20, 20))
    drawn.append(title)
    y += 90
    for label in ("Date", "Invoice No.", "Account", "Amount Due", "Phone", "Reference"):
        if label == "Date":
            value = f"{rng.integers(1, 28):02d}/{rng.integers(1, 12):02d}/19{rng.integers(60, 99)}"
        elif label == "Amount Due":
            value = f"${rng.integers(100, 99999):,}.{rng.integers(0, 99):02d}"
        elif label == "Phone":
            value = (
                f"({rng.integers(200, 999)}) {rng.integers(200, 999)}-{rng.integers(1000, 9999)}"
            )
        else:
            letter = rng.choice(list("ABCDEFGHJK"))
            value = f"{letter}{rng.integers(1000, 99999)}-{rng.integers(10, 99)}"
        draw.text((150, y), f"{label}:", font=font("sans", 28), fill=(30, 30, 30))
        draw.text((520, y), value, font=font("mono", 28), fill=(30, 30, 60))
        answers.append(value)
        drawn += [f"{label}:", value]
        y += 46
    y += 30
    for _ in range(4):
        for _ in range(int(rng.integers(4, 7))):
            line = " ".join(rng.choice(_WORDS, int(rng.integers(9, 13)))).capitalize()
            draw.text((150, y), line, font=font("serif", 26), fill=(25, 25, 25))
            drawn.append(line)
            y += 36
        y += 24
    columns = (150, 600, 900, 1200)
    for x, header in zip(columns, ("Item", "Units", "Price", "Total"), strict=True):
        draw.text((x, y + 10), header, font=font("sans-bold", 26), fill=(20, 20, 20))
        drawn.append(header)
    y += 54
    for _ in range(8):
        units, price = int(rng.integers(1, 500)), float(rng.integers(100, 9999)) / 100
        cells = (" ".join(rng.choice(_WORDS, 2)).title(), str(units), f"{price:.2f}",
                 f"{units * price:,.2f}")  # fmt: skip
        for x, cell in zip(columns, cells, strict=True):
            draw.text((x, y), cell, font=font("sans", 24), fill=(30, 30, 30))
            drawn.append(cell)
        answers.append(cells[3])
        y += 38
    y += 40
    for _ in range(3):
        line = " ".join(rng.choice(_WORDS, 16))
        draw.text((150, y), line, font=font("sans", 18), fill=(60,) * 3)
        drawn.append(line)
        y += 26
    code = f"Form {rng.integers(100, 999)}-{rng.choice(list('XYZ'))}{rng.integers(10, 99)}"
    draw.text((150, size[1] - 120), code, font=font("sans", 18), fill=(60, 60, 60))
    answers.append(code)
    drawn.append(code)
    # A scan: a slight blur, sensor noise, JPEG.
    pixels = cv2.GaussianBlur(np.asarray(page), (0, 0), 0.7).astype(np.float32)
    pixels += np.random.default_rng(seed + 1).normal(0, 6, pixels.shape)
    buffer = io.BytesIO()
    Image.fromarray(np.clip(pixels, 0, 255).astype(np.uint8)).save(buffer, "JPEG", quality=70)
    return np.asarray(Image.open(buffer).convert("RGB")), answers, drawn


def answer_recall(lines, answers: list[str]) -> float:
    """The share of the asked-for values (or any strings) found in the OCR output.

    Spaces are ignored: OCR drops or adds narrow ones, and the lines are joined, so a string
    split over two boxes still counts.
    """
    read = "".join(line.text for line in lines).replace(" ", "")
    return sum(answer.replace(" ", "") in read for answer in answers) / len(answers)


def _model_floor(engine, page: np.ndarray) -> float:
    """Seconds of the bare detection and recognition models on the page's own inputs.

    The engine's own ONNX sessions, fed the inputs RapidOCR builds for this page: the
    detector's, then the lines batched and padded as the engine's settings say.
    """
    ocr_engine = engine._engine
    image, record = ocr_engine.preprocess_img(page)
    detector = ocr_engine.text_det
    det_input = detector.get_preprocess()(image)
    crops, _ = ocr_engine.detect_and_crop(image, record)
    recognizer = ocr_engine.text_rec
    _, height, min_width = recognizer.rec_image_shape
    ratios = [crop.shape[1] / crop.shape[0] for crop in crops]
    order = np.argsort(ratios)
    batches = []
    for start in range(0, len(order), recognizer.rec_batch_num):
        chunk = order[start : start + recognizer.rec_batch_num]
        widest = max(min_width / height, *(ratios[i] for i in chunk))
        batches.append(
            np.concatenate([recognizer.resize_norm_img(crops[i], widest)[None] for i in chunk])
        )
    began = time.perf_counter()
    detector.session(det_input)
    for batch in batches:
        recognizer.session(batch.astype(np.float32))
    return time.perf_counter() - began


def test_ocr_document_page(benchmark):
    """A whole document page read by the ocr engine: its time, floor, recall and cached read."""
    engine = get_engine()
    page, answers, drawn = document_page(0)
    engine.read(page[:448, :448])  # load the models, untimed
    lines = benchmark.pedantic(lambda: engine.read(page, cache=False), rounds=3, iterations=1)
    benchmark.extra_info["answer_recall"] = answer_recall(lines, answers)
    benchmark.extra_info["text_recall"] = answer_recall(lines, drawn)
    benchmark.extra_info["lines"] = len(lines)
    floors = [_model_floor(engine, page) for _ in range(1 if benchmark.disabled else 3)]
    benchmark.extra_info["floor_ms"] = 1000 * statistics.median(floors)
    began = time.perf_counter()
    assert engine.read(page) == lines  # the same page again: remembered
    benchmark.extra_info["cached_ms"] = 1000 * (time.perf_counter() - began)
    assert answer_recall(lines, answers) == 1.0

import socket
import threading

import numpy as np
import pytest
from PIL import Image, ImageDraw

from iapo_bench.core import Box
from iapo_bench.envs import get_family
from iapo_bench.fonts import font
from iapo_bench.tools.ocr import (
    OcrLine,
    RapidOcrEngine,
    TesseractEngine,
    get_engine,
    group_lines,
    ocr,
)

WORDS = [((10, 10), "TOTAL 1,234.50", "sans", 28), ((10, 60), "Serial AB-7731", "mono", 22)]


def rendered(size=(400, 120)) -> np.ndarray:
    image = Image.new("RGB", size, "white")
    draw = ImageDraw.Draw(image)
    for xy, text, face, px in WORDS:
        draw.text(xy, text, font=font(face, px), fill=(0, 0, 0))
    return np.asarray(image)


def piece(text, x0, y0, x1, y1, score=0.9):
    return OcrLine(text=text, box=Box(x0, y0, x1, y1), score=score)


def test_group_lines_merges_pieces_of_one_line_in_reading_order():
    lines = group_lines(
        [
            piece("world", 60, 11, 100, 29, 0.8),
            piece("below", 10, 40, 60, 58),
            piece("Hello", 10, 10, 55, 30),
            piece("far away", 300, 10, 380, 30),  # same height, but too far to the right
        ]
    )
    assert [line.text for line in lines] == ["Hello world", "far away", "below"]
    assert lines[0].box == Box(10, 10, 100, 30)
    assert lines[0].score == 0.8


def test_group_lines_of_nothing_is_nothing():
    assert group_lines([]) == []


def test_rapidocr_reads_rendered_words_with_their_boxes():
    lines = get_engine("rapidocr").read(rendered())
    assert [line.text for line in lines] == ["TOTAL 1,234.50", "Serial AB-7731"]
    for line, (xy, _, _, px) in zip(lines, WORDS, strict=True):
        assert abs(line.box.x0 - xy[0]) <= 8 and abs(line.box.y0 - xy[1]) <= 8
        assert px * 0.6 <= line.box.height <= px * 1.6
        assert line.score > 0.9


def test_blank_image_has_no_lines():
    assert get_engine().read(np.full((60, 80, 3), 255, np.uint8)) == []


def test_engine_is_one_per_process_and_safe_across_threads():
    engine = get_engine("rapidocr")
    assert get_engine() is engine
    image = rendered()
    expected = engine.read(image)
    results = []

    def work():  # uncached: the threads really read at once
        results.append(engine.read(image, cache=False))

    threads = [threading.Thread(target=work) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert results == [expected] * 4


def test_each_line_is_recognised_alone_at_its_own_width():
    """No line is padded to a batch's widest or to RapidOCR's default 320 pixels."""
    engine = RapidOcrEngine(threads=1)
    engine.read(rendered())  # loads the models
    recognizer = engine._engine.text_rec
    session, shapes = recognizer.session, []

    def spy(batch):
        shapes.append(batch.shape)
        return session(batch)

    recognizer.session = spy
    image = Image.fromarray(rendered())
    ImageDraw.Draw(image).text((320, 64), "7%", font=font("sans", 22), fill=(0, 0, 0))
    lines = engine.read(np.asarray(image), cache=False)
    assert "7%" in [line.text for line in lines]
    assert len(shapes) == 3 and all(shape[:3] == (1, 3, 48) for shape in shapes)
    assert min(shape[3] for shape in shapes) < 100  # "7%": about 1.5 times as wide as high


def test_one_thread_and_two_read_the_same():
    """Worker processes read with one thread, a lone process with two: results must agree."""
    task = get_family("ocr").generate("train", 0, 4)
    one, two = RapidOcrEngine(threads=1), RapidOcrEngine(threads=2)
    for image in (rendered(), task.source_image):
        assert one.read(image) == two.read(image)


def test_the_provenance_names_the_models_and_the_recognition_batching():
    provenance = RapidOcrEngine().provenance
    assert provenance["det_model"].startswith("PP-OCRv6_det_small.onnx:")
    assert provenance["rec_model"].startswith("PP-OCRv6_rec_small.onnx:")
    assert provenance["rec_batch"] == "1 line, 1 px minimum width"


def test_rapidocr_loads_and_reads_with_the_network_cut_off(monkeypatch):
    def refuse(*args, **kwargs):
        raise OSError("network access attempted during OCR")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket, "create_connection", refuse)
    lines = RapidOcrEngine().read(rendered())  # a fresh engine: loads its models now
    assert [line.text for line in lines] == ["TOTAL 1,234.50", "Serial AB-7731"]


def test_unknown_engine_is_a_clear_error():
    message = "unknown OCR engine 'easyocr'; known: rapidocr, tesseract"
    with pytest.raises(ValueError, match=message):
        get_engine("easyocr")


@pytest.mark.skipif(not TesseractEngine.available(), reason="tesseract is not installed")
def test_tesseract_reads_rendered_words():
    lines = get_engine("tesseract").read(rendered())
    assert [line.text for line in lines] == ["TOTAL 1,234.50", "Serial AB-7731"]


def test_tesseract_says_clearly_when_it_is_missing(monkeypatch):
    monkeypatch.setattr("shutil.which", lambda name: None)
    with pytest.raises(RuntimeError, match="tesseract is not installed"):
        TesseractEngine().read(rendered())


# --- the ocr tool on a real task ---------------------------------------------------------------


@pytest.fixture(scope="module")
def table_task():
    return get_family("chart").generate("train", 0, 8)  # kind = seed % 9 = table, large print


def test_ocr_tool_reads_a_rendered_table(table_task):
    result = ocr({}, task=table_task)
    assert result.ok
    for category in table_task.data["categories"]:
        assert category in result.text
    assert table_task.data["title"] in result.text


def test_ocr_tool_region_reports_boxes_in_shown_image_pixels(table_task):
    row = next(e for e in table_task.elements if e.kind == "row")
    result = ocr({"box": row.box.as_list()}, task=table_task)
    assert result.ok and row.key in result.text
    first = result.text.splitlines()[0]
    x0, y0, x1, y1 = (int(v) for v in first.split("[")[1].split("]")[0].split(","))
    assert row.box.x0 <= x0 < x1 <= row.box.x1 + 1
    assert row.box.y0 <= y0 < y1 <= row.box.y1 + 1


def test_ocr_tool_on_an_empty_region_and_a_bad_box(table_task):
    height, width = table_task.image.shape[:2]
    blank = ocr({"box": [width - 8, height - 8, width, height]}, task=table_task)
    assert blank.ok and blank.text.startswith("No text found")
    bad = ocr({"box": [50, 50, 40, 40]}, task=table_task)
    assert not bad.ok and "less than 4x4" in bad.error
    assert "box" not in ocr.schema["function"]["parameters"]["required"]


def test_ocr_tool_reads_fine_print_at_full_resolution():
    """On an OCR task the field's value is 4-pixel print as shown; the tool reads the source."""
    task = get_family("ocr").generate("train", 0, 4)  # a product label, scanned straight
    value = next(e for e in task.elements if e.kind == "value" and e.key == task.evidence[0])
    assert value.box.height <= 6
    shown = "".join(line.text for line in get_engine().read(task.image))
    assert task.data["value"] not in shown
    row = [0, value.box.y0 - 6, task.image.shape[1], value.box.y1 + 6]
    result = ocr({"box": row}, task=task)
    assert task.data["value"] in result.text
    line = next(r for r in result.text.splitlines() if task.data["value"] in r)
    box = [int(v) for v in line.split("[")[1].split("]")[0].split(",")]
    assert abs(box[2] - value.box.x1) <= 3 and abs(box[1] - value.box.y0) <= 3


def test_ocr_declares_the_region_it_read():
    from iapo_bench.envs import load_task
    from iapo_bench.tools.ocr import ocr

    task = load_task("ocr/v0/train/d0/0")
    height, width = task.image.shape[:2]
    assert ocr({}, task=task).focus.boxes == (Box(0, 0, width, height),)
    assert ocr({"box": [10, 10, 60, 40]}, task=task).focus.boxes == (Box(10, 10, 60, 40),)


def test_a_page_read_again_is_remembered_and_the_memory_is_bounded(monkeypatch):
    import iapo_bench.tools.ocr as ocr_module

    engine = RapidOcrEngine()
    image = rendered()
    calls = []
    read = engine._read

    def counted(pixels):
        calls.append(pixels.shape)
        return read(pixels)

    monkeypatch.setattr(engine, "_read", counted)
    first = engine.read(image)
    assert engine.read(image.copy()) == first and len(calls) == 1  # same pixels: remembered
    assert engine.read(image, cache=False) == first and len(calls) == 2
    monkeypatch.setattr(ocr_module, "READ_CACHE_SIZE", 2)
    for shade in (250, 251, 252):
        engine.read(np.full((40, 40, 3), shade, np.uint8))
    assert len(engine._read_cache) == 2

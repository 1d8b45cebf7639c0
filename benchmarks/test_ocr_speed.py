"""Speed of ToolUse-OCR-v0: the OCR engine and tool, and oracle episodes against their floor.

- ``test_ocr_engine_448``: RapidOCR on a 448x448 crop of a document: bare paper (detection
  alone), two lines and eight lines of print (the issue's goal: at most 40 ms median on two
  CPU cores).
- ``test_ocr_tool_region``: the ``ocr`` tool on a 150x150 region of the shown image (450x450
  source pixels), with the bare engine call on the same window as its floor.
- ``test_oracle_episode``: reset (which draws and photographs the document), the oracle's
  zoom, its answer; paired with its floor: the bare Pillow/OpenCV work the episode contains
  (draw the sheet, photograph it, reduce it, crop and resize the zoom).
"""

import statistics
import time

import numpy as np
import pytest
from PIL import Image

import iapo_bench  # noqa: F401  (registers the ids)
from iapo_bench.baselines import OracleAgent
from iapo_bench.envs import get_family, load_task
from iapo_bench.envs.ocr.documents import BUILDERS
from iapo_bench.envs.ocr.family import _photograph, _style
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
    lines = benchmark(lambda: get_engine().read(crop))
    benchmark.extra_info["lines"] = len(lines)
    assert (len(lines) == 0) == (top is None)


def test_ocr_tool_region(benchmark, page):
    box = [10, 20, 160, 170]
    result = benchmark(lambda: ocr({"box": box}, task=page))
    assert result.ok and "No text" not in result.text
    window = np.ascontiguousarray(page.source_image[60:510, 30:480])
    floors = []
    for _ in range(ROUNDS if not benchmark.disabled else 1):
        began = time.perf_counter()
        get_engine().read(window)
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

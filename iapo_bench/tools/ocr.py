"""OCR: real engines behind one small interface, and the ``ocr`` tool.

- :class:`OcrLine`: one line of text with its box (pixels of the image read) and a score.
- :class:`RapidOcrEngine` (default): RapidOCR with the PP-OCRv6 ONNX models shipped inside
  the ``rapidocr`` wheel, pinned by path so nothing is ever downloaded; no angle classifier
  (faster, and fewer errors on rendered text); two intra-op threads (as fast as one on small
  crops, 1.7x faster on a whole zoomed chart); ONNX Runtime's memory arena on (a tenth less
  CPU on a document page, where every recognition batch allocates a 18,710-class output;
  the same numbers); each text line recognised alone at its own width (RapidOCR's default
  pads a batch of 6 to its widest line and to at least 320 pixels: on our charts and
  documents that is over half the recognition time, and it changes some readings of fine
  print, so the setting is in :attr:`RapidOcrEngine.provenance`); boxes that belong to one
  line are merged; the lines of the last :data:`READ_CACHE_SIZE` images read are
  remembered, so GRPO's G rollouts and repeated calls on one page read it once.
- :class:`TesseractEngine` (optional): the ``tesseract`` binary (Debian ``tesseract-ocr``),
  used when it is on the PATH.
- :func:`get_engine`: one lazily built engine per name and process, guarded by a lock.
- ``ocr``: the tool: reads the shown image or a region and lists the lines it found.

``IAPO_BENCH_OCR_ENGINE=tesseract`` makes :func:`get_engine` default to Tesseract.
"""

from __future__ import annotations

import collections
import dataclasses
import functools
import hashlib
import importlib.metadata
import io
import math
import os
import shutil
import subprocess
import threading
from collections.abc import Sequence
from importlib import resources
from typing import Any, Protocol

import numpy as np
from PIL import Image

from iapo_bench.core import Box, Focus, Task, ToolResult
from iapo_bench.tools.base import Hidden, ToolError, tool
from iapo_bench.tools.image import PixelBox, clip_box

__all__ = [
    "ENGINES",
    "READ_CACHE_SIZE",
    "OcrEngine",
    "OcrLine",
    "RapidOcrEngine",
    "TesseractEngine",
    "get_engine",
    "group_lines",
    "ocr",
]

# onnxruntime writes a telemetry cache unless told not to; nothing here may phone home.
os.environ.setdefault("ORT_DISABLE_TELEMETRY", "1")


@dataclasses.dataclass(frozen=True, slots=True)
class OcrLine:
    """One line of recognised text."""

    text: str
    """The text, words separated by single spaces."""
    box: Box
    """Where it is, in pixels of the image that was read."""
    score: float
    """Recognition confidence in [0, 1]."""


class OcrEngine(Protocol):
    """Anything that reads lines of text from an RGB image."""

    name: str
    """Short name (``"rapidocr"``, ``"tesseract"``)."""

    @property
    def provenance(self) -> dict[str, str]:
        """What a run's metadata records of the engine (version, models, settings)."""
        ...

    def read(self, image: np.ndarray) -> list[OcrLine]:
        """The lines of text in a ``uint8 (H, W, 3)`` image, top to bottom."""
        ...


def group_lines(pieces: Sequence[OcrLine]) -> list[OcrLine]:
    """Merge pieces that sit on one text line (engines may split a line into several boxes).

    Two pieces share a line when they overlap vertically by at least half the smaller height
    and the horizontal gap between them is at most twice that height. Lines come back top to
    bottom, pieces within a line left to right.
    """
    lines: list[list[OcrLine]] = []
    for piece in sorted(pieces, key=lambda p: (p.box.y0 + p.box.y1, p.box.x0)):
        for line in lines:
            last = line[-1]
            overlap = min(last.box.y1, piece.box.y1) - max(last.box.y0, piece.box.y0)
            height = min(last.box.height, piece.box.height)
            gap = max(piece.box.x0 - last.box.x1, last.box.x0 - piece.box.x1)
            if overlap >= 0.5 * height and gap <= 2 * height:
                line.append(piece)
                break
        else:
            lines.append([piece])
    merged = []
    for line in lines:
        line.sort(key=lambda p: p.box.x0)
        box = line[0].box
        for piece in line[1:]:
            box = box.union(piece.box)
        text = " ".join(p.text for p in line)
        merged.append(OcrLine(text=text, box=box, score=min(p.score for p in line)))
    return sorted(merged, key=lambda line: (line.box.y0, line.box.x0))


def _polygon_box(points: Any, width: int, height: int) -> Box:
    xs = [float(p[0]) for p in points]
    ys = [float(p[1]) for p in points]
    return Box(
        x0=max(0, int(np.floor(min(xs)))),
        y0=max(0, int(np.floor(min(ys)))),
        x1=min(width, int(np.ceil(max(xs)))),
        y1=min(height, int(np.ceil(max(ys)))),
    )


READ_CACHE_SIZE = 64
"""How many images' lines an engine remembers (by their pixels), per process."""

_DET_MODEL = "PP-OCRv6_det_small.onnx"
_REC_MODEL = "PP-OCRv6_rec_small.onnx"
# Lines per recognition run, and the width (pixels, at the model's 48-pixel height) a line
# is padded to: each line is read alone at its own width.
_REC_BATCH = 1
_REC_MIN_WIDTH = 1


class RapidOcrEngine:
    """RapidOCR (PP-OCRv6, ONNX Runtime on the CPU), fully offline.

    >>> engine = RapidOcrEngine()  # nothing is loaded until the first read
    >>> engine.name
    'rapidocr'
    """

    name = "rapidocr"

    def __init__(self, limit_side_len: int = 1280, threads: int | None = None) -> None:
        self.limit_side_len = limit_side_len
        # $IAPO_BENCH_OCR_THREADS: the harness's worker processes split the cores this way.
        env_threads = int(os.environ.get("IAPO_BENCH_OCR_THREADS") or 0)
        self.threads = threads or env_threads or min(2, os.cpu_count() or 1)
        self._engine: Any = None
        self._lock = threading.Lock()
        self._read_cache: collections.OrderedDict[tuple[Any, ...], tuple[OcrLine, ...]] = (
            collections.OrderedDict()
        )

    @functools.cached_property
    def provenance(self) -> dict[str, str]:
        """What reads the text: the engine's version, its model files' hashes, its settings."""
        models = resources.files("rapidocr") / "models"
        out = {
            "engine": self.name,
            "version": importlib.metadata.version("rapidocr"),
            "onnxruntime": importlib.metadata.version("onnxruntime"),
            "limit_side_len": str(self.limit_side_len),
            "angle_classifier": "off",
        }
        for role, file in (("det_model", _DET_MODEL), ("rec_model", _REC_MODEL)):
            digest = hashlib.sha256((models / file).read_bytes()).hexdigest()[:16]
            out[role] = f"{file}:{digest}"
        # Recognition batching changes the text read, so runs that differ in it never mix.
        out["rec_batch"] = f"{_REC_BATCH} line, {_REC_MIN_WIDTH} px minimum width"
        return out

    def _load(self) -> Any:
        from rapidocr import RapidOCR  # imported on first use: it takes a second

        models = resources.files("rapidocr") / "models"
        params = {
            "Global.use_cls": False,
            "Global.log_level": "critical",
            "Det.limit_type": "max",
            "Det.limit_side_len": self.limit_side_len,
            "Det.model_path": str(models / _DET_MODEL),
            "Rec.model_path": str(models / _REC_MODEL),
            # One line a run, unpadded: RapidOCR pads each line to its batch's widest and
            # to rec_img_shape's width (320 by default), most of them several times over.
            "Rec.rec_batch_num": _REC_BATCH,
            "Rec.rec_img_shape": [3, 48, _REC_MIN_WIDTH],
            "EngineConfig.onnxruntime.intra_op_num_threads": self.threads,
            "EngineConfig.onnxruntime.inter_op_num_threads": 1,
            # Allocation only: results are the same, and a page takes a tenth less CPU.
            "EngineConfig.onnxruntime.enable_cpu_mem_arena": True,
        }
        return RapidOCR(params=params)

    def read(self, image: np.ndarray, *, cache: bool = True) -> list[OcrLine]:
        """The lines of text in ``image``; an image read before (same pixels) is not read again.

        ``cache=False`` reads it anyway (benchmarks time the engine so).
        """
        pixels = np.ascontiguousarray(image)
        key = (pixels.shape, hashlib.blake2b(pixels.data, digest_size=16).digest())
        if cache:
            with self._lock:
                known = self._read_cache.get(key)
                if known is not None:
                    self._read_cache.move_to_end(key)
                    return list(known)
        lines = self._read(pixels)
        with self._lock:
            self._read_cache[key] = tuple(lines)
            while len(self._read_cache) > READ_CACHE_SIZE:
                self._read_cache.popitem(last=False)
        return lines

    def _read(self, image: np.ndarray) -> list[OcrLine]:
        height, width = image.shape[:2]
        with self._lock:  # one ONNX session per process; calls are serialised
            if self._engine is None:
                self._engine = self._load()
            result = self._engine(Image.fromarray(image))
        if result.txts is None:
            return []
        pieces = [
            OcrLine(text=text.strip(), box=_polygon_box(points, width, height), score=float(score))
            for text, points, score in zip(result.txts, result.boxes, result.scores, strict=True)
            if text.strip()
        ]
        return group_lines(pieces)


class TesseractEngine:
    """Tesseract through its command line (``tesseract`` must be on the PATH)."""

    name = "tesseract"

    def __init__(self, page_segmentation: int = 11) -> None:
        self.page_segmentation = page_segmentation

    @staticmethod
    def available() -> bool:
        """Whether the ``tesseract`` binary is installed."""
        return shutil.which("tesseract") is not None

    @functools.cached_property
    def provenance(self) -> dict[str, str]:
        """What reads the text: the binary's version and the page segmentation mode."""
        version = "not installed"
        if self.available():
            done = subprocess.run(
                ["tesseract", "--version"], capture_output=True, text=True, timeout=30
            )
            version = (done.stdout or done.stderr).splitlines()[0] if done.returncode == 0 else "?"
        return {"engine": self.name, "version": version, "psm": str(self.page_segmentation)}

    def read(self, image: np.ndarray) -> list[OcrLine]:
        """The lines of text in ``image``."""
        if not self.available():
            raise RuntimeError("tesseract is not installed (Debian package tesseract-ocr)")
        buffer = io.BytesIO()
        Image.fromarray(np.ascontiguousarray(image)).save(buffer, format="PNG")
        command = ["tesseract", "stdin", "stdout", "--psm", str(self.page_segmentation), "tsv"]
        output = subprocess.run(
            command, input=buffer.getvalue(), capture_output=True, check=True, timeout=60
        ).stdout.decode("utf-8", errors="replace")
        pieces = []
        for row in output.splitlines()[1:]:
            fields = row.split("\t")
            if len(fields) < 12 or not fields[11].strip() or float(fields[10]) < 0:
                continue
            left, top, w, h = (int(v) for v in fields[6:10])
            box = Box(x0=left, y0=top, x1=left + w, y1=top + h)
            pieces.append(OcrLine(text=fields[11].strip(), box=box, score=float(fields[10]) / 100))
        return group_lines(pieces)


ENGINES = {"rapidocr": RapidOcrEngine, "tesseract": TesseractEngine}
"""OCR engines by name."""

_INSTANCES: dict[str, OcrEngine] = {}
_INSTANCES_LOCK = threading.Lock()


def get_engine(name: str | None = None) -> OcrEngine:
    """The process-wide engine called ``name`` (default: ``$IAPO_BENCH_OCR_ENGINE`` or RapidOCR)."""
    name = name or os.environ.get("IAPO_BENCH_OCR_ENGINE", "rapidocr")
    if name not in ENGINES:
        raise ValueError(f"unknown OCR engine {name!r}; known: {', '.join(ENGINES)}")
    with _INSTANCES_LOCK:
        if name not in _INSTANCES:
            _INSTANCES[name] = ENGINES[name]()
        return _INSTANCES[name]


@tool
def ocr(task: Hidden[Task], box: PixelBox | None = None) -> ToolResult:
    """Read the text in the image, or in a region of it, with an OCR engine.

    The engine reads the full-resolution original, so it reads print too fine to see in the
    image as shown. Returns one line per text line found: the text, its box [x0, y0, x1, y1]
    in pixels of the first image, and the engine's confidence.

    Args:
        box: The region as [x0, y0, x1, y1] in pixels of the first image; the whole image
            when left out.
    """
    height, width = task.image.shape[:2]
    region = clip_box(task, box) if box is not None else Box(x0=0, y0=0, x1=width, y1=height)
    source = task.source_image
    sx, sy = source.shape[1] / width, source.shape[0] / height
    window = source[round(region.y0 * sy) : round(region.y1 * sy),
                    round(region.x0 * sx) : round(region.x1 * sx)]  # fmt: skip
    try:
        lines = get_engine().read(window)
    except (RuntimeError, subprocess.SubprocessError, OSError) as error:
        raise ToolError(f"the OCR engine failed: {error}") from error
    focus = Focus(boxes=(region,))  # the whole image when no box is given
    if not lines:
        return ToolResult(text=f"No text found in {region.as_list()}.", focus=focus)
    rows = []
    for line in lines:
        b = line.box
        shown = [
            region.x0 + math.floor(b.x0 / sx),
            region.y0 + math.floor(b.y0 / sy),
            region.x0 + math.ceil(b.x1 / sx),
            region.y0 + math.ceil(b.y1 / sy),
        ]
        rows.append(f"{line.text}  {shown}  {line.score:.2f}")
    return ToolResult(text="\n".join(rows), focus=focus)

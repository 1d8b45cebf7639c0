"""ToolUse-OCR-v0: receipts, invoices, forms, shop signs, product labels and pages.

A task's kind is ``KINDS[seed % len(KINDS)]``; its style, content and question are drawn from
a generator seeded by the task's key. The document is drawn at
:data:`~iapo_bench.scene.SOURCE_SCALE` times the shown size, photographed (rotated, blurred,
JPEG-compressed, more so at higher difficulty), and shown reduced to 1x: the field's value is
fine print there (4 pixels), and ``zoom`` and ``ocr``, which read the source, make it
legible. Labels and headings stay legible, so the image says where to look.
"""

from __future__ import annotations

import io
import math

import numpy as np
from PIL import Image

from iapo_bench.core import Box, Element, Split, Task
from iapo_bench.envs.family import TaskFamily
from iapo_bench.envs.ocr.content import choose
from iapo_bench.envs.ocr.documents import BUILDERS, KINDS, Style
from iapo_bench.scene import SOURCE_SCALE
from iapo_bench.tools.base import Tool
from iapo_bench.tools.image import zoom
from iapo_bench.tools.ocr import ocr

__all__ = ["EFFECTS", "VALUE_SIZE", "OcrFamily"]

VALUE_SIZE = 4.0
"""Font size of field values in shown pixels at every difficulty: too small to read as shown
(at 5 pixels RapidOCR still reads 42% of them, at 4.5 a quarter)."""

EFFECTS = (
    {"rotate": 0.0, "blur": 0.0, "jpeg": None},
    {"rotate": 0.8, "blur": 0.4, "jpeg": 90},
    {"rotate": 1.5, "blur": 0.6, "jpeg": 80},
    {"rotate": 3.0, "blur": 0.8, "jpeg": 70},
)
"""The photograph's degradations by difficulty: the largest rotation (degrees), the Gaussian
blur radius (source pixels) and the JPEG quality."""

_PAPERS = ((255, 255, 255), (250, 247, 238), (244, 244, 240), (255, 252, 245))
_INKS = ((20, 20, 20), (45, 45, 55), (25, 30, 70))
_ACCENTS = ((150, 30, 40), (20, 80, 140), (30, 110, 70), (110, 60, 140), (180, 100, 20))


def _style(rng: np.random.Generator) -> Style:
    face = choose(rng, ("sans", "serif"))
    return Style(
        paper=_PAPERS[int(rng.integers(len(_PAPERS)))],
        ink=_INKS[int(rng.integers(len(_INKS)))],
        accent=_ACCENTS[int(rng.integers(len(_ACCENTS)))],
        face=face,
        value_face=choose(rng, (face, "mono", "sans-oblique")),
        label=float(rng.uniform(10, 12)),
        value=VALUE_SIZE,
    )


def _rotate_box(box: Box, angle: float, center: tuple[float, float], size: tuple[int, int]) -> Box:
    """The bounding box of ``box`` turned by ``angle`` degrees (Pillow's sense) about center."""
    cos, sin = math.cos(math.radians(angle)), math.sin(math.radians(angle))
    xs, ys = [], []
    for x, y in ((box.x0, box.y0), (box.x1, box.y0), (box.x0, box.y1), (box.x1, box.y1)):
        dx, dy = x - center[0], y - center[1]
        # Pillow turns counter-clockwise on screen: y points down.
        xs.append(center[0] + dx * cos + dy * sin)
        ys.append(center[1] - dx * sin + dy * cos)
    return Box(
        x0=max(0, math.floor(min(xs))),
        y0=max(0, math.floor(min(ys))),
        x1=min(size[0], math.ceil(max(xs))),
        y1=min(size[1], math.ceil(max(ys))),
    )


def _photograph(
    image: Image.Image, rng: np.random.Generator, difficulty: int, paper: tuple[int, int, int]
) -> tuple[Image.Image, float]:
    """Degrade a source render as a photo would; returns it and the rotation applied.

    OpenCV (a dependency of RapidOCR) turns and blurs a megapixel in a few milliseconds, in
    bit-exact fixed point; Pillow takes ten times as long.
    """
    import cv2  # imported here: only OCR tasks need it, and it takes a moment

    effects = EFFECTS[difficulty]
    angle = float(rng.uniform(-1, 1)) * effects["rotate"]
    pixels = np.asarray(image)
    if angle:
        center = (pixels.shape[1] / 2, pixels.shape[0] / 2)
        matrix = cv2.getRotationMatrix2D(center, angle, 1.0)
        size = (pixels.shape[1], pixels.shape[0])
        pixels = cv2.warpAffine(
            pixels, matrix, size, flags=cv2.INTER_LINEAR, borderValue=tuple(map(int, paper))
        )
    if effects["blur"]:
        pixels = cv2.GaussianBlur(pixels, (0, 0), effects["blur"])
    image = Image.fromarray(pixels)
    if effects["jpeg"] is not None:
        buffer = io.BytesIO()
        image.save(buffer, format="JPEG", quality=effects["jpeg"])
        image = Image.open(buffer).convert("RGB")
    return image, angle


class OcrFamily(TaskFamily):
    """Text-heavy documents with questions about one field printed in fine print.

    >>> task = OcrFamily().generate("train", 2, 0)
    >>> task.data["kind"], task.answer_type.value, task.tool_names
    ('receipt', 'number', ('ocr', 'zoom'))
    """

    name = "ocr"
    version = "v0"
    revision = 1
    env_id = "ToolUse-OCR-v0"
    difficulties = (0, 1, 2, 3)
    default_difficulty = 1
    default_rubric = "exact_match:1"

    @property
    def tools(self) -> tuple[Tool, ...]:
        """``ocr`` (the whole image or a region) and ``zoom``."""
        return (ocr, zoom)

    def _generate(self, split: Split, difficulty: int, seed: int) -> Task:
        rng = np.random.default_rng([seed, difficulty, 0x0C12])
        kind = KINDS[seed % len(KINDS)]
        style = _style(rng)
        document = BUILDERS[kind](rng, style)
        field = document.fields[int(rng.integers(len(document.fields)))]
        width, height = document.sheet.width, document.height
        source, angle = _photograph(document.sheet.render(height), rng, difficulty, style.paper)
        shown = source.reduce(SOURCE_SCALE)  # a box filter: what a downscaled photo shows
        elements = tuple(
            Element(
                kind=e.kind,
                key=e.key,
                box=_rotate_box(e.box, angle, (width / 2, height / 2), (width, height)),
                text=e.text,
            )
            for e in document.sheet.elements
        )
        return Task(
            id=self.task_id(split, difficulty, seed),
            family=self.name,
            version=self.version,
            split=split,
            difficulty=difficulty,
            seed=seed,
            image=np.asarray(shown),
            source_image=np.asarray(source),
            question=field.question,
            answer=field.answer,
            answer_type=field.answer_type,
            question_kind=f"{kind}:{field.key.split(':')[0]}",
            evidence=(field.key,),
            elements=elements,
            tool_names=("ocr", "zoom"),
            data={
                "kind": kind,
                "field": field.key,
                "label": field.label,
                "value": field.value,
                "rotation": angle,
            },
        )

"""Vision-language models by name: the shipped tiny VLM, random ones of known shapes, folders.

One rule for every place that loads a model (the policies, the trainer, the judge's and the
attribution's teachers):

- ``tiny-vlm``: the warm-started tiny VLM shipped in the package (offline);
- ``random:WIDTHxLAYERS`` (e.g. ``random:128x2``): a random-weight Qwen2.5-VL of our tiny
  family, seeded, with the project's tokenizer (tests and the small-scale reproduction);
- ``random:qwen2.5-vl-3b`` / ``random:qwen2.5-vl-7b``: random weights in Qwen2.5-VL-3B's or
  -7B's published shape, with the project's tokenizer and image processor (GPU benchmarks:
  the cost of a real model, no download);
- anything else: a local folder (or a hub id, when online) holding a model and a processor.

Without torchvision ``AutoProcessor`` may fail, or fall back to a bare tokenizer, for
Qwen2.5-VL; the image-only processor (:mod:`iapo_bench.models.processor`) is used then.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

__all__ = ["TINY_VLM_PATH", "load_vlm", "qwen2_5_vl_config", "state_fingerprint", "weights_sha256"]

TINY_VLM_PATH = Path(__file__).resolve().parent / "assets" / "tiny-vlm"
"""The warm-started tiny VLM shipped with the package (``scripts/warm_start_tiny_vlm.py``)."""

# The published shapes (config.json of Qwen/Qwen2.5-VL-3B-Instruct and -7B-Instruct).
_QWEN_SHAPES: dict[str, dict[str, Any]] = {
    "qwen2.5-vl-3b": {
        "text": {"hidden_size": 2048, "intermediate_size": 11008, "num_hidden_layers": 36,
                 "num_attention_heads": 16, "num_key_value_heads": 2, "tie": True},
        "vision_out": 2048,
    },
    "qwen2.5-vl-7b": {
        "text": {"hidden_size": 3584, "intermediate_size": 18944, "num_hidden_layers": 28,
                 "num_attention_heads": 28, "num_key_value_heads": 4, "tie": False},
        "vision_out": 3584,
    },
}  # fmt: skip

_RANDOM = re.compile(r"\Arandom:(?:(?P<width>\d+)x(?P<layers>\d+)|(?P<name>qwen2\.5-vl-[37]b))\Z")


def qwen2_5_vl_config(name: str, tokenizer: Any) -> Any:
    """A ``Qwen2_5_VLConfig`` in the published shape ``name`` for our tokenizer's ids."""
    from transformers import Qwen2_5_VLConfig

    shape = _QWEN_SHAPES[name]
    text = dict(shape["text"])
    tie = text.pop("tie")

    def token(name: str) -> int:
        return int(tokenizer.convert_tokens_to_ids(name))

    return Qwen2_5_VLConfig(
        text_config={
            **text,
            "vocab_size": 151_936,  # the real embedding table; our ids are a prefix of it
            "max_position_embeddings": 128_000,
            "rope_scaling": {"type": "mrope", "mrope_section": [16, 24, 24]},
            "rope_theta": 1_000_000.0,
            "tie_word_embeddings": tie,
            "bos_token_id": token("<|endoftext|>"),
            "eos_token_id": token("<|im_end|>"),
            "pad_token_id": token("<|endoftext|>"),
        },
        vision_config={
            "depth": 32,
            "hidden_size": 1280,
            "intermediate_size": 3420,
            "num_heads": 16,
            "out_hidden_size": shape["vision_out"],
            "patch_size": 14,
            "spatial_merge_size": 2,
            "temporal_patch_size": 2,
            "window_size": 112,
            "fullatt_block_indexes": [7, 15, 23, 31],
        },
        image_token_id=token("<|image_pad|>"),
        video_token_id=token("<|video_pad|>"),
        vision_start_token_id=token("<|vision_start|>"),
        vision_end_token_id=token("<|vision_end|>"),
        tie_word_embeddings=tie,
    )


def load_vlm(spec: str, seed: int = 0, dtype: Any = None) -> tuple[Any, Any]:
    """The model and processor ``spec`` names (see the module docstring), in eval mode.

    ``seed`` seeds random weights; ``dtype`` (a torch dtype) converts the model. Raises
    ``ValueError`` naming the problem for a spec that names nothing loadable.
    """
    import torch
    from transformers import AutoModelForImageTextToText, AutoProcessor
    from transformers.processing_utils import ProcessorMixin

    from iapo_bench.models.processor import ImageOnlyQwen2_5_VLProcessor, build_processor
    from iapo_bench.models.tiny import build_tiny_vlm

    random = _RANDOM.match(spec)
    if random and random["width"]:
        model, processor = build_tiny_vlm(seed, int(random["width"]), int(random["layers"]))
    elif random:
        from transformers import Qwen2_5_VLForConditionalGeneration

        processor = build_processor(max_pixels=28 * 28 * 1024)
        torch.manual_seed(seed)
        config = qwen2_5_vl_config(random["name"], processor.tokenizer)
        with torch.device("cuda" if torch.cuda.is_available() else "cpu"):
            model = Qwen2_5_VLForConditionalGeneration(config)
        model.generation_config.pad_token_id = processor.tokenizer.pad_token_id
        model.generation_config.eos_token_id = processor.tokenizer.eos_token_id
    elif spec.startswith("random:"):
        raise ValueError(
            f"model {spec!r}: a random model is random:WIDTHxLAYERS (e.g. random:128x2), "
            "random:qwen2.5-vl-3b or random:qwen2.5-vl-7b"
        )
    else:
        path = str(TINY_VLM_PATH) if spec == "tiny-vlm" else spec
        local = Path(path).expanduser()
        if not local.exists() and (local.is_absolute() or path.startswith((".", "~"))):
            raise ValueError(f"model {spec!r}: no such folder {path!r}")
        try:
            model = AutoModelForImageTextToText.from_pretrained(path)
        except (OSError, ValueError) as error:
            first = str(error).strip().splitlines()[0] if str(error).strip() else repr(error)
            raise ValueError(
                f"model {spec!r}: cannot load a model from {path!r}: {first}"
            ) from None
        try:
            processor = AutoProcessor.from_pretrained(path)
        except (AttributeError, ValueError, OSError):  # wants a video processor: no torchvision
            processor = None
        if not isinstance(processor, ProcessorMixin):
            processor = ImageOnlyQwen2_5_VLProcessor.from_pretrained(path)
    if dtype is not None:
        model = model.to(dtype)
    return model.eval(), processor


def state_fingerprint(model: Any) -> str:
    """SHA-256 over a model's state dict in name order (every value, as float32 or int)."""
    import hashlib

    digest = hashlib.sha256()
    for key, tensor in sorted(model.state_dict().items()):
        data = tensor.detach().cpu()
        data = data.float() if data.is_floating_point() else data  # numpy has no bfloat16
        digest.update(key.encode())
        digest.update(data.contiguous().numpy().tobytes())
    return digest.hexdigest()


_FILE_HASHES: dict[tuple[str, int, int], str] = {}


def weights_sha256(model: Any) -> str:
    """What weights a model holds: its folder's ``*.safetensors`` files' SHA-256, else its state.

    A model loaded from a folder and not changed since is named by its files (memoised by
    path, size and modification time, so a folder overwritten by further training is hashed
    anew); a model built or changed in memory, by :func:`state_fingerprint`. Results,
    caches and run metadata carry it, so two different weights are never mixed under one name.
    """
    import hashlib

    folder = Path(str(getattr(model, "name_or_path", "") or ""))
    files = sorted(folder.glob("*.safetensors")) if folder.is_dir() else []
    if not files or getattr(model, "training", False):
        return state_fingerprint(model)
    digest = hashlib.sha256()
    for path in files:
        stat = path.stat()
        key = (str(path), stat.st_size, stat.st_mtime_ns)
        if key not in _FILE_HASHES:
            file_digest = hashlib.sha256()
            with path.open("rb") as handle:
                for block in iter(lambda: handle.read(1 << 24), b""):
                    file_digest.update(block)
            _FILE_HASHES[key] = file_digest.hexdigest()
        digest.update(_FILE_HASHES[key].encode())
    return digest.hexdigest()

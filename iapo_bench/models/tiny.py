"""The tiny VLM: a Qwen2.5-VL at width 64 with two layers, built from a config in the package.

It runs ``generate`` on a CPU in milliseconds, so tests build random-weight ones everywhere;
the warm-started weights (behaviour cloning on oracle episodes) are the embedded default
model. Nothing is downloaded: the config is here and the tokenizer ships with the package.
"""

from __future__ import annotations

from typing import Any

__all__ = ["build_tiny_vlm", "tiny_config"]


def tiny_config(tokenizer: Any, hidden: int = 64, layers: int = 2) -> Any:
    """A ``Qwen2_5_VLConfig`` for ``tokenizer``'s vocabulary: width ``hidden``, ``layers`` deep."""
    from transformers import Qwen2_5_VLConfig

    ids = {name: tokenizer.convert_tokens_to_ids(name) for name in tokenizer.all_special_tokens}
    heads = max(1, hidden // 16)
    return Qwen2_5_VLConfig(
        text_config={
            "vocab_size": len(tokenizer),
            "hidden_size": hidden,
            "intermediate_size": 2 * hidden,
            "num_hidden_layers": layers,
            "num_attention_heads": heads,
            "num_key_value_heads": max(1, heads // 2),
            "max_position_embeddings": 8192,
            # Multimodal RoPE over (time, height, width): the sections sum to half a head.
            "rope_scaling": {"type": "mrope", "mrope_section": [2, 3, 3]},
            "tie_word_embeddings": True,
            "bos_token_id": ids.get("<|endoftext|>"),
            "eos_token_id": tokenizer.convert_tokens_to_ids("<|im_end|>"),
            "pad_token_id": tokenizer.convert_tokens_to_ids("<|endoftext|>"),
        },
        vision_config={
            "depth": layers,
            "hidden_size": hidden,
            "intermediate_size": 2 * hidden,
            "num_heads": heads,
            "out_hidden_size": hidden,
            "patch_size": 14,
            "spatial_merge_size": 2,
            "temporal_patch_size": 2,
            "window_size": 112,
            "fullatt_block_indexes": [layers - 1],
        },
        image_token_id=tokenizer.convert_tokens_to_ids("<|image_pad|>"),
        video_token_id=tokenizer.convert_tokens_to_ids("<|video_pad|>"),
        vision_start_token_id=tokenizer.convert_tokens_to_ids("<|vision_start|>"),
        vision_end_token_id=tokenizer.convert_tokens_to_ids("<|vision_end|>"),
        tie_word_embeddings=True,
    )


def build_tiny_vlm(seed: int = 0, hidden: int = 64, layers: int = 2) -> tuple[Any, Any]:
    """A random-weight tiny Qwen2.5-VL and its processor, seeded, in eval mode."""
    import torch
    from transformers import Qwen2_5_VLForConditionalGeneration

    from iapo_bench.models.processor import build_processor

    processor = build_processor()
    torch.manual_seed(seed)
    model = Qwen2_5_VLForConditionalGeneration(tiny_config(processor.tokenizer, hidden, layers))
    model.generation_config.pad_token_id = processor.tokenizer.pad_token_id
    model.generation_config.eos_token_id = processor.tokenizer.eos_token_id
    return model.eval(), processor

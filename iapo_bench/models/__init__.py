"""Model-side pieces: the tiny VLM, its image-only processor, the chat template, inputs.

- :mod:`~iapo_bench.models.template`: the chat template and the response-parsing template.
- :mod:`~iapo_bench.models.tokenizer`: the byte-level BPE tokenizer trained on the project's
  texts, shipped as ``assets/tokenizer.json``.
- :mod:`~iapo_bench.models.processor`: ``Qwen2_5_VLProcessor`` without a video processor.
- :mod:`~iapo_bench.models.tiny`: a Qwen2.5-VL at width 64 with two layers, from a config.
- :mod:`~iapo_bench.models.inputs`: chat messages and images to model inputs; the one place
  for image/token bookkeeping.
- :mod:`~iapo_bench.models.logprobs`: log-probabilities of completions, with the model's own
  3-D positions; generation, behaviour cloning and the trainer agree through it.

Everything that needs torch or transformers imports them when called (the ``[train]`` extra).
"""

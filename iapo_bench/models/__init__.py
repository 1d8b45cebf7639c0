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
- :mod:`~iapo_bench.models.blocks`: which prompt block (system, query, image, tools, tool
  outputs) each token comes from, and each image token's cell of its image.
- :mod:`~iapo_bench.models.embedding`: the embedding path: input embeddings with the image
  features merged in, the model's 3-D positions, and the decision's log-likelihood f.
- :mod:`~iapo_bench.models.attribution`: integrated gradients, gradient x input and
  occlusion of f over the prompt blocks (IAPO's model side) and their one config.
- :mod:`~iapo_bench.models.papo`: PAPO's KL between the policy on an image and on a
  patch-masked copy.

Everything that needs torch or transformers imports them when called (the ``[train]`` extra).
"""

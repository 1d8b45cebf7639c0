"""ToolUse-ImageSearch-v0: a seeded local gallery, its query images and descriptions, and tasks.

- :mod:`~iapo_bench.envs.search.vocabulary`: the words and colours items are made of.
- :mod:`~iapo_bench.envs.search.items`: item specs (look and metadata), drawn from seeds.
- :mod:`~iapo_bench.envs.search.render`: drawing items.
- :mod:`~iapo_bench.envs.search.gallery`: the registered gallery source and its defaults.
- :mod:`~iapo_bench.envs.search.queries`: query images and descriptions.
- :mod:`~iapo_bench.envs.search.family`: :class:`SearchFamily`.
- :mod:`~iapo_bench.envs.search.recall`: recall@1 and recall@5 of the index on tasks.
"""

from iapo_bench.envs.search.family import SearchFamily
from iapo_bench.envs.search.gallery import build_gallery, get_gallery
from iapo_bench.envs.search.recall import RecallReport, measure_recall

__all__ = ["RecallReport", "SearchFamily", "build_gallery", "get_gallery", "measure_recall"]

"""A local image gallery and its search index: BM25 over text, colour/shape features over pixels.

The data structures the search tools read; what the items look like is up to a
:class:`GallerySource`, which a task family registers (tools never import envs: the family
installs its source here, and a task names it in ``task.data["gallery"]``).

- :class:`GalleryItem`: one item's metadata (id, kind, title, price, maker, year, tags, caption).
- :class:`GallerySource`: what makes a gallery: items' metadata and each item's full image.
- :func:`register_gallery_source` / :func:`gallery_source`: the registry of sources by name.
- :func:`tokenize`, :class:`BM25Index`: Okapi BM25 (k1 = 1.5, b = 0.75) over numpy postings.
- :func:`image_features`, :func:`item_features`, :func:`similarity`: feature vectors computed
  from pixels with numpy (colour, layout, gradient orientation, edge density; no model, no
  download). Each item is indexed by its whole image and five sub-windows of two thirds of
  its side, so a crop of an item finds it too.
- :class:`Gallery`: items, their feature rows and text index, with text and image search.
- :func:`build_gallery`, :func:`get_gallery`, :func:`cache_root`, :func:`cache_dir`: build
  one, or load it from the disk cache (building and caching it on a miss), once per process.

The cache holds each item's metadata (JSON) and feature rows (``.npz``), never pixels: an
item's full image is re-rendered from its source on demand (about a millisecond), which keeps
a 10,000-item cache near 35 MB and lets ``open_item`` show the image at full resolution. The
BM25 index is rebuilt from the metadata on load (tens of milliseconds). A cache folder is
keyed by the source's fingerprint and this module's code, so an edited generator or feature
never reads stale rows. Both files are written atomically (temporary file, then
``os.replace``), the JSON last, and a folder that fails any check on load is rebuilt.
"""

from iapo_bench.cache import cache_root
from iapo_bench.tools.gallery.bm25 import STOPWORDS, BM25Index, tokenize
from iapo_bench.tools.gallery.features import (
    FEATURE_SIDE,
    FEATURES_VERSION,
    WINDOW_DISCOUNT,
    WINDOWS,
    image_features,
    item_features,
    similarity,
)
from iapo_bench.tools.gallery.store import (
    Gallery,
    GalleryItem,
    GallerySource,
    Hit,
    build_gallery,
    cache_dir,
    gallery_source,
    get_gallery,
    item_id,
    register_gallery_source,
)

__all__ = [
    "FEATURES_VERSION",
    "FEATURE_SIDE",
    "STOPWORDS",
    "WINDOWS",
    "WINDOW_DISCOUNT",
    "BM25Index",
    "Gallery",
    "GalleryItem",
    "GallerySource",
    "Hit",
    "build_gallery",
    "cache_dir",
    "cache_root",
    "gallery_source",
    "get_gallery",
    "image_features",
    "item_features",
    "item_id",
    "register_gallery_source",
    "similarity",
    "tokenize",
]

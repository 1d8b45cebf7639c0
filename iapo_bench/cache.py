"""Where the package keeps what it builds on first use (galleries, judge verdicts).

Beside :mod:`iapo_bench.core` at the bottom of the package, so tools and rewards share one
rule without importing each other.
"""

from __future__ import annotations

import os
from pathlib import Path

__all__ = ["cache_root"]


def cache_root() -> Path:
    """``$IAPO_BENCH_CACHE``, else ``$XDG_CACHE_HOME/iapo_bench``, else ``~/.cache/iapo_bench``."""
    if os.environ.get("IAPO_BENCH_CACHE"):
        return Path(os.environ["IAPO_BENCH_CACHE"])
    xdg = os.environ.get("XDG_CACHE_HOME")
    return (Path(xdg) if xdg else Path.home() / ".cache") / "iapo_bench"

"""TOML config files (runs, training), read the same way everywhere: ``tomllib`` or ``tomli``."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - Python 3.10
    import tomli as tomllib

__all__ = ["read_toml"]


def read_toml(path: str | Path) -> dict[str, Any]:
    """The table a TOML file holds; ``ValueError`` naming the file when it cannot be read."""
    path = Path(path)
    try:
        return tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as error:
        raise ValueError(f"{path}: {error}") from None

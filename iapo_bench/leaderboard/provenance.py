"""Where a run's numbers come from: versions, engines, judges, and the frozen lists' bytes.

- :func:`package_version`, :func:`git_version`, :func:`library_versions`: the code that ran.
  ``git_version`` finds the checkout a package was installed from (``pip install .`` copies
  the package out of it), through the install's PEP 610 ``direct_url.json``.
- :func:`rubric_provenance`: what each reward of a rubric that depends on a model or a
  service says about itself (the LLM judge: model, endpoint, template hash).
- :func:`agent_provenance`: each policy's model, chat template and sampling settings.
- :func:`env_mismatches`: how the running envs differ from the frozen test lists they claim
  to score on (version hash, rendering libraries); :class:`EnvMismatchError` when they do.
"""

from __future__ import annotations

import functools
import json
import subprocess
import sys
from collections.abc import Iterable, Mapping
from importlib import metadata
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlparse

from iapo_bench.envs.family import TaskFamily, rendering_environment
from iapo_bench.rewards.rubric import Rubric

__all__ = [
    "LIBRARIES",
    "EnvMismatchError",
    "agent_provenance",
    "env_mismatches",
    "git_version",
    "library_versions",
    "package_version",
    "rubric_provenance",
]

LIBRARIES = (
    "gymnasium",
    "numpy",
    "pillow",
    "pydantic",
    "pandas",
    "matplotlib",
    "rapidocr",
    "onnxruntime",
    "opencv-python-headless",
    "torch",
    "transformers",
    "openai",
)
"""The libraries whose versions can change a score; recorded with every run."""


def package_version() -> str:
    """iapo-bench's installed version (``0+unknown`` from a bare source tree)."""
    try:
        return metadata.version("iapo-bench")
    except metadata.PackageNotFoundError:
        return "0+unknown"


def _source_checkout() -> Path:
    """The folder the package was installed from, else the folder it runs from."""
    here = Path(__file__).resolve().parents[2]
    try:
        text = metadata.distribution("iapo-bench").read_text("direct_url.json")
    except metadata.PackageNotFoundError:
        return here
    if not text:
        return here
    url = json.loads(text).get("url", "")
    parsed = urlparse(url)
    if parsed.scheme != "file":  # installed from an index or a VCS URL: no checkout here
        return here
    return Path(unquote(parsed.path))


@functools.cache
def git_version() -> str | None:
    """``git describe --always --dirty --tags`` of the checkout the package came from, if any."""
    try:
        out = subprocess.run(
            ["git", "describe", "--always", "--dirty", "--tags"],
            cwd=_source_checkout(),
            capture_output=True,
            text=True,
            timeout=5,
            check=False,
        )
    except (OSError, subprocess.SubprocessError):
        return None
    return out.stdout.strip() or None if out.returncode == 0 else None


def library_versions() -> dict[str, str]:
    """Python's version and those of :data:`LIBRARIES` that are installed."""
    versions = {"python": sys.version.split()[0]}
    for name in LIBRARIES:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            continue
    return versions


def rubric_provenance(rubric: Rubric) -> dict[str, Any]:
    """What each reward of ``rubric`` with a ``provenance`` attribute reports, by name."""
    out: dict[str, Any] = {}
    for name, (reward, _) in rubric.rewards.items():
        described = getattr(reward, "provenance", None)
        if described is not None:
            out[name] = described
    return out


def agent_provenance(policy: Any) -> dict[str, Any]:
    """A policy's model, chat template hash and sampling settings (None where it has none)."""
    return {
        "model": getattr(policy, "model_name", None),
        "chat_template_hash": getattr(policy, "chat_template_hash", None),
        "settings": dict(getattr(policy, "settings", None) or {}),
    }


class EnvMismatchError(ValueError):
    """The running envs do not make the bytes their frozen test lists were frozen with."""


def env_mismatches(families: Iterable[TaskFamily]) -> dict[str, dict[str, list[str]]]:
    """For each env whose running version differs from its frozen list: field -> [frozen, now].

    Compared: the version hash and every rendering library (Pillow, FreeType, numpy, fonts,
    OpenCV). An empty dict means every frozen list is scored on the bytes it was frozen with.
    """
    now = rendering_environment()
    out: dict[str, dict[str, list[str]]] = {}
    for family in families:
        frozen = family.frozen_test_list()
        differences: dict[str, list[str]] = {}
        if frozen.version_hash != family.version_hash:
            differences["version_hash"] = [frozen.version_hash, family.version_hash]
        for key in sorted(set(frozen.environment) | set(now)):
            before, after = frozen.environment.get(key, ""), now.get(key, "")
            if before != after:
                differences[key] = [before, after]
        if differences:
            out[family.env_id] = differences
    return out


def describe_mismatches(mismatches: Mapping[str, Mapping[str, list[str]]]) -> str:
    """One line per env: what differs from its frozen list."""
    return "; ".join(
        f"{env_id}: "
        + ", ".join(f"{key} frozen {old!r}, running {new!r}" for key, (old, new) in diff.items())
        for env_id, diff in mismatches.items()
    )

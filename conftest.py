"""Collection rules for the whole repository (tests and the package's doctests).

- Slow tests (``@pytest.mark.slow``: the tool-need proofs, fresh freezes of the test lists,
  the heuristic's measured margins) are opt-in: ``pytest -m slow`` runs them, ``pytest -m
  "slow or not slow"`` runs everything; CI (``.ci/run``) runs both sets.
- Doctests of modules that need an extra skip, with the reason, when the extra is missing:
  the README's test command installs only ``[test]``; CI installs ``[train,judge]`` too. A
  module that cannot even be imported without its extra is not collected at all.
"""

import importlib.util

import pytest

# Package folders or modules, what their doctests need, and the extra that brings it.
_NEEDS = {
    "iapo_bench/models/": (("torch", "transformers", "tokenizers"), "train"),
    "iapo_bench/train/": (("torch", "transformers"), "train"),
    "iapo_bench/rewards/attribution.py": (("torch", "transformers"), "train"),
    "iapo_bench/adapters/": (("torch", "transformers", "trl"), "train"),
}
# Modules that subclass or import an extra's classes at import time.
_IMPORT_TIME = {
    "iapo_bench/models/processor.py": ("transformers",),
    "iapo_bench/adapters/verifiers.py": ("verifiers",),
}


def _missing(modules):
    return [m for m in modules if importlib.util.find_spec(m) is None]


collect_ignore_glob = [path for path, needs in _IMPORT_TIME.items() if _missing(needs)]


def pytest_collection_modifyitems(config, items):
    """Skip the doctests of modules whose extra is missing, naming it."""
    for item in items:
        if not isinstance(item, pytest.DoctestItem):
            continue
        path = str(item.path).replace("\\", "/")
        for prefix, (modules, extra) in _NEEDS.items():
            missing = _missing(modules)
            if f"/{prefix}" in path and missing:
                reason = f"needs the [{extra}] extra ({', '.join(missing)} not installed)"
                item.add_marker(pytest.mark.skip(reason=reason))

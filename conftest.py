"""Collection rules for the whole repository (tests and the package's doctests).

Modules that subclass transformers classes at import time cannot be imported without the
``[train]`` extra; their doctests are skipped when transformers is not installed (the
README's test command installs only ``[test]``; CI installs ``[train,judge]`` too).
"""

import importlib.util

collect_ignore_glob = []
if importlib.util.find_spec("transformers") is None:
    collect_ignore_glob += ["iapo_bench/models/processor.py"]

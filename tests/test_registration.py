"""The package registers its Gymnasium ids without importing anything until it is used."""

import subprocess
import sys

import pytest

from iapo_bench._registration import ENTRY_POINT, ENV_IDS
from iapo_bench.envs import families


def run(code: str) -> str:
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=False
    )
    assert done.returncode == 0, done.stderr
    return done.stdout.strip()


def test_the_static_ids_are_the_families_ids():
    assert {f.env_id: f.name for f in families().values()} == ENV_IDS
    module, _, name = ENTRY_POINT.partition(":")
    assert getattr(__import__(module, fromlist=[name]), name).__name__ == "ToolUseEnv"


def test_the_bottom_layer_imports_alone():
    loaded = run(
        "import sys, iapo_bench.core, iapo_bench.chat\n"
        "print(sorted(m for m in sys.modules if m.startswith(('iapo_bench', 'gymnasium'))))"
    )
    assert (
        loaded == "['iapo_bench', 'iapo_bench._registration', 'iapo_bench.chat', 'iapo_bench.core']"
    )


@pytest.mark.parametrize(
    "imports",
    [
        "import iapo_bench\nimport gymnasium as gym",  # gymnasium after: the hook registers
        "import gymnasium as gym\nimport iapo_bench",  # gymnasium before: registered at once
        "import iapo_bench.core\nimport gymnasium as gym",  # any import of the package will do
    ],
)
def test_gym_make_works_whatever_the_import_order(imports):
    out = run(
        f"{imports}\nenv = gym.make('ToolUse-OCR-v0')\nprint(env.reset(seed=2)[1]['task_id'])"
    )
    assert out == "ocr/v0/train/d1/2"


def test_subpackages_load_on_first_use():
    assert run("import iapo_bench\nprint(iapo_bench.envs.env_ids()[0])") == "ToolUse-Chart-v0"
    with pytest.raises(AssertionError, match="no attribute 'nope'"):
        run("import iapo_bench\niapo_bench.nope")

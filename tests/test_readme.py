import re
import runpy
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_readme_python_examples_run_and_score(capsys):
    """Every Python block of the README runs (in order, one namespace) and solves its task."""
    readme = (ROOT / "README.md").read_text()
    blocks = re.findall(r"```python\n(.*?)```", readme, re.DOTALL)
    assert len(blocks) == 3, "one worked example per family"
    namespace: dict = {}
    for i, block in enumerate(blocks):
        exec(compile(block, f"README.md block {i}", "exec"), namespace)
        assert namespace["reward"] == 1.0, i
        assert namespace["terminated"] is True, i
    out = capsys.readouterr().out
    assert "{'relaxed_accuracy': 1.0, 'exact_match': 1.0}" in out
    assert out.count("1.0 {'exact_match': 1.0}") == 2


def test_readme_quick_start_matches_ci():
    readme = (ROOT / "README.md").read_text()
    ci = (ROOT / ".ci" / "run").read_text()
    test_command = re.search(r"TEST_COMMAND='(.*)'", ci).group(1)
    assert f"\n{test_command}\n" in readme
    assert "\npip install . && iapo-bench run\n" in readme


def test_docs_example_script_runs(tmp_path, monkeypatch):
    (tmp_path / "docs").mkdir()
    monkeypatch.chdir(tmp_path)
    runpy.run_path(str(ROOT / "docs" / "example.py"))
    for name in ("example", "example-ocr", "example-search"):
        assert (tmp_path / "docs" / f"{name}-tool.png").exists()

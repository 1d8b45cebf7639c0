import re
import runpy
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_readme_python_examples_run_and_score(capsys):
    """Every worked example of the README runs on its own (a fresh namespace each) and solves
    its task, as a reader who copies one block would run it."""
    readme = (ROOT / "README.md").read_text()
    blocks = re.findall(r"```python\n(.*?)```", readme, re.DOTALL)
    examples = [b for b in blocks if "env.step(" in b]
    assert len(examples) == 3, "one worked example per family"
    for i, block in enumerate(examples):
        namespace: dict = {}
        exec(compile(block, f"README.md block {i}", "exec"), namespace)
        assert namespace["reward"] == 1.0, i
        assert namespace["terminated"] is True, i
    out = capsys.readouterr().out
    assert "{'relaxed_accuracy': 1.0, 'exact_match': 1.0}" in out
    assert out.count("1.0 {'exact_match': 1.0}") == 2


def test_readme_links_resolve():
    readme = (ROOT / "README.md").read_text()
    for target in re.findall(r"\]\(((?!https?:)[^)#]+)\)", readme):
        assert (ROOT / target).exists(), target


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

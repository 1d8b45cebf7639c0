import re
import runpy
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_readme_python_example_runs_and_scores(capsys):
    readme = (ROOT / "README.md").read_text()
    blocks = re.findall(r"```python\n(.*?)```", readme, re.DOTALL)
    assert blocks, "the README has a Python example"
    namespace: dict = {}
    exec(compile(blocks[0], "README.md", "exec"), namespace)
    assert namespace["reward"] == 1.0
    assert namespace["terminated"] is True
    assert "{'relaxed_accuracy': 1.0, 'exact_match': 1.0}" in capsys.readouterr().out


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
    assert (tmp_path / "docs" / "example-zoom.png").exists()

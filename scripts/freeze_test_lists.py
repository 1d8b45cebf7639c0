"""Regenerate the frozen test list of every registered family.

Run after a change of task bytes or scoring (bump the family's ``revision`` first):

    python scripts/freeze_test_lists.py

Writes ``iapo_bench/envs/frozen/{family}-{version}-test.json`` with the task ids, the env
version hash, the rendering libraries' versions and the content hash of the tasks.
"""

from pathlib import Path

from iapo_bench.envs import families

FROZEN = Path(__file__).resolve().parents[1] / "iapo_bench" / "envs" / "frozen"

for family in families().values():
    frozen = family.freeze_test_list()
    path = FROZEN / f"{family.name}-{family.version}-test.json"
    path.write_text(frozen.model_dump_json(indent=1) + "\n")
    print(f"{path.name}: {len(frozen.task_ids)} tasks, content {frozen.content_hash[:16]}")

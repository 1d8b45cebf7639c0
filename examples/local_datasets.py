"""Evaluate on your own copy of ChartQA/DocVQA: agents on local files, with our tools.

    python examples/local_datasets.py "chartqa:/data/ChartQA Dataset/test" \
        "docvqa:/data/DocVQA/val/val_v1.0.json" --agent oracle --agent no-tool --limit 20

Each source is ``format:path`` (chartqa, refocus, charxiv, docvqa, textvqa); its env follows
from the format (charts: ToolUse-Chart-v0, documents and photos: ToolUse-OCR-v0) and so do
its tools and rubric (ChartQA: relaxed accuracy; DocVQA: ANLS; TextVQA: VQA accuracy). The
results folder's metadata.json records the files' content hash under ``sources``.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path


def main(argv: list[str] | None = None) -> dict:
    """Evaluate; returns the metadata's ``sources`` (env id -> format, hash, tasks)."""
    from iapo_bench.baselines.registry import make_agent
    from iapo_bench.envs import get_family, open_source
    from iapo_bench.leaderboard.harness import evaluate

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("sources", nargs="+", help="format:path of each local dataset.")
    parser.add_argument("--agent", action="append", default=None, help="Agents (repeatable).")
    parser.add_argument("--limit", type=int, default=None, help="Only the first N tasks.")
    parser.add_argument("--output", "-o", default="local-results", help="The results folder.")
    args = parser.parse_args(argv)

    sources = {get_family(open_source(spec).family).env_id: spec for spec in args.sources}
    agents = [make_agent(name, env_ids=list(sources)) for name in args.agent or ["oracle"]]
    writer = evaluate(list(sources), agents, args.output, sources=sources, limit=args.limit)
    writer.close()
    print(writer.summary[["agent", "env_id", "episodes", "score"]].to_string(index=False))
    metadata = json.loads((Path(args.output) / "metadata.json").read_text())
    print(json.dumps(metadata["sources"], indent=1))
    return metadata["sources"]


if __name__ == "__main__":
    main()

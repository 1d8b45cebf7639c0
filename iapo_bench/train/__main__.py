"""``python -m iapo_bench.train --config FILE [--set KEY=VALUE]``: what accelerate launches.

``accelerate launch --multi_gpu --num_processes 2 --num_machines 1 -m iapo_bench.train --config
FILE`` trains on two CPU processes (``--cpu`` alone would start one: accelerate's own rule);
``iapo-bench train`` is the same in one process.
"""

from __future__ import annotations

import argparse
import json
import sys

from iapo_bench.train.grpo import load_config, train


def parse_overrides(pairs: list[str]) -> dict[str, object]:
    """``KEY=VALUE`` pairs; each value is read as JSON when it parses, else as a string.

    A dotted key sets a field of a table: ``attribution.steps=4``.

    >>> parse_overrides(["steps=2", "run_dir=runs/x", "attribution.steps=4"])
    {'steps': 2, 'run_dir': 'runs/x', 'attribution': {'steps': 4}}
    """
    overrides: dict[str, object] = {}
    for pair in pairs:
        key, sep, text = pair.partition("=")
        if not sep or not key:
            raise ValueError(f"--set takes KEY=VALUE, got {pair!r}")
        value: object
        try:
            value = json.loads(text)
        except ValueError:
            value = text
        *tables, name = key.split(".")
        target = overrides
        for table in tables:
            inner = target.setdefault(table, {})
            if not isinstance(inner, dict):
                raise ValueError(f"--set {pair!r}: {table!r} is not a table")
            target = inner
        target[name] = value
    return overrides


def main(argv: list[str] | None = None) -> int:
    """Parse the arguments and train; exit code 2 on a bad config."""
    parser = argparse.ArgumentParser(prog="python -m iapo_bench.train", description=__doc__)
    parser.add_argument(
        "--config", required=True, help="A TOML config (iapo_bench/train/configs/)."
    )
    parser.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="Override a config field (repeatable), e.g. --set steps=2.",
    )
    args = parser.parse_args(argv)
    try:
        config = load_config(args.config, **parse_overrides(args.set))
    except ValueError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    train(config)
    return 0


if __name__ == "__main__":
    sys.exit(main())

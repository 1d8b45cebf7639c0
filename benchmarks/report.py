"""Turn a pytest-benchmark JSON file into the chart tables of BENCHMARKS.md.

pytest benchmarks --benchmark-json=bench.json && python benchmarks/report.py bench.json
"""

import json
import re
import statistics
import sys
from collections import defaultdict


def main(path: str) -> None:
    with open(path) as handle:
        results = json.load(handle)["benchmarks"]
    medians = {b["name"]: b["stats"]["median"] * 1e3 for b in results}
    cases = defaultdict(dict)
    for name, median in medians.items():
        match = re.match(r"test_(oracle_episode|floor)\[(\w+)-d(\d)\]", name)
        if match:
            cases[(match[2], int(match[3]))][match[1]] = median
    print("| kind | " + " | ".join(f"d{d} episode / floor (ratio)" for d in range(4)) + " |")
    print("|---|" + "---|" * 4)
    ratios = defaultdict(list)
    episodes = defaultdict(list)
    for kind in dict.fromkeys(k for k, _ in cases):
        cells = []
        for d in range(4):
            case = cases[(kind, d)]
            ratio = case["oracle_episode"] / case["floor"]
            ratios[d].append(ratio)
            episodes[d].append(case["oracle_episode"])
            cells.append(f"{case['oracle_episode']:.2f} / {case['floor']:.2f} ms ({ratio:.2f}x)")
        print(f"| {kind} | " + " | ".join(cells) + " |")
    print()
    for d in range(4):
        mean_ms = statistics.mean(episodes[d])
        print(
            f"d{d}: mean episode {mean_ms:.2f} ms = {1000 / mean_ms:.0f} episodes/s; "
            f"ratio median {statistics.median(ratios[d]):.2f}x, max {max(ratios[d]):.2f}x"
        )
    print()
    for name, median in sorted(medians.items()):
        if not name.startswith(("test_oracle_episode", "test_floor")):
            print(f"{name}: {median:.4f} ms")


if __name__ == "__main__":
    main(sys.argv[1])

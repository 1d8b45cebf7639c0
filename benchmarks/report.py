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
    cases = {}
    for bench in results:
        match = re.match(r"test_oracle_episode\[(\w+)-d(\d)\]", bench["name"])
        if match:
            cases[(match[1], int(match[2]))] = (medians[bench["name"]], bench["extra_info"])
    header = " | ".join(f"d{d}: episode, floor, ratio" for d in range(4))
    print(f"| kind | {header} |")
    print("|---|" + "---|" * 4)
    ratios, episodes = defaultdict(list), defaultdict(list)
    for kind in dict.fromkeys(k for k, _ in cases):
        cells = []
        for d in range(4):
            episode, extra = cases[(kind, d)]
            ratios[d].append(extra["ratio"])
            episodes[d].append(episode)
            cells.append(f"{episode:.2f}, {extra['floor_ms']:.2f} ms, {extra['ratio']:.2f}x")
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
        if not name.startswith("test_oracle_episode"):
            print(f"{name}: {median:.4f} ms")


if __name__ == "__main__":
    main(sys.argv[1])

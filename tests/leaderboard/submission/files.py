"""Helpers of the submission tests: a submission file as CSV records, edited and checked."""

import csv

from iapo_bench.leaderboard.submission import verify_submission

CHART = "ToolUse-Chart-v0"
SEARCH = "ToolUse-ImageSearch-v0"


def records(path):
    """The file's CSV records (manifest, header and rows)."""
    with open(path, encoding="utf-8", newline="") as handle:
        return list(csv.reader(handle))


def write(path, rows):
    with open(path, "w", encoding="utf-8", newline="") as handle:
        csv.writer(handle).writerows(rows)
    return path


def find(rows, first, **where):
    """Index of the first record whose first cell is ``first`` (and cells named in ``where``)."""
    header = next(r for r in rows if not r[0].startswith("#"))
    for i, row in enumerate(rows):
        if row[0] == first and all(row[header.index(k)] == v for k, v in where.items()):
            return i
    raise LookupError(first)


def header_of(rows):
    return next(r for r in rows if not r[0].startswith("#"))


def edited(src, tmp_path, change):
    rows = records(src)
    change(rows)
    return write(tmp_path / "edited.csv", rows)


def problems(path, **kwargs):
    verdict = verify_submission(path, allow_partial=True, **kwargs)
    assert verdict.status == "rejected"
    return verdict.problems


def the_problem(path, **kwargs):
    found = problems(path, **kwargs)
    assert len(found) == 1, [str(p) for p in found]
    return found[0]


def set_manifest(rows, field, value, env_id=None):
    for row in rows:
        if row[0] == f"#{field}" and (env_id is None or row[1] == env_id):
            row[2] = value
            return
    raise LookupError(field)


def set_cell(column, value, index=1):
    def change(rows):
        header = header_of(rows)
        rows[rows.index(header) + index][header.index(column)] = value

    return change


class Scripted:
    """Writes the given messages in turn, whatever it sees."""

    def __init__(self, messages, name="scripted"):
        self.messages = messages
        self.name = name

    def act(self, observations, infos):
        return [self.messages[min(info["turn"], len(self.messages) - 1)] for info in infos]

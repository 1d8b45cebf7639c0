"""The leaderboard as a static HTML page, with its plots as PNG files beside it.

:func:`write_page` writes ``index.html`` and, next to it:

- ``scores.png``: each env's agents with their scores and 95% intervals;
- ``score_vs_tool_calls.png``: score against tool-call rate, one point per agent and env;
- ``comparisons.png``: the paired comparisons (each agent minus the next one down, with
  the interval of the difference), when there are any.

The page is plain HTML with one sortable table per env (click a header; a link ending in
``#sort=TABLE_ID:COLUMN:asc|desc`` opens sorted), a legend of the verified / local /
unverified marks, the paired comparisons and what was left out. The tables fit a desktop
window (1,280 pixels) whatever submitters write: headers break between words, text cells
(agent, model, submitter) wrap onto two lines at most and are then cut, with the whole value
in the cell's tooltip, a board source shows the first 8 hex digits of its id (as agent
labels do) and a date its day. It renders offline: no CDN, no font or script from anywhere,
and a Content-Security-Policy that allows only its own inline style and script (by hash)
and images beside it. Every value is HTML-escaped (agent names, models and submitters come
from submitters), and the plots show names as plain text (no mathtext).
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import html
import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from iapo_bench.leaderboard.standings import (
    Leaderboard,
    Standing,
    format_interval,
    format_number,
)

__all__ = ["COLUMNS", "table_id", "write_page"]

COLUMNS: tuple[tuple[str, str, str], ...] = (
    ("#", "rank", "num"),
    ("agent", "label", "text"),
    ("status", "status", "text"),
    ("score", "score", "num"),
    ("95% CI", "ci95_low", "num"),
    ("episodes", "episodes", "num"),
    ("tasks", "tasks", "num"),
    ("tool calls", "tool_call_rate", "num"),
    ("tool ok", "tool_success_rate", "num"),
    ("turns", "mean_turns", "num"),
    ("k", "repeats", "num"),
    ("pass@k", "pass_at_k", "num"),
    ("pass^k", "pass_hat_k", "num"),
    ("model", "model", "text"),
    ("submitter", "submitter", "text"),
    ("date", "date", "text"),
    ("source", "source", "text"),
)
"""The columns of each env's table: (header, the :class:`Standing` field it shows and sorts
by, and whether it sorts as a number or as text)."""

_MARKS = {
    "verified": ("\u2713 verified", "replayed on this board: every action stepped through the env"),
    "local": ("local run", "a run folder on this machine, not replayed"),
    "unverified": ("unverified", "a self-reported summary: nothing was replayed"),
}
_STATUS_ORDER = {"verified": "0", "local": "1", "unverified": "2"}
_COLORS = {"verified": "#1b7f3b", "local": "#1f5fa8", "unverified": "#8a8a8a"}

_STYLE = """
body { font-family: system-ui, -apple-system, "Segoe UI", sans-serif; margin: 2em auto;
  max-width: 1400px; padding: 0 1em; color: #1d1d1f; background: #ffffff; }
h1 { margin-bottom: 0.2em; }
.meta, .legend { color: #555555; font-size: 0.92em; }
table { border-collapse: collapse; margin: 0.6em 0 1.6em; font-size: 0.9em; }
th { background: #1f3a5f; color: #ffffff; padding: 6px 5px; cursor: pointer;
  text-align: left; user-select: none; }
th[aria-sort="ascending"]::after { content: " \\25B2"; }
th[aria-sort="descending"]::after { content: " \\25BC"; }
td { padding: 5px 5px; border-bottom: 1px solid #d8dee8; white-space: nowrap; }
td.num { text-align: right; font-variant-numeric: tabular-nums; }
/* So that 17 columns fit a desktop window: headers break between words, and text that
   submitters choose wraps onto two lines at most, then is cut (whole in the tooltip). */
td.text { max-width: 7em; white-space: normal; overflow-wrap: anywhere; }
td.text.label { min-width: 6em; max-width: 11em; }
td.text.date, td.text.source { white-space: nowrap; }
td.text > div { display: -webkit-box; -webkit-box-orient: vertical; -webkit-line-clamp: 2;
  overflow: hidden; }
.scroll { overflow-x: auto; }
tbody tr:nth-child(even) { background: #eef3fa; }
.mark { padding: 1px 7px; border-radius: 9px; font-size: 0.85em; color: #ffffff; }
.mark.verified { background: #1b7f3b; }
.mark.local { background: #1f5fa8; }
.mark.unverified { background: #8a8a8a; }
.partial { color: #a05a00; }
figure { margin: 1em 0 2em; }
figure img { max-width: 100%; border: 1px solid #d8dee8; }
figcaption { color: #555555; font-size: 0.9em; }
"""

_SCRIPT = """
(function () {
  function key(row, col, num) {
    var v = row.cells[col].getAttribute("data-v");
    return v === "" ? null : (num ? parseFloat(v) : v);
  }
  function sort(table, col, dir) {
    var head = table.tHead.rows[0].cells, num = head[col].getAttribute("data-type") === "num";
    var body = table.tBodies[0], rows = Array.prototype.slice.call(body.rows);
    rows.sort(function (a, b) {
      var x = key(a, col, num), y = key(b, col, num);
      if (x === null || y === null) return (x === null) - (y === null);
      var c = num ? x - y : x.localeCompare(y);
      return dir === "asc" ? c : -c;
    });
    rows.forEach(function (r) { body.appendChild(r); });
    for (var i = 0; i < head.length; i++) head[i].setAttribute("aria-sort",
      i === col ? (dir === "asc" ? "ascending" : "descending") : "none");
  }
  Array.prototype.forEach.call(document.querySelectorAll("table.sortable"), function (t) {
    Array.prototype.forEach.call(t.tHead.rows[0].cells, function (th, col) {
      th.addEventListener("click", function () {
        var now = th.getAttribute("aria-sort");
        sort(t, col, now === "ascending" ? "desc" : now === "descending" ? "asc"
          : th.getAttribute("data-first"));
      });
    });
  });
  var m = /^#sort=([\\w-]+):(\\d+):(asc|desc)$/.exec(location.hash);
  var table = m && document.getElementById(m[1]);
  if (table && +m[2] < table.tHead.rows[0].cells.length) sort(table, +m[2], m[3]);
})();
"""


def _e(value: Any) -> str:
    """A value as HTML-escaped text (quotes included, so it is safe in attributes too)."""
    return html.escape("" if value is None else str(value), quote=True)


def _digest(text: str) -> str:
    return "'sha256-" + base64.b64encode(hashlib.sha256(text.encode()).digest()).decode() + "'"


def table_id(env_id: str) -> str:
    """The HTML id of an env's table (letters, digits and dashes only)."""
    return "board-" + "".join(c if c.isalnum() or c == "-" else "-" for c in env_id)


def _missing(value: Any) -> bool:
    return value is None or (isinstance(value, float) and math.isnan(value))


def _sort_key(value: Any) -> str:
    if _missing(value):
        return ""
    return repr(value) if isinstance(value, (int, float)) else str(value)


def _cell(standing: Standing, name: str, kind: str) -> str:
    value = getattr(standing, name)
    key = _sort_key(value)
    shown = _e(value)
    css = "num" if kind == "num" else ""
    if name == "status":
        text, title = _MARKS[value]
        key = _STATUS_ORDER[value]
        shown = f'<span class="mark {value}" title="{_e(title)}">{_e(text)}</span>'
    elif name == "ci95_low":
        shown = format_interval(standing.ci95_low, standing.ci95_high)
    elif name in ("score", "tool_call_rate", "tool_success_rate", "pass_at_k", "pass_hat_k"):
        shown = format_number(value)
    elif name == "mean_turns":
        shown = format_number(value, 2)
    elif name == "tasks":
        if value is not None:
            shown = f"{value}/{standing.test_list_size}"
            if value < standing.test_list_size:
                shown = f'<span class="partial" title="a part of the test list">{shown}</span>'
    elif name == "date" and value:
        shown = _e(value[:10])  # the day; the whole stamp is in the cell's title
    elif name == "source" and value:
        # A board id's first 8 hex digits (as labels show it), or the run folder's name.
        board_id = value.removeprefix("board:")
        shown = _e(board_id[:8] if board_id != value else Path(value).name)
    if name in ("label", "model", "submitter", "date", "source") and value:
        # Submitters choose names: long ones wrap onto two lines at most, then are cut on
        # screen (the div clamps them), and are whole in the tooltip.
        cell = f'class="text {name}" data-v="{_e(key)}" title="{_e(value)}"'
        return f"<td {cell}><div>{shown}</div></td>"
    return f'<td class="{css}" data-v="{_e(key)}">{shown}</td>'


def _header(text: str, kind: str, first: str) -> str:
    """A sortable header: its sort kind, and the direction of its first click."""
    return f'<th data-type="{kind}" data-first="{first}" aria-sort="none">{_e(text)}</th>'


def _table(standings: Sequence[Standing], identifier: str) -> str:
    head = "".join(
        _header(header, kind, "desc" if kind == "num" and name != "rank" else "asc")
        for header, name, kind in COLUMNS
    )
    body = "\n".join(
        "<tr>" + "".join(_cell(s, n, k) for _, n, k in COLUMNS) + "</tr>" for s in standings
    )
    return (
        f'<div class="scroll"><table class="sortable" id="{_e(identifier)}">\n'
        f"<thead><tr>{head}</tr></thead>\n<tbody>\n{body}\n</tbody>\n</table></div>"
    )


def _plain(text: str, limit: int = 36) -> str:
    """A name as matplotlib should draw it: shortened, with ``$`` kept from mathtext."""
    text = " ".join(text.split())
    if len(text) > limit:
        text = text[: limit - 1] + "\u2026"
    return text.replace("$", r"\$")


def _figure(width: float, height: float) -> Any:
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    figure = Figure(figsize=(width, height), dpi=100, layout="constrained")
    FigureCanvasAgg(figure)
    return figure


def _errors(standings: Sequence[Standing]) -> tuple[list[float], list[float]]:
    below = [0.0 if math.isnan(s.ci95_low) else max(0.0, s.score - s.ci95_low) for s in standings]
    above = [0.0 if math.isnan(s.ci95_high) else max(0.0, s.ci95_high - s.score) for s in standings]
    return below, above


def _plot_scores(board: Leaderboard, path: Path) -> None:
    envs = board.env_ids
    groups = [[s for s in board.standings if s.env_id == e] for e in envs]
    heights = [0.8 + 0.32 * len(g) for g in groups]
    figure = _figure(8.5, sum(heights) + 0.3)
    axes = figure.subplots(len(envs), 1, squeeze=False, height_ratios=heights)[:, 0]
    for ax, env_id, group in zip(axes, envs, groups, strict=True):
        ys = list(range(len(group)))[::-1]
        below, above = _errors(group)
        for y, standing, low, high in zip(ys, group, below, above, strict=True):
            color = _COLORS[standing.status]
            hollow = standing.status == "unverified"
            ax.errorbar(
                standing.score,
                y,
                xerr=[[low], [high]],
                fmt="o",
                color=color,
                markerfacecolor="white" if hollow else color,
                capsize=3,
            )
        ax.set_yticks(ys, [_plain(s.label) for s in group])
        ax.set_title(env_id, loc="left", fontsize=11)
        ax.set_xlabel("score (95% interval)")
        ax.grid(axis="x", alpha=0.3)
        ax.set_ylim(-0.7, len(group) - 0.3)
    figure.savefig(path)


def _plot_tool_calls(board: Leaderboard, path: Path) -> None:
    figure = _figure(8.5, 5.5)
    ax = figure.subplots()
    markers = "osD^vP*X"
    for index, env_id in enumerate(board.env_ids):
        group = [
            s for s in board.standings if s.env_id == env_id and not math.isnan(s.tool_call_rate)
        ]
        for standing in group:
            color = _COLORS[standing.status]
            ax.scatter(
                standing.tool_call_rate,
                standing.score,
                marker=markers[index % len(markers)],
                color=color,
                s=46,
            )
            ax.annotate(
                _plain(standing.label, 22),
                (standing.tool_call_rate, standing.score),
                textcoords="offset points",
                xytext=(5, 4),
                fontsize=7.5,
                color="#333333",
            )
        # The legend shows each env's marker in grey: colour stands for the status.
        ax.scatter([], [], marker=markers[index % len(markers)], color="#555555", label=env_id)
    ax.set_xlabel("tool-call rate (share of episodes with a valid tool call)")
    ax.set_ylabel("score")
    ax.set_xlim(-0.05, 1.05)
    ax.grid(alpha=0.3)
    if board.env_ids:
        ax.legend(loc="best", fontsize=8, title="env (marker)", title_fontsize=8)
    figure.savefig(path)


def _plot_comparisons(board: Leaderboard, path: Path) -> None:
    pairs = list(board.comparisons)
    figure = _figure(8.5, 0.9 + 0.32 * len(pairs))
    ax = figure.subplots()
    ys = list(range(len(pairs)))[::-1]
    for y, pair in zip(ys, pairs, strict=True):
        d = pair.comparison.difference
        color = "#1b7f3b" if pair.comparison.separated else "#8a8a8a"
        low, high = max(0.0, d.estimate - d.low), max(0.0, d.high - d.estimate)
        ax.errorbar(d.estimate, y, xerr=[[low], [high]], fmt="o", color=color, capsize=3)
    labels = [f"{p.env_id}: {_plain(p.a, 20)} \u2212 {_plain(p.b, 20)}" for p in pairs]
    ax.set_yticks(ys, labels, fontsize=8)
    ax.axvline(0.0, color="#555555", linewidth=1)
    ax.set_xlabel("score difference (95% paired bootstrap interval; green: excludes 0)")
    ax.grid(axis="x", alpha=0.3)
    figure.savefig(path)


def _comparisons(board: Leaderboard) -> str:
    rows = []
    for pair in board.comparisons:
        c = pair.comparison
        d = c.difference
        verdict = "yes" if c.separated else "no"
        cells = [
            (pair.env_id, pair.env_id, ""),
            (pair.a, pair.a, "text label"),
            (pair.b, pair.b, "text label"),
            (str(c.tasks), repr(c.tasks), "num"),
            (format_number(d.estimate, signed=True), repr(d.estimate), "num"),
            (format_interval(d.low, d.high, signed=True), repr(d.low), "num"),
            (verdict, verdict, ""),
        ]
        rows.append(
            "<tr>"
            + "".join(
                f'<td class="{css}" data-v="{_e(k)}" title="{_e(t)}"><div>{_e(t)}</div></td>'
                if css.startswith("text")
                else f'<td class="{css}" data-v="{_e(k)}">{_e(t)}</td>'
                for t, k, css in cells
            )
            + "</tr>"
        )
    heads = [("env", "text"), ("A", "text"), ("B (next down)", "text"), ("tasks", "num")]
    heads += [("A \u2212 B", "num"), ("95% CI", "num"), ("differ?", "text")]
    head = "".join(_header(h, k, "desc" if k == "num" else "asc") for h, k in heads)
    return (
        f'<div class="scroll"><table class="sortable" id="paired">\n'
        f"<thead><tr>{head}</tr></thead>\n<tbody>\n"
        + "\n".join(rows)
        + "\n</tbody>\n</table></div>"
    )


def write_page(board: Leaderboard, directory: str | Path) -> list[Path]:
    """Write ``index.html`` and its PNG plots into ``directory``; returns the paths written."""
    out = Path(directory)
    out.mkdir(parents=True, exist_ok=True)
    written: list[Path] = []
    figures: list[tuple[str, str, str]] = []
    if board.standings:
        _plot_scores(board, out / "scores.png")
        _plot_tool_calls(board, out / "score_vs_tool_calls.png")
        figures += [
            (
                "scores.png",
                "Scores per env",
                "Each agent's score with its 95% interval "
                "(bootstrap over tasks; an unverified summary's own interval, hollow).",
            ),
            (
                "score_vs_tool_calls.png",
                "Score against tool-call rate",
                "One point per agent and env: does calling tools pay?",
            ),
        ]
    if board.comparisons:
        _plot_comparisons(board, out / "comparisons.png")
        figures.append(
            (
                "comparisons.png",
                "Paired comparisons",
                "Each agent minus the next one down on the tasks both played.",
            )
        )
    written += [out / name for name, _, _ in figures]
    for stale in {"scores.png", "score_vs_tool_calls.png", "comparisons.png"} - {
        name for name, _, _ in figures
    }:
        (out / stale).unlink(missing_ok=True)  # a plot of an earlier page this one lacks
    legend = " &middot; ".join(
        f'<span class="mark {status}">{_e(text)}</span> {_e(title)}'
        for status, (text, title) in _MARKS.items()
    )
    sections = []
    for env_id in board.env_ids:
        group = [s for s in board.standings if s.env_id == env_id]
        sections.append(f"<h2>{_e(env_id)}</h2>\n{_table(group, table_id(env_id))}")
    if not sections:
        sections.append("<p>No standings yet: submit a file or pass a run folder.</p>")
    plots = "\n".join(
        f'<figure><img src="{_e(name)}" alt="{_e(title)}"><figcaption>{_e(caption)}'
        "</figcaption></figure>"
        for name, title, caption in figures
    )
    comparisons = (
        '<h2>Paired comparisons</h2>\n<p class="meta">Each agent against the next one down '
        "on the tasks both played: the mean difference and its paired bootstrap interval "
        "(tasks resampled as pairs).</p>\n" + _comparisons(board)
        if board.comparisons
        else ""
    )
    notes = (
        "<h2>Left out</h2>\n<ul>" + "".join(f"<li>{_e(n)}</li>" for n in board.notes) + "</ul>"
        if board.notes
        else ""
    )
    style, script = _STYLE, _SCRIPT
    policy = (
        f"default-src 'none'; img-src 'self'; style-src {_digest(style)}; "
        f"script-src {_digest(script)}; base-uri 'none'; form-action 'none'"
    )
    now = dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds")
    page = f"""<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta http-equiv="Content-Security-Policy" content="{_e(policy)}">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>iapo-bench leaderboard</title>
<style>{style}</style>
</head>
<body>
<h1>iapo-bench leaderboard</h1>
<p class="meta">Written {_e(now)}. Intervals: percentile bootstrap over tasks,
{board.resamples} resamples, seed {board.seed}. pass@k and pass^k: k is the number of repeats
of every task; an episode is solved when its score reaches 1. Click a header to sort.</p>
<p class="legend">{legend}</p>
{chr(10).join(sections)}
{plots}
{comparisons}
{notes}
<script>{script}</script>
</body>
</html>
"""
    index = out / "index.html"
    index.write_text(page, encoding="utf-8")
    return [index, *written]

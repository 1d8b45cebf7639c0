import csv
import io
import re
import shutil
import subprocess

import numpy as np
import pytest
from PIL import Image

from iapo_bench.baselines import make_agent
from iapo_bench.leaderboard import evaluate
from iapo_bench.leaderboard.board import Board, build_leaderboard
from iapo_bench.leaderboard.page import table_id
from iapo_bench.leaderboard.submission import export_submission

CHART = "ToolUse-Chart-v0"
SEARCH = "ToolUse-ImageSearch-v0"
HOSTILE = '<script>alert(1)</script>"><img src=x onerror=alert(2)>$x$'

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
needs_chromium = pytest.mark.skipif(
    CHROMIUM is None,
    reason="Debian's chromium is not installed (apt-get install -y chromium; .ci/run does)",
)


@pytest.fixture(scope="module")
def page(tmp_path_factory):
    """A page with a verified oracle, a local random agent and a hostile unverified summary."""
    root = tmp_path_factory.mktemp("page")
    run = root / "run"
    evaluate([CHART, SEARCH], [make_agent("oracle"), make_agent("random")], run, limit=3).close()
    export_submission(run, root / "oracle.csv", agent="oracle", submitter="Ada <ada@example.org>")
    board = Board(root / "board")
    assert board.submit(root / "oracle.csv", allow_partial=True).accepted
    rows = list(csv.reader(io.StringIO((run / "summary.csv").read_text())))
    rows[1][0] = HOSTILE
    with open(root / "hostile.csv", "w", newline="") as handle:
        csv.writer(handle).writerows(rows[:2])
    assert board.submit(root / "hostile.csv").accepted
    build_leaderboard([run], board, resamples=200).write(root / "out")
    return root / "out"


def test_the_page_and_its_plots_are_written(page):
    names = {p.name for p in page.iterdir()}
    assert {"index.html", "scores.png", "score_vs_tool_calls.png", "comparisons.png"} <= names
    for name in ("scores.png", "score_vs_tool_calls.png", "comparisons.png"):
        with Image.open(page / name) as image:
            assert image.format == "PNG" and image.width >= 400 and image.height >= 100
    text = (page / "index.html").read_text()
    for name in ("scores.png", "score_vs_tool_calls.png", "comparisons.png"):
        assert f'<img src="{name}"' in text
    assert text.count("<table") == 3  # chart, search, the paired comparisons


def test_the_page_needs_no_network_and_escapes_every_value(page):
    text = (page / "index.html").read_text()
    assert not re.search(r"""(src|href)\s*=\s*["']?\s*(https?:)?//""", text)
    assert "<link" not in text and "@import" not in text
    assert text.count("<script") == 1  # its own, at the end
    assert "&lt;script&gt;alert(1)&lt;/script&gt;&quot;&gt;&lt;img src=x onerror" in text
    assert "<img src=x" not in text
    assert "Ada &lt;ada@example.org&gt;" in text
    policy = re.search(r'http-equiv="Content-Security-Policy" content="([^"]+)"', text)[1]
    assert "default-src &#x27;none&#x27;" in policy and "unsafe-inline" not in policy


def chromium(tmp_path, *arguments):
    command = [
        CHROMIUM,
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--hide-scrollbars",
        f"--user-data-dir={tmp_path / 'profile'}",
        *arguments,
    ]
    return subprocess.run(command, capture_output=True, text=True, timeout=120, check=True)


def column(dom, identifier, index):
    """The sort keys of one column of a table in a dumped DOM, in row order."""
    table = re.search(rf'<table class="sortable" id="{identifier}">(.*?)</table>', dom, re.S)[1]
    body = re.search(r"<tbody>(.*?)</tbody>", table, re.S)[1]
    rows = re.findall(r"<tr>(.*?)</tr>", body, re.S)
    return [re.findall(r'data-v="([^"]*)"', row)[index] for row in rows]


@needs_chromium
def test_chromium_runs_the_sorting_script(page, tmp_path):
    url = (page / "index.html").as_uri()
    ident = table_id(CHART)
    dom = chromium(tmp_path, "--dump-dom", url).stdout
    scores = [float(v) for v in column(dom, ident, 3)]
    assert scores == sorted(scores, reverse=True) and scores[0] == 1.0  # ranked as written
    # The page's own script (allowed by its CSP hash) sorts on load from the link's fragment.
    dom = chromium(tmp_path, "--dump-dom", f"{url}#sort={ident}:3:asc").stdout
    assert [float(v) for v in column(dom, ident, 3)] == sorted(scores)
    assert re.search(r'aria-sort="ascending">score</th>', dom)
    dom = chromium(tmp_path, "--dump-dom", f"{url}#sort={ident}:1:desc").stdout
    labels = column(dom, ident, 1)
    assert labels == sorted(labels, reverse=True)
    assert dom.count("<script") == 1 and '<img src="x"' not in dom  # nothing injected


@needs_chromium
def test_chromium_renders_the_tables(page, tmp_path):
    shot = tmp_path / "page.png"
    url = (page / "index.html").as_uri()
    chromium(tmp_path, "--window-size=1280,1400", f"--screenshot={shot}", url)
    pixels = np.asarray(Image.open(shot).convert("RGB")).astype(int)
    assert pixels.shape == (1400, 1280, 3)
    assert (pixels.sum(axis=2) < 600).mean() > 0.02  # text and marks, not a blank page
    # Table headers are dark blue (#1f3a5f) bands across the page's width.
    header = np.abs(pixels - np.array([0x1F, 0x3A, 0x5F])).sum(axis=2) < 12
    rows, cols = np.nonzero(header)
    assert header.sum() > 5_000
    assert cols.max() - cols.min() > 600  # a wide table, not a stray mark
    # Every other body row is tinted (#eef3fa): the table's rows rendered with their styles.
    stripe = np.abs(pixels - np.array([0xEE, 0xF3, 0xFA])).sum(axis=2) < 6
    striped = np.nonzero(stripe.sum(axis=1) > 600)[0]  # pixel rows tinted across a table
    assert len(striped) >= 20 and striped.min() > rows.min()


# Writes each table's width and its box's width into the DOM (as "id:table/box ...").
PROBE = """<script>document.addEventListener("DOMContentLoaded", function () {
  var sizes = [];
  document.querySelectorAll("table").forEach(function (t) {
    sizes.push(t.id + ":" + t.scrollWidth + "/" + t.parentNode.clientWidth);
  });
  document.body.setAttribute("data-sizes", sizes.join(" "));
});</script>"""


@needs_chromium
@pytest.mark.parametrize("width", [1280, 1360])
def test_the_tables_fit_a_desktop_window(page, tmp_path, width):
    # Long names (the hostile agent, the submitter) are cut or wrapped, not pushed off-screen.
    # Measured on a copy whose own probe script runs (the page's policy allows only its own).
    text = (page / "index.html").read_text()
    text = re.sub(r'<meta http-equiv="Content-Security-Policy"[^>]*>', "", text)
    probe = tmp_path / "probe.html"
    probe.write_text(text.replace("</body>", PROBE + "</body>"))
    dom = chromium(tmp_path, f"--window-size={width},900", "--dump-dom", probe.as_uri()).stdout
    sizes = re.search(r'data-sizes="([^"]*)"', dom)[1].split()
    assert len(sizes) == 3  # chart, search, the paired comparisons
    for size in sizes:
        table, box = map(int, size.split(":")[1].split("/"))
        assert table <= box, size

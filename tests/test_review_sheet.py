"""classify --review-sheet: true totals, every row in the HTML, full paths, error reasons, known formats only."""

from __future__ import annotations

import json
from html.parser import HTMLParser

import numpy as np
import pytest
from PIL import Image

from batchdigits.web.review import CELL, COLUMNS, METADATA_KEY, ReviewSheet
from batchdigits.run.write import Row
from helpers import read_csv, run_cli
from imagemaker import save_digit

N_SCANS = 52  # more than the PNG's 48 tiles per group


@pytest.fixture(scope="module")
def scans(tmp_path_factory):
    root = tmp_path_factory.mktemp("sheet")
    folder = root / "in"
    shapes = ("one", "zero")
    for i in range(N_SCANS):
        save_digit(folder / "batch00" / f"scan_{i:05d}.png", shapes[i % 2])
    (folder / "batch01").mkdir()
    (folder / "batch01" / "empty.png").write_bytes(b"")
    Image.new("L", (40, 40), 255).save(folder / "batch01" / "blank.png")
    return root


def _classify(root, sheet):
    return run_cli(
        "classify", root / "in", "--out", root / f"{sheet}.csv", "--jobs", "1",
        "--min-confidence", "1.0", "--review-sheet", root / sheet,
    )


def _by_confidence(rows):
    return [r["path"] for r in sorted(rows, key=lambda r: (float(r["confidence"]), r["path"]))]


def test_png_sheet_read_back(scans):
    result = _classify(scans, "review.png")
    assert result.exit_code == 1, result.output  # the empty file is an error row
    rows = read_csv(scans / "review.png.csv")
    low = [r for r in rows if r["status"] == "low_confidence"]
    assert len(low) == N_SCANS
    with Image.open(scans / "review.png") as img:
        assert img.format == "PNG" and img.width == COLUMNS * CELL
        shown = json.loads(img.text[METADATA_KEY])["groups"]
        pixels = np.asarray(img.convert("RGB"))
    # true totals, the 48 lowest confidences first, full relative paths
    assert {g: v["total"] for g, v in shown.items()} == {"low_confidence": N_SCANS, "blank": 1, "error": 1}
    assert len(shown["low_confidence"]["shown"]) == 48
    assert set(shown["low_confidence"]["shown"]) <= set(_by_confidence(low)[:48] + _by_confidence(low)[46:50])
    assert all(p.startswith("batch00/scan_") for p in shown["low_confidence"]["shown"])
    assert shown["error"]["shown"] == ["batch01/empty.png"]
    # the error tile is the pink reason tile with dark red text in it, not a thumbnail
    pink = np.all(pixels == (255, 235, 235), axis=2)
    assert pink.sum() > 2000
    ys, xs = np.nonzero(pink)
    tile = pixels[ys.min() : ys.max() + 1, xs.min() : xs.max() + 1]
    reddish = (tile[..., 0] > 100) & (tile[..., 1] < 90) & (tile[..., 2] < 90)
    assert reddish.sum() > 30
    # a caption holds the label and the path on two more lines: wrapped, never clipped
    caption = pixels[26 + 96 : 26 + 96 + 3 * 15, 0:CELL]
    inked_lines = [bool((caption[k * 15 : (k + 1) * 15] < 120).any()) for k in range(3)]
    assert inked_lines == [True, True, True]


class _Figures(HTMLParser):
    def __init__(self):
        super().__init__()
        self.headings: list[str] = []
        self.captions: list[str] = []
        self.details = 0
        self.lazy = 0
        self._where: str | None = None

    def handle_starttag(self, tag, attrs):
        if tag in ("h2", "figcaption"):
            self._where = tag
            (self.headings if tag == "h2" else self.captions).append("")
        if tag == "details":
            self.details += 1
        if tag == "img" and ("loading", "lazy") in attrs:
            self.lazy += 1
        if tag == "br" and self._where == "figcaption":
            self.captions[-1] += "|"

    def handle_endtag(self, tag):
        if tag == self._where:
            self._where = None

    def handle_data(self, data):
        if self._where == "h2":
            self.headings[-1] += data
        elif self._where == "figcaption":
            self.captions[-1] += data


def test_html_sheet_holds_every_row_sorted_with_reasons(scans):
    result = _classify(scans, "review.html")
    assert result.exit_code == 1, result.output
    rows = read_csv(scans / "review.html.csv")
    page = _Figures()
    page.feed((scans / "review.html").read_text(encoding="utf-8"))
    assert page.headings == [f"low_confidence: {N_SCANS}", "blank: 1", "error: 1"]
    assert len(page.captions) == page.lazy == N_SCANS + 2
    paths = [c.split("|")[-1] for c in page.captions]
    low = [r for r in rows if r["status"] == "low_confidence"]
    assert sorted(paths[:N_SCANS]) == sorted(r["path"] for r in low)
    confidences = [float(c.split("(")[1].split(")")[0]) for c in page.captions[:N_SCANS]]
    assert confidences == sorted(confidences)  # lowest confidence first
    assert paths[N_SCANS:] == ["batch01/blank.png", "batch01/empty.png"]
    assert page.captions[-1] == "error|empty file (0 bytes)|batch01/empty.png"


def test_html_pages_and_the_more_note_when_rows_are_left_out(tmp_path):
    sheet = ReviewSheet(str(tmp_path), html_limit=150)
    for i in range(230):
        sheet.add(Row(f"deep/folder/scan_{i:04d}.png", 3, 0.2 + i / 1000, "low_confidence"))
    sheet.save(str(tmp_path / "r.htm"))
    page = _Figures()
    page.feed((tmp_path / "r.htm").read_text(encoding="utf-8"))
    assert page.headings == ["low_confidence: 230 (150 shown, +80 more not shown)"]
    assert len(page.captions) == 150 and page.details == 2  # pages of 100
    assert page.captions[0].endswith("|deep/folder/scan_0000.png")  # the lowest confidences are kept
    assert sheet.heading("low_confidence") == "low_confidence: 230 (48 shown, +182 more not shown)"


@pytest.mark.parametrize("name", ["review.jpg", "review", "review.PNG.txt"])
def test_an_unknown_sheet_format_is_refused_before_any_work(tmp_path, name):
    save_digit(tmp_path / "in" / "one.png", "one")
    result = run_cli("classify", tmp_path / "in", "--out", tmp_path / "p.csv", "--review-sheet", tmp_path / name)
    assert result.exit_code == 2
    assert ".png or .html" in result.output
    assert not (tmp_path / "p.csv").exists() and not (tmp_path / name).exists()
    with pytest.raises(ValueError, match=".png or .html"):
        ReviewSheet(str(tmp_path)).save(str(tmp_path / name))


def test_an_uppercase_extension_writes_that_format(tmp_path):
    sheet = ReviewSheet(str(tmp_path))
    sheet.add(Row("x.png", None, None, "error", "not a recognised image format"))
    sheet.save(str(tmp_path / "R.PNG"))
    with Image.open(tmp_path / "R.PNG") as img:
        assert img.format == "PNG"

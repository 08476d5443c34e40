"""A contact sheet of the files a person should check (low_confidence, blank, error).

``ReviewSheet`` collects the rows of those statuses while a run streams, then
``save(path)`` draws thumbnails grouped by status, lowest confidence first,
each captioned with the predicted label and confidence (an error: its
reason) and the file's full path relative to the folder:

* ``.png``: one picture, at most ``per_group`` tiles per group; each group's
  heading gives its true total and how many more are not shown.  The PNG
  also carries what it shows as text (``batchdigits-review``: JSON with the
  totals and the shown paths), for programs and tests.
* ``.html`` / ``.htm``: a self-contained page with every row (up to
  ``html_limit`` per group), in pages of ``PAGE`` tiles that are only
  decoded when opened (``<details>``, ``loading="lazy"``).

Any other extension is refused (``ValueError``; the CLI exits 2 before any work).
"""

from __future__ import annotations

import base64
import functools
import html
import io
import json
import os
from dataclasses import dataclass, field

from PIL import Image, ImageDraw, ImageFont
from PIL.PngImagePlugin import PngInfo

from ..io.atomic import atomic_write
from ..io.files import path_from_csv
from ..image.load import ImageError, load_image
from ..run.write import Row

GROUPS = ("low_confidence", "blank", "error")
SUFFIXES = {".png": "png", ".html": "html", ".htm": "html"}
THUMB = 96  # the picture in a tile
CELL = 128  # a tile's width: room for a path of about 18 characters a line
LINE = 15  # caption line height (px)
TITLE = 26
COLUMNS = 8
PAGE = 100  # tiles per page of the HTML sheet
METADATA_KEY = "batchdigits-review"


def sheet_format(path: str | os.PathLike[str]) -> str | None:
    """``"png"`` or ``"html"`` from the path's extension (any case); ``None`` when unknown."""
    return SUFFIXES.get(os.path.splitext(os.fspath(path))[1].lower())


@functools.cache
def _font(size: int) -> ImageFont.FreeTypeFont | ImageFont.ImageFont:
    # Pillow's default font below 12 px runs words together ("notshown")
    return ImageFont.load_default(size=size)


@dataclass
class ReviewSheet:
    """Collects rows to review; ``folder`` is where their relative paths start."""

    folder: str
    per_group: int = 48
    html_limit: int = 10_000
    rows: dict[str, list[Row]] = field(default_factory=lambda: {g: [] for g in GROUPS})
    totals: dict[str, int] = field(default_factory=lambda: dict.fromkeys(GROUPS, 0))

    def add(self, row: Row) -> None:
        """Take one row of the run (rows of other statuses are ignored)."""
        if row.status not in self.rows:
            return
        self.totals[row.status] += 1
        kept = self.rows[row.status]
        kept.append(row)
        if len(kept) >= 2 * self.html_limit:  # keep the lowest-confidence rows only
            self.rows[row.status] = self.ordered(row.status)[: self.html_limit]

    def ordered(self, group: str) -> list[Row]:
        """The kept rows of ``group``: lowest confidence first, then by path."""
        return sorted(self.rows[group], key=lambda r: (r.confidence if r.confidence is not None else -1.0, r.path))

    def shown(self, group: str, fmt: str = "png") -> list[Row]:
        """The rows of ``group`` a sheet of format ``fmt`` shows."""
        return self.ordered(group)[: self.per_group if fmt == "png" else self.html_limit]

    @property
    def count(self) -> int:
        """How many rows were collected for review (all of them, shown or not)."""
        return sum(self.totals.values())

    def save(self, path: str) -> None:
        """Write the sheet to ``path`` (``.png``, ``.html`` or ``.htm``), atomically."""
        fmt = sheet_format(path)
        if fmt is None:
            raise ValueError(f"a review sheet is .png or .html, not {os.path.basename(path)!r}")
        if fmt == "html":
            with atomic_write(path) as fh:
                fh.write(self.html())
        else:
            with atomic_write(path, binary=True) as fh:
                self.image().save(fh, format="PNG", pnginfo=self._png_info())

    def heading(self, group: str, fmt: str = "png") -> str:
        """``low_confidence: 1702 (48 shown, +1654 more not shown)``; no note when all are shown."""
        total, shown = self.totals[group], len(self.shown(group, fmt))
        return f"{group}: {total}" + (f" ({shown} shown, +{total - shown} more not shown)" if shown < total else "")

    def image(self) -> Image.Image:
        """The sheet as one RGB picture, a titled band per non-empty group."""
        bands = [self._band(g) for g in GROUPS if self.totals[g]]
        if not bands:
            bands = [_title_band("nothing to review: every file was classified with confidence")]
        width = max(b.width for b in bands)
        sheet = Image.new("RGB", (width, sum(b.height for b in bands)), "white")
        y = 0
        for band in bands:
            sheet.paste(band, (0, y))
            y += band.height
        return sheet

    def _png_info(self) -> PngInfo:
        info = PngInfo()
        shown = {g: {"total": self.totals[g], "shown": [r.path for r in self.shown(g)]} for g in GROUPS}
        info.add_text(METADATA_KEY, json.dumps({"groups": shown}, ensure_ascii=False))
        return info

    def _band(self, group: str) -> Image.Image:
        rows = self.shown(group)
        title = _title_band(self.heading(group))
        captions = [_caption_lines(row) for row in rows]
        cell_h = THUMB + 4 + LINE * max((len(c) for c in captions), default=1)
        n_rows = (len(rows) + COLUMNS - 1) // COLUMNS
        band = Image.new("RGB", (max(COLUMNS * CELL, title.width), title.height + n_rows * cell_h), "white")
        band.paste(title, (0, 0))
        draw = ImageDraw.Draw(band)
        for i, (row, lines) in enumerate(zip(rows, captions, strict=True)):
            x, y = (i % COLUMNS) * CELL, title.height + (i // COLUMNS) * cell_h
            band.paste(self._thumbnail(row), (x + (CELL - THUMB) // 2, y))
            for k, line in enumerate(lines):
                colour = "black" if k == 0 else "dimgrey"
                draw.text((x + 3, y + THUMB + 2 + k * LINE), line, fill=colour, font=_font(12))
        return band

    def _thumbnail(self, row: Row) -> Image.Image:
        """The scan, shrunk; for an error row (or a file unreadable now) the reason instead."""
        reason = (row.error or "unreadable") if row.status == "error" else None
        if reason is None:
            try:
                gray = load_image(path_from_csv(self.folder, row.path), max_side=THUMB * 2)
                img = Image.fromarray(gray).convert("RGB")
                img.thumbnail((THUMB - 4, THUMB - 4))
            except (ImageError, OSError, ValueError) as exc:
                reason = str(exc) or type(exc).__name__
        if reason is not None:
            img = Image.new("RGB", (THUMB - 4, THUMB - 4), (255, 235, 235))
            draw = ImageDraw.Draw(img)
            for k, line in enumerate(_wrap(reason, THUMB - 10, _font(12))[:6]):
                draw.text((3, 3 + k * LINE), line, fill="darkred", font=_font(12))
        cell = Image.new("RGB", (THUMB, THUMB), (230, 230, 230))
        cell.paste(img, ((THUMB - img.width) // 2, (THUMB - img.height) // 2))
        return cell

    def html(self) -> str:
        """The sheet as a self-contained HTML page (thumbnails inlined), every kept row."""
        parts = [
            "<!doctype html><meta charset='utf-8'><title>batchdigits review</title>",
            "<style>figure{display:inline-block;margin:4px;width:132px;vertical-align:top}"
            "figcaption{font:12px sans-serif;overflow-wrap:anywhere}.reason{color:#900}</style>",
        ]
        for group in GROUPS:
            if not self.totals[group]:
                continue
            rows = self.shown(group, "html")
            parts.append(f"<section id='{group}'><h2>{html.escape(self.heading(group, 'html'))}</h2>")
            for start in range(0, len(rows), PAGE):
                page = rows[start : start + PAGE]
                opened = " open" if start == 0 else ""
                parts.append(
                    f"<details{opened}><summary>{start + 1}–{start + len(page)} of {len(rows)}</summary>"
                )
                parts.extend(self._figure(row) for row in page)
                parts.append("</details>")
            parts.append("</section>")
        return "\n".join(parts)

    def _figure(self, row: Row) -> str:
        buf = io.BytesIO()
        self._thumbnail(row).save(buf, format="PNG")
        data = base64.b64encode(buf.getvalue()).decode()
        reason = f"<br><span class='reason'>{html.escape(row.error)}</span>" if row.status == "error" else ""
        return (
            f"<figure><img loading='lazy' alt='' src='data:image/png;base64,{data}'>"
            f"<figcaption>{html.escape(_caption(row))}{reason}<br>"
            f"<span class='path'>{html.escape(row.path)}</span></figcaption></figure>"
        )


def _caption(row: Row) -> str:
    if row.status == "error":
        return "error"
    if row.label is None:
        return "blank"
    return f"{row.label}  ({row.confidence:.2f})"


def _caption_lines(row: Row) -> list[str]:
    """The caption, then the whole path wrapped to the tile's width (never clipped)."""
    return [_caption(row), *_wrap(row.path, CELL - 6, _font(12))]


def _wrap(text: str, width: int, font: ImageFont.FreeTypeFont | ImageFont.ImageFont) -> list[str]:
    """``text`` in lines no wider than ``width`` px, broken after '/' or spaces where possible."""
    lines: list[str] = []
    rest = text
    while rest:
        cut = len(rest)
        while cut > 1 and font.getlength(rest[:cut]) > width:
            cut -= 1
        if cut < len(rest):
            soft = max(rest.rfind("/", 0, cut), rest.rfind(" ", 0, cut))
            if soft >= cut // 2:
                cut = soft + 1
        lines.append(rest[:cut].rstrip(" "))
        rest = rest[cut:].lstrip(" ")
    return lines or [""]


def _title_band(text: str) -> Image.Image:
    font = _font(13)
    width = max(COLUMNS * CELL, int(font.getlength(text)) + 12)
    band = Image.new("RGB", (width, TITLE), (40, 40, 40))
    ImageDraw.Draw(band).text((6, 6), text, fill="white", font=font)
    return band

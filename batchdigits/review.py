"""A contact sheet of the files a person should check (low_confidence, blank, error).

``ReviewSheet`` collects up to ``per_group`` rows of each status while a run
streams, then ``save(path)`` draws thumbnails grouped by status with the
predicted label and confidence under each: a PNG, or an HTML page when the
path ends in ``.html``.
"""

from __future__ import annotations

import base64
import html
import io
from dataclasses import dataclass, field

from PIL import Image, ImageDraw

from .atomic import atomic_write
from .files import path_from_csv
from .load import ImageError, load_image
from .write import Row

GROUPS = ("low_confidence", "blank", "error")
THUMB = 96
CAPTION = 28
COLUMNS = 8


@dataclass
class ReviewSheet:
    """Collects rows to review; ``folder`` is where their relative paths start."""

    folder: str
    per_group: int = 48
    rows: dict[str, list[Row]] = field(default_factory=lambda: {g: [] for g in GROUPS})
    more: dict[str, int] = field(default_factory=lambda: dict.fromkeys(GROUPS, 0))

    def add(self, row: Row) -> None:
        if row.status not in self.rows:
            return
        if len(self.rows[row.status]) < self.per_group:
            self.rows[row.status].append(row)
        else:
            self.more[row.status] += 1

    @property
    def count(self) -> int:
        return sum(len(r) for r in self.rows.values())

    def save(self, path: str) -> None:
        if path.lower().endswith((".html", ".htm")):
            with atomic_write(path) as fh:
                fh.write(self.html())
        else:
            with atomic_write(path, binary=True) as fh:
                self.image().save(fh, format="PNG")

    def image(self) -> Image.Image:
        """The sheet as one RGB picture, a titled band per non-empty group."""
        bands = [self._band(g) for g in GROUPS if self.rows[g]]
        if not bands:
            bands = [_title_band("nothing to review: every file was classified with confidence")]
        width = max(b.width for b in bands)
        sheet = Image.new("RGB", (width, sum(b.height for b in bands)), "white")
        y = 0
        for band in bands:
            sheet.paste(band, (0, y))
            y += band.height
        return sheet

    def _band(self, group: str) -> Image.Image:
        rows = self.rows[group]
        extra = f" (+{self.more[group]} more not shown)" if self.more[group] else ""
        title = _title_band(f"{group}: {len(rows)}{extra}")
        n_rows = (len(rows) + COLUMNS - 1) // COLUMNS
        cell_h = THUMB + CAPTION
        band = Image.new("RGB", (COLUMNS * THUMB, title.height + n_rows * cell_h), "white")
        band.paste(title, (0, 0))
        draw = ImageDraw.Draw(band)
        for i, row in enumerate(rows):
            x, y = (i % COLUMNS) * THUMB, title.height + (i // COLUMNS) * cell_h
            band.paste(self._thumbnail(row), (x, y))
            draw.text((x + 3, y + THUMB + 1), _caption(row), fill="black")
            draw.text((x + 3, y + THUMB + 13), row.path[-15:], fill="grey")
        return band

    def _thumbnail(self, row: Row) -> Image.Image:
        try:
            gray = load_image(path_from_csv(self.folder, row.path), max_side=THUMB * 2)
            img = Image.fromarray(gray).convert("RGB")
            img.thumbnail((THUMB - 4, THUMB - 4))
        except (ImageError, OSError, ValueError):
            img = Image.new("RGB", (THUMB - 4, THUMB - 4), (255, 235, 235))
            ImageDraw.Draw(img).text((6, 38), "unreadable", fill="red")
        cell = Image.new("RGB", (THUMB, THUMB), (230, 230, 230))
        cell.paste(img, ((THUMB - img.width) // 2, (THUMB - img.height) // 2))
        return cell

    def html(self) -> str:
        """The sheet as a self-contained HTML page (thumbnails inlined)."""
        parts = ["<!doctype html><meta charset='utf-8'><title>batchdigits review</title>"]
        for group in GROUPS:
            rows = self.rows[group]
            if not rows:
                continue
            parts.append(f"<h2>{group}: {len(rows)}</h2><div>")
            for row in rows:
                buf = io.BytesIO()
                self._thumbnail(row).save(buf, format="PNG")
                data = base64.b64encode(buf.getvalue()).decode()
                parts.append(
                    "<figure style='display:inline-block;margin:4px'>"
                    f"<img src='data:image/png;base64,{data}'>"
                    f"<figcaption>{html.escape(_caption(row))}<br>{html.escape(row.path)}</figcaption></figure>"
                )
            parts.append("</div>")
        return "\n".join(parts)


def _caption(row: Row) -> str:
    if row.status == "error":
        return "error"
    if row.label is None:
        return "blank"
    return f"{row.label}  ({row.confidence:.2f})"


def _title_band(text: str) -> Image.Image:
    band = Image.new("RGB", (COLUMNS * THUMB, 24), (40, 40, 40))
    ImageDraw.Draw(band).text((6, 6), text, fill="white")
    return band

"""Make docs/review.png and docs/review-narrow.png, the README's pictures of the review page.

    .venv/bin/python docs/screenshot.py

Classifies samples/ into a temporary folder, serves the review page for it
and, in headless Chromium (see tests/browser.py) at 1280x800 and at 400x800,
types the true label (from samples/labels.csv) for the first two rows --
so every "→ digit" in the picture is right -- and saves a screenshot of the
third row.  Each picture's rows and decisions are printed to check it by.
"""

from __future__ import annotations

import csv
import shutil
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))

from browser import set_viewport, start_chromium  # noqa: E402

from batchdigits import classify_folder  # noqa: E402
from batchdigits.run.pipeline import Settings  # noqa: E402
from batchdigits.learn.builtin import get_default_model  # noqa: E402
from batchdigits.web.reviewsession import ReviewSession  # noqa: E402
from batchdigits.web.webreview import make_server, page_commands  # noqa: E402

SIZES = {"review.png": (1280, 800), "review-narrow.png": (400, 800)}


def truth() -> dict[str, str]:
    """The true digit of every sample scan, by path."""
    with open(ROOT / "samples" / "labels.csv", encoding="utf-8", newline="") as fh:
        return {row["path"]: row["label"] for row in csv.DictReader(fh)}


def shoot(name: str, size: tuple[int, int], model, work: Path) -> None:
    """One screenshot: a fresh corrections file, two true labels typed, the third row shown."""
    predictions, corrections = work / "predictions.csv", work / f"{name}.corrections.csv"
    session = ReviewSession.open(str(predictions), str(work / "scans"), str(corrections), model=model)
    server = make_server(session)
    server.commands = page_commands("predictions.csv", "scans/", corrections.name, server.port)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    driver = start_chromium(str(work / f"profile-{name}"), *size)
    try:
        set_viewport(driver, *size)
        driver.get(server.url)
        while driver.execute_script("return document.body.dataset.ready") != "true":
            time.sleep(0.05)
        labels = truth()
        first_two = [row["path"] for row in session.page(0, 2)]
        body = driver.find_element("tag name", "body")
        body.send_keys(*(labels[path] for path in first_two))
        while driver.execute_script("return document.getElementById('saved').textContent") != "all decisions saved":
            time.sleep(0.05)
        time.sleep(1.0)  # thumbnails settle
        driver.save_screenshot(str(ROOT / "docs" / name))
        shown = session.page(2, 1)[0]
        print(f"docs/{name} {size[0]}x{size[1]}: decided {[(p, labels[p]) for p in first_two]}; "
              f"showing {shown['path']} (true {labels.get(shown['path'])}, read {shown['label']})")
    finally:
        driver.quit()
        server.shutdown()
        server.server_close()


def main() -> None:
    work = Path(tempfile.mkdtemp(prefix="batchdigits-shot-"))
    try:
        shutil.copytree(ROOT / "samples", work / "scans")
        model = get_default_model()
        classify_folder(work / "scans", out=work / "predictions.csv", model=model, settings=Settings(jobs=1))
        for name, size in SIZES.items():
            shoot(name, size, model, work)
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()

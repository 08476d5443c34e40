"""Make docs/review.png, the README's picture of the review page.

    .venv/bin/python docs/screenshot.py

Classifies samples/ into a temporary folder, serves the review page for it,
types two decisions in headless Chromium (see tests/browser.py) and saves a
screenshot of the third row.
"""

from __future__ import annotations

import shutil
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))

from browser import start_chromium  # noqa: E402

from batchdigits import classify_folder  # noqa: E402
from batchdigits.run.pipeline import Settings  # noqa: E402
from batchdigits.learn.builtin import get_default_model  # noqa: E402
from batchdigits.web.reviewsession import ReviewSession  # noqa: E402
from batchdigits.web.webreview import make_server  # noqa: E402


def main(out: Path = ROOT / "docs" / "review.png") -> None:
    work = Path(tempfile.mkdtemp(prefix="batchdigits-shot-"))
    try:
        shutil.copytree(ROOT / "samples", work / "scans")
        model = get_default_model()
        classify_folder(work / "scans", out=work / "predictions.csv", model=model, settings=Settings(jobs=1))
        session = ReviewSession.open(str(work / "predictions.csv"), str(work / "scans"), model=model)
        server = make_server(session)
        threading.Thread(target=server.serve_forever, daemon=True).start()
        driver = start_chromium(str(work / "profile"), 1100, 760)
        try:
            driver.get(server.url)
            while driver.execute_script("return document.body.dataset.ready") != "true":
                time.sleep(0.05)
            body = driver.find_element("tag name", "body")
            body.send_keys("1", "\n")  # a label typed, a prediction accepted
            time.sleep(1.5)  # thumbnails and saves settle
            driver.save_screenshot(str(out))
        finally:
            driver.quit()
            server.shutdown()
        print(f"{out}: {out.stat().st_size // 1024} KB")
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()

"""The review page in a real browser: headless Debian Chromium driven by selenium.

Keys are typed into the page as a person would; the corrections file is
read back with ``csv``.  Chromium and its driver come from Debian
(``chromium``, ``chromium-driver``; ``.ci/run`` installs them); selenium
never downloads anything (the driver's path is given, and ``SE_OFFLINE``).
In CI (``CI=true``) a missing browser fails these tests instead of skipping.
"""

from __future__ import annotations

import csv
import os
import shutil
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from batchdigits.web.reviewsession import ReviewSession
from batchdigits.web.webreview import ReviewServer, make_server
from batchdigits.run.write import Row, open_csv
from browser import missing, start_chromium
from imagemaker import save_digit

def require_browser() -> None:
    """Skip when Chromium or selenium is missing, but fail in CI (CI=true)."""
    lacking = missing()
    if lacking:
        reason = f"the browser test needs {lacking}"
        if os.environ.get("CI") == "true":
            pytest.fail(f"{reason}: missing in CI")
        pytest.skip(reason)


@pytest.fixture(scope="module")
def driver() -> Iterator[Any]:
    """One headless Chromium for the module (with a fresh profile)."""
    require_browser()
    profile = tempfile.mkdtemp(prefix="batchdigits-chromium-")
    browser = start_chromium(profile)
    yield browser
    browser.quit()
    shutil.rmtree(profile, ignore_errors=True)


def serve(session: ReviewSession) -> tuple[ReviewServer, threading.Thread]:
    server = make_server(session, "127.0.0.1", 0)
    thread = threading.Thread(target=server.serve_forever, args=(0.02,), daemon=True)
    thread.start()
    return server, thread


@pytest.fixture
def start_review(default_model) -> Iterator[Callable[[Path, Path], tuple[ReviewServer, ReviewSession]]]:
    servers: list[ReviewServer] = []

    def start(predictions: Path, folder: Path) -> tuple[ReviewServer, ReviewSession]:
        session = ReviewSession.open(str(predictions), str(folder), model=default_model)
        server, _ = serve(session)
        servers.append(server)
        return server, session

    yield start
    for server in servers:
        server.shutdown()
        server.server_close()


def wait_for(condition: Callable[[], Any], timeout: float = 15.0, what: str = "") -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(0.02)
    raise AssertionError(f"timed out waiting for {what or condition}")


def open_page(driver: Any, url: str) -> None:
    driver.get(url)
    wait_for(lambda: driver.execute_script("return document.body.dataset.ready === 'true'"), what="page")


def text(driver: Any, element_id: str) -> str:
    return driver.execute_script(f"return document.getElementById('{element_id}').textContent")


def type_keys(driver: Any, *keys: str) -> None:
    from selenium.webdriver.common.by import By

    driver.find_element(By.TAG_NAME, "body").send_keys(*keys)


def all_saved(driver: Any) -> bool:
    return text(driver, "saved") == "all decisions saved"


def decisions(path: Path) -> dict[str, str]:
    if not path.exists():
        return {}
    with open(path, encoding="utf-8", newline="") as fh:
        return {row["path"]: row["label"] for row in csv.DictReader(fh)}


# --- tests -----------------------------------------------------------------------------


def test_review_rows_with_the_keyboard_then_reload_and_resume(tmp_path, driver, start_review):
    from batchdigits.cli.app import app  # noqa: F401 - the real classify makes the CSV
    from helpers import run_cli
    from selenium.webdriver.common.keys import Keys

    folder = tmp_path / "scans"
    for i in range(5):
        save_digit(folder / f"one{i}.png", "one", size=(36 + 4 * i, 60))
        save_digit(folder / f"zero{i}.tif", "zero", size=(36 + 4 * i, 60))
    save_digit(folder / "blank.png", "blank")
    predictions = tmp_path / "predictions.csv"
    assert run_cli("classify", folder, "--out", predictions, "--jobs", "1").exit_code == 0
    server, session = start_review(predictions, folder)
    order = [r["path"] for r in session.page(0, 100)]
    rows = {r["path"]: r for r in session.page(0, 100)}
    fixes = tmp_path / "predictions.corrections.csv"

    open_page(driver, server.url)
    assert text(driver, "path") == order[0]
    wait_for(lambda: driver.execute_script(  # the image came through the token cookie
        "const img = document.getElementById('thumb'); return img.complete && img.naturalWidth > 0"
    ), what="the scan's thumbnail")
    assert "11 of 11 rows left" in text(driver, "counter")
    type_keys(driver, "7", "x", Keys.ENTER, Keys.ARROW_RIGHT, "3", Keys.ARROW_LEFT, Keys.ARROW_LEFT, "5")
    wait_for(lambda: all_saved(driver) and len(decisions(fixes)) == 5, what="five decisions saved")

    accepted = rows[order[2]]["label"]  # Enter takes the prediction ("" for a blank row)
    assert decisions(fixes) == {
        f"scans/{order[0]}": "7", f"scans/{order[1]}": "", f"scans/{order[2]}": accepted,
        f"scans/{order[3]}": "5", f"scans/{order[4]}": "3",
    }
    assert text(driver, "path") == order[4]  # after the last decision the page moved on
    assert text(driver, "decision") == "3"
    assert "6 of 11 rows left" in text(driver, "counter") and "5 decided" in text(driver, "counter")

    driver.refresh()
    wait_for(lambda: driver.execute_script("return document.body.dataset.ready === 'true'"), what="reload")

    assert text(driver, "path") == order[5]  # resumes at the first undecided row
    assert "5 decided" in text(driver, "counter")
    type_keys(driver, Keys.ARROW_LEFT, Keys.BACK_SPACE)  # undo the 3
    wait_for(lambda: all_saved(driver) and len(decisions(fixes)) == 4, what="undo saved")
    assert f"scans/{order[4]}" not in decisions(fixes)
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        ".predictions.csv.lock", "predictions.corrections.csv", "predictions.csv", "scans"
    ]


def test_reviewing_100_rows_with_the_keyboard(tmp_path, driver, start_review):
    """Times 100 decisions typed in a row (printed; no timing assert: see benchmarks/)."""
    folder = tmp_path / "scans"
    rows = []
    for i in range(120):
        save_digit(folder / f"{i:03d}.png", ("one", "zero")[i % 2], size=(30 + i % 20, 60))
        rows.append(Row(f"{i:03d}.png", 1 - i % 2, 0.2 + i / 1000, "low_confidence"))
    predictions = tmp_path / "predictions.csv"
    with open_csv(str(predictions)) as out:
        for row in rows:
            out.write(row)
    server, _ = start_review(predictions, folder)
    keys = "".join(str((i * 7) % 10) for i in range(100))
    fixes = tmp_path / "predictions.corrections.csv"
    open_page(driver, server.url)

    started = time.perf_counter()
    type_keys(driver, keys)
    wait_for(lambda: text(driver, "path") == "100.png", timeout=60, what="the page at row 101")
    shown = time.perf_counter() - started
    wait_for(lambda: all_saved(driver) and len(decisions(fixes)) == 100, timeout=60, what="100 saved")
    elapsed = time.perf_counter() - started

    assert decisions(fixes) == {f"scans/{i:03d}.png": keys[i] for i in range(100)}
    assert text(driver, "path") == "100.png"
    assert "20 doubtful left" in text(driver, "counter")
    print(f"\nreviewed 100 rows with the keyboard in the browser: page on row 101 after "
          f"{shown:.2f} s, all 100 decisions saved to disk after {elapsed:.2f} s "
          f"({1000 * elapsed / 100:.0f} ms per row)")


def test_in_ci_a_missing_browser_fails_instead_of_skipping(monkeypatch):
    monkeypatch.setattr(shutil, "which", lambda name: None)
    monkeypatch.setenv("CI", "true")
    with pytest.raises(pytest.fail.Exception, match="needs Debian's chromium: missing in CI"):
        require_browser()

    monkeypatch.delenv("CI")
    with pytest.raises(pytest.skip.Exception):
        require_browser()

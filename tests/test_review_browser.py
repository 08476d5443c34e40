"""The review page in a real browser: headless Debian Chromium driven by selenium.

Keys are typed and buttons clicked as a person would, at a phone's size
(400x800) and a desktop's (1280x800); the corrections file is read back
with ``csv``.  Chromium and its driver come from Debian (``chromium``,
``chromium-driver``; ``.ci/run`` installs them); selenium never downloads
anything (the driver's path is given, and ``SE_OFFLINE``).  In CI
(``CI=true``) a missing browser fails these tests instead of skipping.
One browser serves the whole module; each folder holds a few scans.
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
from batchdigits.web.webreview import ReviewServer, make_server, page_commands
from batchdigits.run.write import Row, open_csv
from browser import missing, set_viewport, start_chromium
from imagemaker import save_digit

SIZES = [pytest.param((400, 800), id="400x800"), pytest.param((1280, 800), id="1280x800")]


def require_browser() -> None:
    """Skip when Chromium or selenium is missing, but fail in CI (CI=true)."""
    lacking = missing()
    if lacking:
        reason = f"the browser test needs {lacking}"
        if os.environ.get("CI") == "true":
            pytest.fail(f"{reason}: missing in CI")
        pytest.skip(reason)


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    """One headless Chromium for the module (with a fresh profile)."""
    require_browser()
    profile = tempfile.mkdtemp(prefix="batchdigits-chromium-")
    chromium = start_chromium(profile, 1400, 1000)  # a window larger than every viewport set in it
    yield chromium
    chromium.quit()
    shutil.rmtree(profile, ignore_errors=True)


@pytest.fixture
def driver(browser: Any, request: pytest.FixtureRequest) -> Any:
    """The module's browser with the viewport of the test's ``size`` (else 1280x800)."""
    callspec = getattr(request.node, "callspec", None)
    set_viewport(browser, *(callspec.params.get("size", (1280, 800)) if callspec else (1280, 800)))
    return browser


def write_csv(folder: Path, rows: list[tuple[str, str, int | None, float | None, str]]) -> Path:
    """Scans drawn as ``(name, shape, label, confidence, status)`` say, and their CSV beside the folder."""
    predictions = folder.parent / "predictions.csv"
    with open_csv(str(predictions)) as out:
        for name, shape, label, confidence, status in rows:
            if shape:
                save_digit(folder / name, shape)
            error = "not a recognised image format" if status == "error" else ""
            if status == "error":
                (folder / name).write_text("not an image")
            out.write(Row(name, label, confidence, status, error))
    return predictions


@pytest.fixture
def start_review(default_model) -> Iterator[Callable[..., tuple[ReviewServer, ReviewSession]]]:
    servers: list[ReviewServer] = []

    def start(
        predictions: Path, folder: Path, port: int = 0, token: str | None = None
    ) -> tuple[ReviewServer, ReviewSession]:
        session = ReviewSession.open(str(predictions), str(folder), model=default_model)
        server = make_server(session, "127.0.0.1", port, token)
        server.commands = page_commands(str(predictions), str(folder), session.corrections_path, server.port)
        threading.Thread(target=server.serve_forever, args=(0.02,), daemon=True).start()
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


def shown(driver: Any, element_id: str) -> bool:
    return driver.execute_script(
        f"const e = document.getElementById('{element_id}'); return !!e && e.getClientRects().length > 0"
    )


def type_keys(driver: Any, *keys: str) -> None:
    from selenium.webdriver.common.by import By

    driver.find_element(By.TAG_NAME, "body").send_keys(*keys)


def click(driver: Any, selector: str) -> None:
    """A real click (selenium scrolls the element into view and clicks its middle)."""
    from selenium.webdriver.common.by import By

    driver.find_element(By.CSS_SELECTOR, selector).click()


def fits(driver: Any, width: int) -> bool:
    """No horizontal scrolling, and nothing outside the strip reaches past the right edge."""
    return driver.execute_script(
        "const w = arguments[0]; if (document.documentElement.scrollWidth > w) return false;"
        "for (const e of document.querySelectorAll('header *, main *')) {"
        "  if (e.closest('#strip') || !e.getClientRects().length) continue;"
        "  if (e.getBoundingClientRect().right > w + 0.5) return false; } return true;", width
    )


def button(key: str) -> str:
    return f'#pad button[data-key="{key}"]'


def all_saved(driver: Any) -> bool:
    return text(driver, "saved") == "all decisions saved"


def tile_labels(driver: Any) -> dict[int, str]:
    return {int(k): v for k, v in driver.execute_script(
        "const out = {}; for (const t of document.querySelectorAll('#strip .tile')) "
        "out[t.dataset.index] = t.querySelector('.label').textContent; return out;"
    ).items()}


def decisions(path: Path) -> dict[str, str]:
    if not path.exists():
        return {}
    with open(path, encoding="utf-8", newline="") as fh:
        return {row["path"]: row["label"] for row in csv.DictReader(fh)}


ELEVEN = [  # seven doubtful rows, then four ok ones
    *((f"one{i}.png", "one", 1, 0.30 + i / 100, "low_confidence") for i in range(3)),
    *((f"zero{i}.png", "zero", 0, 0.40 + i / 100, "low_confidence") for i in range(3)),
    ("blank.png", "blank", None, None, "blank"),
    *((f"ok{i}.png", "one", 1, 0.95 + i / 100, "ok") for i in range(4)),
]


# --- tests -----------------------------------------------------------------------------


def test_review_rows_with_the_keyboard_then_reload_and_resume(tmp_path, driver, start_review):
    from selenium.webdriver.common.keys import Keys

    folder = tmp_path / "scans"
    predictions = write_csv(folder, ELEVEN)
    server, session = start_review(predictions, folder)
    order = [r["path"] for r in session.page(0, 100)]
    fixes = tmp_path / "predictions.corrections.csv"

    open_page(driver, server.url)
    assert text(driver, "path") == order[0]
    wait_for(lambda: driver.execute_script(  # the image came through the token cookie
        "const img = document.getElementById('thumb'); return img.complete && img.naturalWidth > 0"
    ), what="the scan's thumbnail")
    assert "11 of 11 rows left" in text(driver, "counter")
    type_keys(driver, "7", "x", Keys.ENTER, Keys.ARROW_RIGHT, "3", Keys.ARROW_LEFT, Keys.ARROW_LEFT, "5")
    wait_for(lambda: all_saved(driver) and len(decisions(fixes)) == 5, what="five decisions saved")

    assert decisions(fixes) == {
        f"scans/{order[0]}": "7", f"scans/{order[1]}": "", f"scans/{order[2]}": "1",  # Enter: the "1" read
        f"scans/{order[3]}": "5", f"scans/{order[4]}": "3",
    }
    assert text(driver, "path") == order[4]  # after the last decision the page moved on
    assert text(driver, "decision") == "3" and text(driver, "decision-state") == "saved"
    assert "6 of 11 rows left" in text(driver, "counter") and "5 saved" in text(driver, "counter")
    assert tile_labels(driver)[1] == "→ not a digit" and tile_labels(driver)[3] == "→ 5"  # rows 2 and 4

    driver.refresh()
    wait_for(lambda: driver.execute_script("return document.body.dataset.ready === 'true'"), what="reload")

    assert text(driver, "path") == order[5]  # resumes at the first undecided row
    assert "5 saved" in text(driver, "counter")
    type_keys(driver, Keys.ARROW_LEFT, Keys.BACK_SPACE)  # undo the 3
    wait_for(lambda: all_saved(driver) and len(decisions(fixes)) == 4, what="undo saved")
    assert f"scans/{order[4]}" not in decisions(fixes)
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        ".predictions.corrections.csv.lock", "predictions.corrections.csv", "predictions.csv", "scans"
    ]  # the lock that keeps two servers on one corrections file from losing decisions stays, empty


@pytest.mark.parametrize("size", SIZES)
def test_after_the_doubtful_rows_the_page_stops_and_no_key_changes_a_decision(tmp_path, driver, start_review, size):
    """Clicks for the decisions, keys at the stops; the last row is never overwritten."""
    from selenium.webdriver.common.keys import Keys

    folder = tmp_path / "scans"
    predictions = write_csv(folder, [
        ("a.png", "one", 1, 0.31, "low_confidence"),
        ("b.png", "zero", 0, 0.42, "low_confidence"),
        ("broken.png", "", None, None, "error"),
        ("c.png", "one", 1, 0.97, "ok"),
        ("d.png", "zero", 0, 0.99, "ok"),
    ])
    server, session = start_review(predictions, folder)
    fixes = tmp_path / "predictions.corrections.csv"
    open_page(driver, server.url)

    click(driver, button("3"))
    click(driver, button("x"))
    wait_for(lambda: text(driver, "path") == "broken.png", what="the error row")
    type_keys(driver, Keys.ENTER)  # nothing to accept on an error row: it says so
    wait_for(lambda: text(driver, "note") == "no prediction: type a digit or x", what="the note")
    assert shown(driver, "failed-box") and not shown(driver, "reading-box") and not shown(driver, "sure-box")
    assert "no prediction: this file could not be read (not a recognised image format)" == text(driver, "failed-box")
    click(driver, button("7"))

    wait_for(lambda: shown(driver, "stop") and all_saved(driver), what="the stop after the doubtful rows")
    assert text(driver, "stop-title") == "All doubtful rows checked"
    assert text(driver, "stop-saved") == f"3 decisions saved in {fixes}."
    assert text(driver, "next-command") == server.commands["next"]
    assert server.commands["next"] == f"batchdigits classify {folder} --out {predictions} --corrections {fixes}"
    assert driver.title == "all doubtful rows checked · batchdigits review"
    assert not shown(driver, "card") and fits(driver, size[0])
    click(driver, 'button.copy[data-copy="next-command"]')
    assert driver.execute_script("return window.getSelection().toString()") == server.commands["next"]

    before = fixes.read_bytes()
    type_keys(driver, "5", Keys.ENTER, "x", Keys.BACK_SPACE)
    wait_for(lambda: "nothing was changed" in text(driver, "stop-note"), what="the stop's note")
    time.sleep(0.3)
    assert fixes.read_bytes() == before and shown(driver, "stop")

    click(driver, "#stop-next")  # the ok rows are optional
    wait_for(lambda: text(driver, "path") == "c.png", what="the first ok row")
    type_keys(driver, "1", "0")
    wait_for(lambda: shown(driver, "stop") and all_saved(driver), what="the end of the list")
    assert text(driver, "stop-title") == "End of the list · all doubtful rows checked"
    type_keys(driver, "9", Keys.ENTER, Keys.ARROW_RIGHT, "9")  # no silent overwrite of the last row
    wait_for(lambda: "nothing was changed" in text(driver, "stop-note"), what="the stop's note")
    time.sleep(0.3)
    assert decisions(fixes) == {
        "scans/a.png": "3", "scans/b.png": "", "scans/broken.png": "7", "scans/c.png": "1", "scans/d.png": "0"
    }
    type_keys(driver, Keys.ARROW_LEFT)
    wait_for(lambda: shown(driver, "card") and text(driver, "path") == "d.png", what="back to the last row")
    assert text(driver, "decision") == "0"


@pytest.mark.parametrize("size", SIZES)
def test_a_decision_counts_only_once_saved_and_the_page_lives_through_a_restart(
    tmp_path, driver, start_review, size
):
    """The server stopped: the decision is marked, counted as pending, retried; the same
    server started again on its port with its token takes it without a reload."""
    folder = tmp_path / "scans"
    predictions = write_csv(folder, ELEVEN[:4])
    server, _ = start_review(predictions, folder)
    port, token = server.port, server.token
    fixes = tmp_path / "predictions.corrections.csv"
    open_page(driver, server.url)
    server.shutdown()
    server.server_close()

    click(driver, button("6")) if size == (400, 800) else type_keys(driver, "6")

    wait_for(lambda: text(driver, "saved") == "1 not saved yet · retrying", what="the pending count")
    assert "0 saved" in text(driver, "counter")
    assert tile_labels(driver)[0] == "6 · not saved"
    assert "not answering" in text(driver, "banner") and "1 decision is kept on this page" in text(driver, "banner")
    assert f"--port {port}" in text(driver, "banner")
    type_keys(driver, "\ue012")  # back to the row: it says so too
    wait_for(lambda: text(driver, "decision-state") == "not saved yet · retrying", what="the card's mark")
    assert not fixes.exists()

    start_review(predictions, folder, port=port, token=token)
    wait_for(lambda: all_saved(driver), timeout=20, what="saved after the restart")
    assert decisions(fixes) == {"scans/one0.png": "6"}
    assert tile_labels(driver)[0] == "→ 6" and text(driver, "decision-state") == "saved"
    assert "1 saved" in text(driver, "counter") and not shown(driver, "banner")


@pytest.mark.parametrize("size", SIZES)
def test_the_page_fits_the_screen_with_buttons_help_and_a_live_title(tmp_path, driver, start_review, size):
    folder = tmp_path / "scans"
    predictions = write_csv(folder, ELEVEN[:3] + ELEVEN[-2:])
    server, _ = start_review(predictions, folder)
    open_page(driver, server.url)
    width, height = size

    page = driver.execute_script(
        "const r = (id) => document.getElementById(id).getBoundingClientRect();"
        "return {inner: window.innerWidth, scroll: document.documentElement.scrollWidth,"
        " grid: r('grid').toJSON(), thumb: document.querySelector('.thumb').getBoundingClientRect().toJSON(),"
        " cells: document.querySelectorAll('#grid div').length}"
    )
    assert page["inner"] == width and page["scroll"] <= width and fits(driver, width)  # no horizontal scrolling
    grid = page["grid"]
    assert page["cells"] == 64 and grid["left"] >= 0 and grid["right"] <= width and grid["bottom"] <= height
    assert grid["width"] >= (160 if width < 600 else 330)  # larger on a wide screen
    assert page["thumb"]["width"] >= (160 if width < 600 else 330)
    for key in [*"0123456789", "x", "Enter", "Backspace", "ArrowLeft", "ArrowRight"]:
        rect = driver.execute_script(
            f"return document.querySelector('{button(key)}').getBoundingClientRect().toJSON()"
        )
        assert rect["width"] >= 32 and rect["height"] >= 32 and rect["right"] <= width, key

    assert text(driver, "sure") == "30 %"
    assert text(driver, "sure-words") == "of the rows read this sure, about 30 in 100 are right"
    assert driver.title == "3 doubtful left · batchdigits review"
    click(driver, button("Enter"))  # accept the "1" read
    wait_for(lambda: driver.title == "2 doubtful left · batchdigits review", what="the title's count")

    assert not shown(driver, "help")
    type_keys(driver, "?")
    wait_for(lambda: shown(driver, "help"), what="the keys")
    assert "not a digit" in text(driver, "help") and "next row without a decision" in text(driver, "help")
    type_keys(driver, "\ue00c")  # Escape
    wait_for(lambda: not shown(driver, "help"), what="the keys hidden")
    click(driver, "#help-button")
    wait_for(lambda: shown(driver, "help"), what="the keys by the button")
    click(driver, "#help-close")
    wait_for(lambda: not shown(driver, "help"), what="the keys closed by the button")
    assert decisions(tmp_path / "predictions.corrections.csv") == {"scans/one0.png": "1"}


@pytest.mark.parametrize("size", SIZES)
def test_after_a_refit_the_rows_ahead_are_read_again_and_say_what_changed(
    tmp_path, driver, start_review, size, monkeypatch
):
    """The server side of the refit is stood in for (generation, order, ``was``) as the
    API promises it; what is tested is the page: the row on screen stays, the rows
    ahead come in the new order, a changed reading says so."""
    from selenium.webdriver.common.keys import Keys

    folder = tmp_path / "scans"
    predictions = write_csv(folder, ELEVEN[:4] + ELEVEN[-1:])  # one0-2, zero0, ok3
    server, session = start_review(predictions, folder)
    real_summary, real_page, real_decide = session.summary, session.page, session.decide
    refit = {"generation": 0}

    def ranked() -> list[dict[str, Any]]:
        rows = real_page(0, 100)
        if refit["generation"]:  # decided first, then zero0 (read 8 now) before one1 and one2
            order = ["one0.png", "zero0.png", "one1.png", "one2.png", "ok3.png"]
            rows = sorted(rows, key=lambda r: order.index(r["path"]))
            rows[1] = {**rows[1], "label": "8", "was": "0"}
        return [{**row, "i": i} for i, row in enumerate(rows)]

    def decide(path: str, label: str | None) -> dict[str, Any]:
        answer = real_decide(path, label)
        refit["generation"] = 1
        return {**answer, **session.summary()}

    def next_undecided(after: int) -> int | None:
        return next((r["i"] for r in ranked()[after + 1:] if r["decision"] is None), None)

    monkeypatch.setattr(session, "summary", lambda: {**real_summary(), "generation": refit["generation"]})
    monkeypatch.setattr(session, "page", lambda offset, limit: ranked()[offset:offset + limit])
    monkeypatch.setattr(session, "decide", decide)
    monkeypatch.setattr(session, "next_undecided", next_undecided)
    open_page(driver, server.url)

    type_keys(driver, "1")  # one0 decided; the page moves to one1, then the refit's answer comes
    wait_for(lambda: all_saved(driver) and "8" in tile_labels(driver).values(), what="the rows ahead read again")
    assert text(driver, "path") == "one1.png"  # the row on screen is not disturbed
    type_keys(driver, Keys.ARROW_RIGHT)  # on to the first row of the new order without a decision
    wait_for(lambda: text(driver, "path") == "zero0.png", what="the re-ranked row")
    assert text(driver, "changed") == "reading changed: was 0, now 8" and shown(driver, "changed")
    assert text(driver, "predicted") == "8"
    type_keys(driver, Keys.ARROW_RIGHT)
    wait_for(lambda: text(driver, "path") == "one1.png", what="the new order goes on")
    assert not shown(driver, "changed")


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
    shown_after = time.perf_counter() - started
    wait_for(lambda: all_saved(driver) and len(decisions(fixes)) == 100, timeout=60, what="100 saved")
    elapsed = time.perf_counter() - started

    assert decisions(fixes) == {f"scans/{i:03d}.png": keys[i] for i in range(100)}
    assert text(driver, "path") == "100.png"
    assert "20 doubtful left" in text(driver, "counter")
    print(f"\nreviewed 100 rows with the keyboard in the browser: page on row 101 after "
          f"{shown_after:.2f} s, all 100 decisions saved to disk after {elapsed:.2f} s "
          f"({1000 * elapsed / 100:.0f} ms per row)")


def test_in_ci_a_missing_browser_fails_instead_of_skipping(monkeypatch):
    monkeypatch.setattr(shutil, "which", lambda name: None)
    monkeypatch.setenv("CI", "true")
    with pytest.raises(pytest.fail.Exception, match="needs Debian's chromium: missing in CI"):
        require_browser()

    monkeypatch.delenv("CI")
    with pytest.raises(pytest.skip.Exception):
        require_browser()

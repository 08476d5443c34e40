"""The review server over plain HTTP: token, traversal, bad input, what it writes.

A real server on 127.0.0.1 (any free port) serves a real folder and CSV;
requests go through ``http.client`` with the raw paths given (nothing is
normalised on the way), and the corrections file is read back with ``csv``.
"""

from __future__ import annotations

import csv
import hashlib
import http.client
import io
import json
import os
import re
import signal
import subprocess
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from PIL import Image

import batchdigits.io.atomic as atomic_module
from batchdigits.image.convert import convert_file
from batchdigits.web.reviewsession import ReviewError, ReviewSession, find_folder
from batchdigits.web.webreview import ReviewServer, is_loopback, make_server
from batchdigits.run.write import Row, open_csv, read_rows
from helpers import console_script, one_line_error, run_cli
from imagemaker import save_digit

SECRET = b"top secret, outside the folder"


# --- a folder, its CSV and a running server ----------------------------------------


def write_predictions(path: Path, rows: list[Row]) -> Path:
    with open_csv(str(path)) as out:
        for row in rows:
            out.write(row)
    return path


@pytest.fixture
def work(tmp_path: Path) -> Path:
    """scans/ with five images and a symlink leading out; secret.png beside scans/."""
    folder = tmp_path / "scans"
    save_digit(folder / "a.png", "one")
    save_digit(folder / "b.png", "zero")
    save_digit(folder / "c.tif", "one", size=(40, 60))
    save_digit(folder / "sub" / "d.pgm", "zero")
    save_digit(folder / "blank.png", "blank")
    save_digit(tmp_path / "secret.png", "zero")
    (tmp_path / "secret.txt").write_bytes(SECRET)
    os.symlink(tmp_path / "secret.png", folder / "link.png")
    save_digit(folder / "later.png", "one")  # in the folder, not in the CSV
    write_predictions(
        tmp_path / "predictions.csv",
        [
            Row("a.png", 1, 0.95, "ok"),
            Row("b.png", 0, 0.41, "low_confidence"),
            Row("blank.png", None, None, "blank"),
            Row("c.tif", 1, 0.62, "low_confidence"),
            Row("link.png", 0, 0.99, "ok"),
            Row("sub/d.pgm", 0, 0.85, "ok"),
            Row("../secret.png", 0, 0.5, "ok"),  # a doctored CSV
            Row("zz/broken.png", None, None, "error", "not a recognised image format"),
        ],
    )
    return tmp_path


@pytest.fixture
def session(work: Path, default_model) -> ReviewSession:
    return ReviewSession.open(str(work / "predictions.csv"), str(work / "scans"), model=default_model)


def serving(session: ReviewSession) -> Iterator[ReviewServer]:
    """A real server for ``session`` on 127.0.0.1 (any free port), until the generator is closed."""
    server = make_server(session, "127.0.0.1", 0)
    thread = threading.Thread(target=server.serve_forever, args=(0.02,), daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()


@pytest.fixture
def server(session: ReviewSession) -> Iterator[ReviewServer]:
    yield from serving(session)


class Answer:
    def __init__(self, response: http.client.HTTPResponse) -> None:
        self.status = response.status
        self.headers = response.headers
        self.body = response.read()

    def json(self):
        return json.loads(self.body)


def request(
    server: ReviewServer, method: str, path: str, body: bytes | None = None,
    headers: dict[str, str] | None = None, token: str | None = "right",
) -> Answer:
    """``path`` is sent as it is; ``token="right"`` appends the server's token."""
    if token is not None:
        value = server.token if token == "right" else token
        path += ("&" if "?" in path else "?") + f"token={value}"
    connection = http.client.HTTPConnection("127.0.0.1", server.port, timeout=10)
    try:
        connection.request(method, path, body=body, headers=headers or {})
        return Answer(connection.getresponse())
    finally:
        connection.close()


def decide(server: ReviewServer, path: str, label: str | None) -> Answer:
    body = json.dumps({"path": path, "label": label}).encode()
    return request(server, "POST", "/api/decide", body, {"Content-Type": "application/json"})


def corrections(work: Path) -> list[dict[str, str]]:
    with open(work / "predictions.corrections.csv", encoding="utf-8", newline="") as fh:
        return list(csv.DictReader(fh))


def listing(root: Path) -> dict[str, bytes]:
    return {
        str(p.relative_to(root)): (p.read_bytes() if p.is_file() else b"")
        for p in sorted(root.rglob("*"))
    }


# --- the token -------------------------------------------------------------------------

ROUTES = ["/", "/static/review.js", "/static/review.css", "/api/summary", "/api/rows",
          "/api/next", "/image/a.png"]


@pytest.mark.parametrize("path", ROUTES)
@pytest.mark.parametrize("token", [None, "", "wrong", "x" * 200])
def test_every_route_refuses_a_missing_or_wrong_token(server, path, token):
    assert request(server, "GET", path, token=token).status == 403


@pytest.mark.parametrize("path", ROUTES)
def test_every_route_answers_with_the_token(server, path):
    answer = request(server, "GET", path)
    assert answer.status == 200
    assert answer.headers["X-Content-Type-Options"] == "nosniff"
    assert "default-src 'none'" in answer.headers["Content-Security-Policy"]


def test_a_post_without_the_token_is_refused_and_writes_nothing(server, work):
    body = json.dumps({"path": "a.png", "label": "7"}).encode()
    answer = request(server, "POST", "/api/decide", body, {"Content-Type": "application/json"}, token=None)

    assert answer.status == 403
    assert not (work / "predictions.corrections.csv").exists()


def test_the_page_sets_a_strict_cookie_that_opens_the_images(server):
    page = request(server, "GET", "/")
    cookie = page.headers["Set-Cookie"]
    assert f"batchdigits_review_{server.port}={server.token}" in cookie
    assert "HttpOnly" in cookie and "SameSite=Strict" in cookie

    name_value = cookie.split(";")[0]
    image = request(server, "GET", "/image/a.png", headers={"Cookie": name_value}, token=None)
    wrong = request(server, "GET", "/image/a.png", headers={"Cookie": f"{name_value}x"}, token=None)

    assert image.status == 200 and image.headers["Content-Type"] == "image/png"
    assert wrong.status == 403


def test_another_host_name_is_refused_even_with_the_token(server):
    """DNS rebinding: a page of evil.example resolving to 127.0.0.1."""
    answer = request(server, "GET", "/api/summary", headers={"Host": f"evil.example:{server.port}"})
    assert answer.status == 403
    assert request(server, "GET", "/api/summary", headers={"Host": f"localhost:{server.port}"}).status == 200


def test_the_token_is_long_and_random(session):
    one, two = make_server(session), make_server(session)
    try:
        assert one.token != two.token and len(one.token) >= 32
    finally:
        one.server_close()
        two.server_close()


# --- only the CSV's files, only inside the folder ---------------------------------------


@pytest.mark.parametrize(
    "path, status",
    [
        ("/image/../secret.txt", 404),
        ("/image/../../../../etc/passwd", 404),
        ("/image/%2e%2e/secret.txt", 404),
        ("/image/%2e%2e/%2e%2e/%2e%2e/etc/passwd", 404),
        ("/image/sub/../../secret.png", 404),
        ("/image//etc/passwd", 404),
        ("/image/%2Fetc%2Fpasswd", 404),
        ("/image/{abs}", 404),
        ("/image/later.png", 404),  # in the folder, not in the CSV
        ("/image/sub", 404),
        ("/image/", 404),
        ("/image/a.png%00.txt", 404),
        ("/image/%ff%fe.png", 404),
        ("/image/%2E%2E%2Fsecret.png", 403),  # named in the (doctored) CSV, outside the folder
        ("/image/..%2fsecret.png", 403),
        ("/image/link.png", 403),  # a symlink in the folder leading out of it
    ],
)
def test_nothing_but_the_csv_files_inside_the_folder_is_served(server, work, path, status):
    answer = request(server, "GET", path.format(abs=str(work / "secret.png")))

    assert answer.status == status
    assert SECRET not in answer.body and not answer.body.startswith(b"\x89PNG")


def test_a_symlink_leading_out_of_the_folder_is_refused(server):
    answer = request(server, "GET", "/image/link.png")

    assert answer.status == 403
    assert b"outside the folder" in answer.body
    assert decide(server, "link.png", "3").status == 403


def test_a_doctored_csv_row_outside_the_folder_is_refused(server, work):
    answer = request(server, "GET", "/image/..%2Fsecret.png")

    assert answer.status == 403
    rows = {r["path"]: r for r in request(server, "GET", "/api/rows?limit=50").json()["rows"]}
    assert rows["../secret.png"]["grid"] is None and rows["../secret.png"]["top"] == []
    assert rows["../secret.png"]["note"] == "outside the folder: not shown"
    assert decide(server, "../secret.png", "3").status == 403
    assert not (work / "predictions.corrections.csv").exists()


def test_images_are_served_as_png_for_every_format(server):
    for path in ("a.png", "c.tif", "sub/d.pgm"):
        answer = request(server, "GET", f"/image/{path}")
        assert answer.status == 200 and answer.headers["Content-Type"] == "image/png"
        with Image.open(io.BytesIO(answer.body)) as img:
            assert img.format == "PNG" and max(img.size) <= 256


def test_an_unreadable_scan_answers_422_with_the_reason(server, work):
    (work / "scans" / "zz").mkdir()
    (work / "scans" / "zz" / "broken.png").write_bytes(b"not a png")

    answer = request(server, "GET", "/image/zz/broken.png")

    assert answer.status == 422 and b"not a recognised image format" in answer.body


# --- bad input ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    "body, content_type, status",
    [
        (b"{not json", "application/json", 400),
        (b"\xff\xfe", "application/json", 400),
        (b"[]", "application/json", 400),
        (b'"a.png"', "application/json", 400),
        (b'{"path": "a.png"}', "application/json", 400),
        (b'{"path": "a.png", "label": "7", "extra": 1}', "application/json", 400),
        (b'{"path": "a.png", "label": 7}', "application/json", 400),
        (b'{"path": ["a.png"], "label": "7"}', "application/json", 400),
        (b'{"path": "a.png", "label": "12"}', "application/json", 400),
        (b'{"path": "a.png", "label": "\\u0663"}', "application/json", 400),
        (b'{"path": "a.png", "label": " 7"}', "application/json", 400),
        (b'{"path": "a.png", "label": "x"}', "application/json", 400),
        (b'{"path": "nope.png", "label": "7"}', "application/json", 404),
        (b'{"path": "later.png", "label": "7"}', "application/json", 404),
        (b'{"path": "a.png", "label": "7"}', "text/plain", 415),
        (b'{"path": "a.png", "label": "7"}', "application/x-www-form-urlencoded", 415),
        (b'{"path": "' + b"a" * 5000 + b'", "label": "7"}', "application/json", 413),
    ],
)
def test_bad_posts_are_refused_and_write_nothing(server, work, body, content_type, status):
    answer = request(server, "POST", "/api/decide", body, {"Content-Type": content_type})

    assert answer.status == status
    assert "error" in answer.json()
    assert not (work / "predictions.corrections.csv").exists()


@pytest.mark.parametrize("path", ["/api/rows?offset=x", "/api/rows?limit=1e3", "/api/next?after=z"])
def test_bad_numbers_in_queries_answer_400(server, path):
    assert request(server, "GET", path).status == 400


def test_other_methods_and_paths(server):
    assert request(server, "PUT", "/api/decide", b"{}").status == 405
    assert request(server, "DELETE", "/api/decide").status == 405
    assert request(server, "POST", "/api/summary", b"{}", {"Content-Type": "application/json"}).status == 404
    assert request(server, "GET", "/static/../reviewsession.py").status == 404
    assert request(server, "GET", "/nowhere").status == 404


# --- decisions ---------------------------------------------------------------------------


def test_decisions_go_to_the_corrections_file_and_nothing_else_is_written(server, work):
    before = listing(work)

    answers = [decide(server, "b.png", "8"), decide(server, "a.png", ""), decide(server, "sub/d.pgm", "0")]

    assert [a.status for a in answers] == [200, 200, 200]
    assert answers[-1].json()["decided"] == 3
    after = listing(work)
    assert set(after) - set(before) == {"predictions.corrections.csv", ".predictions.corrections.csv.lock"}
    assert {k: v for k, v in after.items() if k in before} == before
    rows = corrections(work)
    assert [(r["path"], r["label"]) for r in rows] == [
        ("scans/a.png", ""), ("scans/b.png", "8"), ("scans/sub/d.pgm", "0")
    ]
    for row in rows:
        assert row["sha256"] == hashlib.sha256((work / row["path"]).read_bytes()).hexdigest()
        assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", row["reviewed_at"])


def test_a_new_decision_replaces_the_old_and_null_forgets_it(server, work):
    decide(server, "b.png", "8")
    decide(server, "b.png", "3")
    assert [(r["path"], r["label"]) for r in corrections(work)] == [("scans/b.png", "3")]

    answer = decide(server, "b.png", None)

    assert answer.status == 200 and answer.json()["decision"] is None
    assert corrections(work) == []


def test_the_corrections_file_is_replaced_atomically(server, work, monkeypatch):
    assert decide(server, "b.png", "8").status == 200
    saved = (work / "predictions.corrections.csv").read_bytes()

    def no_replace(src, dst):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(atomic_module.os, "replace", no_replace)
    answer = decide(server, "a.png", "1")

    assert answer.status == 500 and "not saved" in answer.json()["error"]
    assert (work / "predictions.corrections.csv").read_bytes() == saved
    assert sorted(p.name for p in work.iterdir() if p.name.endswith(".tmp")) == []
    monkeypatch.undo()
    assert request(server, "GET", "/api/summary").json()["decided"] == 1


def test_paths_are_relative_to_the_corrections_file_wherever_it_is(work, default_model):
    elsewhere = work / "reviews" / "mine.csv"
    elsewhere.parent.mkdir()
    session = ReviewSession.open(
        str(work / "predictions.csv"), str(work / "scans"), str(elsewhere), default_model
    )

    session.decide("sub/d.pgm", "0")

    with open(elsewhere, encoding="utf-8", newline="") as fh:
        assert [r["path"] for r in csv.DictReader(fh)] == ["../scans/sub/d.pgm"]


# --- what the page shows --------------------------------------------------------------------


def test_rows_come_doubtful_first_then_ok_by_rising_confidence(server):
    rows = request(server, "GET", "/api/rows?offset=0&limit=100").json()["rows"]

    assert [r["path"] for r in rows] == [
        "b.png", "c.tif",          # low_confidence, 0.41 then 0.62
        "blank.png",               # blank
        "zz/broken.png",           # error
        "../secret.png", "sub/d.pgm", "a.png", "link.png",  # ok: 0.50, 0.85, 0.95, 0.99
    ]
    assert [r["i"] for r in rows] == list(range(8))


def test_a_row_has_the_models_grid_and_top_three_and_the_csvs_confidence(server, work, default_model):
    import numpy as np

    row = request(server, "GET", "/api/rows?offset=1&limit=1").json()["rows"][0]

    grid, _ = convert_file(str(work / "scans" / "c.tif"))
    proba = default_model.predict_proba(grid.reshape(1, 64))[0]
    best = np.argsort(-proba, kind="stable")[:3]
    assert row["path"] == "c.tif" and row["grid"] == [int(v) for v in grid.reshape(64)]
    assert [d for d, _ in row["top"]] == [str(int(default_model.classes[b])) for b in best]
    assert row["top"][0][1] == round(float(proba[best[0]]), 4)
    assert (row["label"], row["confidence"], row["status"]) == ("1", "0.620000", "low_confidence")
    blank = request(server, "GET", "/api/rows?offset=2&limit=1").json()["rows"][0]
    assert blank["grid"] is None and blank["top"] == []


def test_reopening_resumes_at_the_first_undecided_row(work, server, default_model):
    decide(server, "b.png", "8")
    decide(server, "c.tif", "1")
    assert request(server, "GET", "/api/summary").json()["resume"] == 2

    again = ReviewSession.open(str(work / "predictions.csv"), str(work / "scans"), model=default_model)

    summary = again.summary()
    assert (summary["resume"], summary["decided"], summary["doubtful_left"]) == (2, 2, 2)
    assert again.page(0, 2)[1]["decision"]["label"] == "1"
    assert again.next_undecided(3) == 4


def test_ten_thousand_rows_open_fast_and_page_lazily(tmp_path, default_model):
    import time

    folder = tmp_path / "scans"
    save_digit(folder / "a.png", "one")
    rows = [Row(f"{i:05d}.png", 1, (i % 997) / 997, "ok") for i in range(10_000)]
    write_predictions(tmp_path / "p.csv", rows + [Row("a.png", 1, 0.5, "low_confidence")])

    started = time.perf_counter()
    session = ReviewSession.open(str(tmp_path / "p.csv"), str(folder), model=default_model)
    first = session.page(0, 50)
    summary = session.summary()
    elapsed = time.perf_counter() - started

    assert summary["total"] == 10_001 and first[0]["path"] == "a.png" and len(first) == 50
    assert first[1]["note"]  # a missing file is reported, not fatal
    print(f"10,001 rows: opened, summarised and first page in {elapsed:.2f} s")


# --- where the folder comes from ---------------------------------------------------------


def test_the_folder_comes_from_the_record_beside_the_csv(tmp_path):
    save_digit(tmp_path / "scans" / "a.png", "one")
    out = tmp_path / "p.csv"
    assert run_cli("classify", tmp_path / "scans", "--out", out, "--jobs", "1", "--incremental").exit_code == 0

    assert find_folder(str(out), None) == str((tmp_path / "scans").resolve())

    save_digit(tmp_path / "scans" / "b.png", "zero")
    run_cli("classify", tmp_path / "scans", "--out", out, "--jobs", "1")  # a plain run records it too
    assert find_folder(str(out), None) == str((tmp_path / "scans").resolve())
    os.unlink(tmp_path / ".p.csv.folder.json")  # as a CSV written before records were kept: the state is stale
    with pytest.raises(ReviewError, match="pass --folder DIR"):
        find_folder(str(out), None)


def test_is_loopback():
    assert is_loopback("127.0.0.1") and is_loopback("127.1.2.3") and is_loopback("::1")
    assert is_loopback("localhost") and is_loopback("[::1]")
    assert not is_loopback("0.0.0.0") and not is_loopback("192.168.1.5") and not is_loopback("example.org")


# --- the command ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    "setup, args, message",
    [
        (None, ["missing.csv", "--folder", "scans"], "predictions file not found"),
        ("notcsv", ["notes.csv", "--folder", "scans"], "cannot read notes.csv as a batchdigits CSV"),
        (None, ["predictions.csv"], "does not record which folder"),
        (None, ["predictions.csv", "--folder", "nowhere"], "folder not found: nowhere"),
        ("badfix", ["predictions.csv", "--folder", "scans"], "label must be a digit 0-9 or empty"),
        (None, ["predictions.csv", "--folder", "scans", "--corrections", "no/such/dir/c.csv"],
         "output folder does not exist"),
        (None, ["predictions.csv", "--folder", "scans", "--port", "70000"], "--port must be between"),
    ],
)
def test_review_usage_errors_exit_2_with_one_line(work, monkeypatch, setup, args, message):
    monkeypatch.chdir(work)
    if setup == "notcsv":
        (work / "notes.csv").write_text("just,some\ntext,here\n")
    if setup == "badfix":
        (work / "predictions.corrections.csv").write_text("path,label\nscans/a.png,A\n")

    result = run_cli("review", *args, "--no-browser")

    assert result.exit_code == 2
    assert message in one_line_error(result.stderr)


def test_review_command_serves_until_sigterm_and_exits_0(work):
    proc = subprocess.Popen(
        [*console_script(), "review", "predictions.csv", "--folder", "scans", "--no-browser"],
        cwd=work, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )
    try:
        line = proc.stderr.readline()
        url = re.search(r"review page: (http://127\.0\.0\.1:(\d+)/\?token=(\S+))", line)
        assert url, line
        port, token = int(url.group(2)), url.group(3)
        connection = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
        connection.request("GET", f"/api/summary?token={token}")
        summary = json.loads(connection.getresponse().read())
        connection.close()
        assert summary["total"] == 8 and summary["doubtful_left"] == 4
        assert "4 doubtful rows left of 8" in proc.stderr.readline()
    finally:
        proc.send_signal(signal.SIGTERM)
        _, err = proc.communicate(timeout=20)
    assert proc.returncode == 0, err
    assert "review stopped; 0 decisions in predictions.corrections.csv" in err
    assert "Traceback" not in err
    assert read_rows(str(work / "predictions.csv"))  # untouched and still readable


def test_two_reviews_of_the_same_corrections_file_keep_each_others_decisions(work, default_model):
    open_one = lambda: ReviewSession.open(  # noqa: E731
        str(work / "predictions.csv"), str(work / "scans"), model=default_model
    )
    first, second = open_one(), open_one()

    first.decide("b.png", "8")
    second.decide("c.tif", "1")
    first.decide("a.png", "")

    assert {(r["path"], r["label"]) for r in corrections(work)} == {
        ("scans/a.png", ""), ("scans/b.png", "8"), ("scans/c.tif", "1")
    }
    assert first.summary()["decided"] == 3


def test_a_corrections_file_broken_meanwhile_is_not_overwritten(server, work):
    assert decide(server, "b.png", "8").status == 200
    (work / "predictions.corrections.csv").write_text("path,label\nscans/b.png,eight\n")

    answer = decide(server, "a.png", "1")

    assert answer.status == 409 and "label must be a digit" in answer.json()["error"]
    assert (work / "predictions.corrections.csv").read_text() == "path,label\nscans/b.png,eight\n"

"""The review's corrections file under attack and under load (issue 22: 1, 2, 7, 14).

Real review sessions and servers, in this process and as separate processes;
the corrections file is read back with ``csv`` and with ``classify --corrections``.
"""

from __future__ import annotations

import csv
import http.client
import json
import os
import re
import signal
import subprocess
import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from batchdigits.run.corrections import read_corrections
from batchdigits.run.write import Row
from batchdigits.web.reviewsession import ReviewSession
from helpers import console_script, one_line_error, read_csv, run_cli
from imagemaker import save_digit
from test_webreview import decide, request, server, session, work, write_predictions  # noqa: F401 - fixtures

DECISIONS = 20  # per server

REVIEW_ADDRESS = re.compile(r"review page: http://127\.0\.0\.1:(\d+)/\?token=(\S+)")


def post_decisions(port: int, token: str, first: int, start: threading.Barrier) -> list[int]:
    """POST decisions ``first`` .. ``first + DECISIONS - 1`` to one server; their HTTP statuses."""
    start.wait(timeout=30)
    statuses = []
    for i in range(first, first + DECISIONS):
        connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        try:
            body = json.dumps({"path": f"{i:03d}.png", "label": str(i % 10)})
            connection.request("POST", f"/api/decide?token={token}", body, {"Content-Type": "application/json"})
            answer = connection.getresponse()
            answer.read()
            statuses.append(answer.status)
        finally:
            connection.close()
    return statuses


def test_two_review_servers_on_one_corrections_file_keep_every_answered_decision(tmp_path: Path):
    """Issue 22 #1 as filed: two `review` server processes on one CSV, 20 decisions POSTed to
    each at the same time; every decision answered 200 is in the file (before the lock: all 40
    answered 200, about 25 kept)."""
    folder = tmp_path / "scans"
    for i in range(2 * DECISIONS):
        save_digit(folder / f"{i:03d}.png", ("one", "zero")[i % 2])
    write_predictions(
        tmp_path / "p.csv", [Row(f"{i:03d}.png", 1, 0.5, "low_confidence") for i in range(2 * DECISIONS)]
    )
    servers = [
        subprocess.Popen(
            [*console_script(), "review", "p.csv", "--folder", "scans", "--no-browser", "--no-learn"],
            cwd=tmp_path, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        )
        for _ in range(2)
    ]
    errs = []
    try:
        addresses = [REVIEW_ADDRESS.search(p.stderr.readline()) for p in servers]  # type: ignore[union-attr]
        assert all(addresses), [p.poll() for p in servers]
        start = threading.Barrier(2)  # both servers get their decisions at the same time
        with ThreadPoolExecutor(2) as pool:
            posting = [
                pool.submit(post_decisions, int(a.group(1)), a.group(2), n * DECISIONS, start)  # type: ignore[union-attr]
                for n, a in enumerate(addresses)
            ]
            answered = [f.result() for f in posting]
    finally:
        for p in servers:
            p.send_signal(signal.SIGINT)
        for p in servers:
            errs.append(p.communicate(timeout=30)[1])

    assert answered == [[200] * DECISIONS] * 2
    assert [p.returncode for p in servers] == [0, 0], errs
    with open(tmp_path / "p.corrections.csv", encoding="utf-8", newline="") as fh:
        rows = list(csv.DictReader(fh))
    expected = [(f"scans/{i:03d}.png", str(i % 10)) for i in range(2 * DECISIONS)]
    assert [(r["path"], r["label"]) for r in rows] == expected


def test_a_carriage_return_in_a_file_name_keeps_its_decision_in_its_own_row(tmp_path, default_model):
    """Issue 22 #2: failed before the one CSV writer (a bare \\r split the row in two, and
    classify --corrections then marked the never-reviewed a.png "not a digit")."""
    folder = tmp_path / "scans"
    save_digit(folder / "a.png", "one")
    save_digit(folder / "a.png\rz.png", "zero")
    save_digit(folder / "b.png", "one")
    out = tmp_path / "p.csv"
    assert run_cli("classify", folder, "--out", out, "--jobs", "1").exit_code == 0
    review = ReviewSession.open(str(out), str(folder), model=default_model)

    review.decide("a.png\rz.png", "3")
    review.decide("b.png", "1")  # any later decision rewrites the whole file

    fixes = tmp_path / "p.corrections.csv"
    assert sorted(read_corrections(str(fixes))) == ["scans/a.png\rz.png", "scans/b.png"]
    result = run_cli("classify", folder, "--out", out, "--jobs", "1", "--corrections", fixes)
    assert result.exit_code == 0, result.stderr
    rows = {r["path"]: r for r in read_csv(out)}
    assert (rows["a.png\rz.png"]["label"], rows["a.png\rz.png"]["status"]) == ("3", "reviewed")
    assert (rows["a.png"]["label"], rows["a.png"]["status"]) == ("1", "ok")


def test_classify_with_a_fifo_as_corrections_file_exits_2_at_once(tmp_path):
    """Issue 22 #7: failed before (classify hung before any work, opening the FIFO)."""
    folder = tmp_path / "scans"
    save_digit(folder / "a.png", "one")
    fifo = tmp_path / "fixes.csv"
    os.mkfifo(fifo)

    result = run_cli("classify", folder, "--out", tmp_path / "p.csv", "--corrections", fifo)

    assert result.exit_code == 2
    assert one_line_error(result.stderr) == (
        f"batchdigits: error: cannot read {fifo}: not a regular file (FIFO, socket or device)"
    )
    assert not (tmp_path / "p.csv").exists()


def test_a_corrections_file_swapped_for_a_fifo_refuses_the_decision_and_ctrl_c_still_stops(work):  # noqa: F811
    """Issue 22 #7: failed before (the decision hung holding the session lock, so page loads
    hung too; Ctrl-C then no longer stopped the server)."""
    proc = subprocess.Popen(
        [*console_script(), "review", "predictions.csv", "--folder", "scans", "--no-browser"],
        cwd=work, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )
    try:
        url = re.search(r"review page: http://127\.0\.0\.1:(\d+)/\?token=(\S+)", proc.stderr.readline())
        assert url
        port, token = int(url.group(1)), url.group(2)
        os.mkfifo(work / "predictions.corrections.csv")
        connection = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
        body = json.dumps({"path": "b.png", "label": "8"})
        connection.request("POST", f"/api/decide?token={token}", body, {"Content-Type": "application/json"})
        answer = connection.getresponse()
        assert answer.status == 409
        assert "not a regular file" in json.loads(answer.read())["error"]
        assert answer.getheader("Connection") == "close"  # so the client's next request opens a new one
        connection.request("GET", f"/api/rows?offset=0&limit=5&token={token}")  # page loads go on
        rows = connection.getresponse()
        assert rows.status == 200 and rows.read()
        connection.close()
    finally:
        proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=20)
    assert proc.returncode == 0, err
    assert "review stopped; 0 decisions" in err and "Traceback" not in err


def test_deeply_nested_json_answers_400(server):  # noqa: F811 - the fixture
    """Issue 22 #14: failed before (500 RecursionError)."""
    body = b"[" * 4000

    answer = request(server, "POST", "/api/decide", body, {"Content-Type": "application/json"})

    assert answer.status == 400
    assert answer.json() == {"error": "body is not JSON"}

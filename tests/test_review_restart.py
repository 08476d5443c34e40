"""The review server stopped and started again: the same port at once, the same token, safely kept.

Real servers on 127.0.0.1, real sockets, a real token file in tmp_path
(its mode and owner checked with ``os.stat``), and the real command
through a subprocess for the restart an open page lives through.
"""

from __future__ import annotations

import http.client
import json
import os
import re
import signal
import socket
import stat
import subprocess
import threading
import time
from pathlib import Path

import pytest

from batchdigits.web import reviewtoken
from batchdigits.web.reviewsession import ReviewSession
from batchdigits.web.reviewtoken import default_token_path, kept_token
from batchdigits.web.webreview import ReviewServer, make_server
from batchdigits.run.write import Row, open_csv
from helpers import console_script
from imagemaker import save_digit


@pytest.fixture
def session(tmp_path: Path, default_model) -> ReviewSession:
    save_digit(tmp_path / "scans" / "a.png", "one")
    with open_csv(str(tmp_path / "predictions.csv")) as out:
        out.write(Row("a.png", 1, 0.41, "low_confidence"))
    return ReviewSession.open(str(tmp_path / "predictions.csv"), str(tmp_path / "scans"), model=default_model)


def serve(server: ReviewServer) -> ReviewServer:
    threading.Thread(target=server.serve_forever, args=(0.02,), daemon=True).start()
    return server


def stop(server: ReviewServer) -> None:
    server.shutdown()
    server.server_close()


def get(port: int, path: str, headers: dict[str, str] | None = None) -> tuple[int, bytes, http.client.HTTPMessage]:
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        connection.request("GET", path, headers=headers or {})
        response = connection.getresponse()
        return response.status, response.read(), response.headers
    finally:
        connection.close()


# --- the socket ---------------------------------------------------------------------


def test_a_restart_on_the_same_port_binds_at_once(session):
    """Failed before (allow_reuse_address False): [Errno 98] Address already in use."""
    first = serve(make_server(session))
    port = first.port
    for _ in range(3):  # refused requests: the server closes first, so its side waits in TIME-WAIT
        assert get(port, "/api/summary")[0] == 403
    stop(first)

    second = serve(make_server(session, "127.0.0.1", port))
    try:
        assert get(port, f"/api/summary?token={second.token}")[0] == 200
    finally:
        stop(second)


def test_a_port_another_server_listens_on_is_still_refused(session):
    first = make_server(session)
    try:
        with pytest.raises(OSError, match="in use"):
            make_server(session, "127.0.0.1", first.port)
    finally:
        first.server_close()


def test_the_listen_backlog_takes_a_burst_of_connections(session):
    """Failed before (backlog 5): connections past the sixth waited for a SYN retry and timed out."""
    server = make_server(session)  # bound and listening, not accepting yet
    sockets = []
    try:
        for _ in range(40):
            sockets.append(socket.create_connection(("127.0.0.1", server.port), timeout=0.5))
    finally:
        for s in sockets:
            s.close()
        server.server_close()
    assert len(sockets) == 40


def test_an_idle_connection_is_closed(session):
    """Failed before (no timeout): the silent connection stayed open."""
    server = serve(make_server(session, idle_timeout=0.3))
    try:
        with socket.create_connection(("127.0.0.1", server.port), timeout=5) as idle:
            started = time.monotonic()
            assert idle.recv(100) == b""  # closed by the server, not by the 5 s timeout
            assert time.monotonic() - started < 4
        assert get(server.port, f"/api/summary?token={server.token}")[0] == 200  # it still serves
    finally:
        stop(server)


def test_a_connection_the_browser_resets_leaves_no_traceback(session, capfd):
    """Failed before: a tab closed mid-connection (RST) printed socketserver's traceback on the
    terminal of `batchdigits review` ("Exception occurred during processing of request ...")."""
    import struct

    server = serve(make_server(session))
    try:
        reset = socket.create_connection(("127.0.0.1", server.port), timeout=5)
        reset.sendall(b"GET /api/summary HTTP/1.1\r\nHost: 127.0.0.1\r\n")  # half a request, then RST
        reset.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        reset.close()
        deadline = time.monotonic() + 5
        while server._open and time.monotonic() < deadline:  # the handler ended (shutdown_request ran)
            time.sleep(0.01)
        assert not server._open
        assert get(server.port, f"/api/summary?token={server.token}")[0] == 200  # it still serves
    finally:
        stop(server)
    assert capfd.readouterr().err == ""


def test_a_stopped_server_ends_its_kept_alive_connections(session):
    """Failed before: after server_close a browser's open connection still got answers."""
    server = serve(make_server(session))
    connection = http.client.HTTPConnection("127.0.0.1", server.port, timeout=5)
    try:
        connection.request("GET", f"/api/summary?token={server.token}")
        assert connection.getresponse().read() and connection.sock is not None  # kept alive
        stop(server)
        with pytest.raises((ConnectionError, http.client.HTTPException)):
            connection.request("GET", f"/api/summary?token={server.token}")
            connection.getresponse()
    finally:
        connection.close()


# --- the kept token -------------------------------------------------------------------


def mode(path: Path) -> int:
    return stat.S_IMODE(os.lstat(path).st_mode)


def test_the_token_is_kept_owner_only_and_reused(tmp_path):
    path = tmp_path / ".c.csv.token"
    token, why = kept_token(str(path))

    assert why == "" and len(token) >= 32 and re.fullmatch(r"[A-Za-z0-9_-]+", token)
    assert path.read_text() == token + "\n"
    assert mode(path) == 0o600
    assert kept_token(str(path)) == (token, "")
    assert sorted(p.name for p in tmp_path.iterdir()) == [".c.csv.token"]  # no temporary file left


def test_the_token_file_is_0600_whatever_the_umask(tmp_path):
    old = os.umask(0)
    try:
        kept_token(str(tmp_path / "t"))
    finally:
        os.umask(old)
    assert mode(tmp_path / "t") == 0o600


def test_the_default_token_file_sits_hidden_beside_the_corrections(tmp_path):
    assert default_token_path(str(tmp_path / "p.corrections.csv")) == str(tmp_path / ".p.corrections.csv.token")


@pytest.mark.parametrize("bits", [0o644, 0o640, 0o604, 0o660, 0o606])
def test_a_token_file_others_can_read_or_write_is_replaced(tmp_path, bits):
    path = tmp_path / "t"
    old = "a" * 40
    path.write_text(old)
    os.chmod(path, bits)

    token, why = kept_token(str(path))

    assert token != old and f"mode {bits:o}" in why
    assert path.read_text() == token + "\n" and mode(path) == 0o600


def test_a_symlinked_token_file_is_replaced_not_followed(tmp_path):
    target = tmp_path / "elsewhere"
    target.write_text("b" * 40)
    os.chmod(target, 0o600)
    link = tmp_path / "t"
    link.symlink_to(target)

    token, why = kept_token(str(link))

    assert token != "b" * 40 and "symbolic link" in why
    assert not link.is_symlink() and link.read_text() == token + "\n" and mode(link) == 0o600
    assert target.read_text() == "b" * 40  # the link's target is untouched


def test_a_token_file_of_another_user_is_replaced(tmp_path, monkeypatch):
    """Run as root too: another owner is simulated by another effective uid."""
    path = tmp_path / "t"
    path.write_text("c" * 40)
    os.chmod(path, 0o600)
    monkeypatch.setattr(reviewtoken.os, "geteuid", lambda: os.stat(path).st_uid + 1)

    token, why = kept_token(str(path))

    assert token != "c" * 40 and "another user" in why


@pytest.mark.parametrize("content", ["", "short", "d" * 31, "has space" * 5, "é" * 40, "x" * 300])
def test_a_token_file_without_a_token_is_replaced(tmp_path, content):
    path = tmp_path / "t"
    path.write_text(content, encoding="utf-8")
    os.chmod(path, 0o600)

    token, why = kept_token(str(path))

    assert why == "it did not hold a token" and path.read_text() == token + "\n"


def test_a_fifo_in_its_place_does_not_hang_and_a_folder_is_an_error(tmp_path):
    fifo = tmp_path / "t"
    os.mkfifo(fifo)
    token, why = kept_token(str(fifo))
    assert why == "it was not a regular file" and fifo.read_text() == token + "\n"

    (tmp_path / "d").mkdir()
    with pytest.raises(OSError):
        kept_token(str(tmp_path / "d"))


def test_a_kept_token_lets_the_open_page_go_on_after_a_restart(session, tmp_path):
    """The cookie the page got from the first server opens the second one on the same port."""
    token, _ = kept_token(str(tmp_path / "t"))
    first = serve(make_server(session, token=token))
    port = first.port
    status, _, headers = get(port, f"/?token={token}")
    cookie = headers["Set-Cookie"].split(";")[0]
    stop(first)

    second = serve(make_server(session, "127.0.0.1", port, token=kept_token(str(tmp_path / "t"))[0]))
    try:
        assert get(port, "/api/summary", {"Cookie": cookie})[0] == 200
        assert get(port, "/api/summary", {"Cookie": cookie + "x"})[0] == 403
        assert get(port, "/api/summary")[0] == 403
    finally:
        stop(second)


# --- the command --------------------------------------------------------------------


def start_review(work: Path, *args: str) -> tuple[subprocess.Popen[str], str, str]:
    """The running command, its page's address and what it printed up to it."""
    proc = subprocess.Popen(
        [*console_script(), "review", "predictions.csv", "--folder", "scans", "--no-browser", *args],
        cwd=work, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )
    lines = []
    while True:
        line = proc.stderr.readline()
        lines.append(line)
        found = re.search(r"review page: (\S+)", line)
        if found or not line:
            assert found, "".join(lines)
            return proc, found.group(1), "".join(lines)


def test_the_review_command_restarts_on_its_port_with_the_same_address(session, tmp_path):
    token_file = tmp_path / ".predictions.corrections.csv.token"
    token_file.write_text("e" * 40)
    os.chmod(token_file, 0o644)  # others could read it: not trusted

    proc, url, printed = start_review(tmp_path)
    port, token = re.search(r":(\d+)/\?token=(\S+)", url).groups()
    try:
        assert token != "e" * 40
        assert (f"warning: {token_file} replaced with a new token: others could read or write it "
                "(mode 644)") in printed
        assert mode(token_file) == 0o600 and token_file.read_text() == token + "\n"
        status, body, _ = get(int(port), f"/api/summary?token={token}")
        commands = json.loads(body)["commands"]
        assert commands == {
            "next": "batchdigits classify scans --out predictions.csv --corrections predictions.corrections.csv",
            "train": "batchdigits train --labels predictions.corrections.csv --unlabelled scans --out ours.skops",
            "restart": f"batchdigits review predictions.csv --folder scans --corrections "
            f"predictions.corrections.csv --port {port}",
        }
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.communicate(timeout=20)

    # at once, on the same port, the token file named explicitly: the same address
    again, url_again, printed = start_review(tmp_path, "--port", port, "--token-file", token_file.name)
    again.send_signal(signal.SIGTERM)
    _, err = again.communicate(timeout=20)
    assert url_again == url and "warning" not in printed
    assert again.returncode == 0, err

"""The review page's web server: ``batchdigits review PREDICTIONS.csv``.

Built on the standard library's ``http.server.ThreadingHTTPServer``: one
person on one machine, a static page (``batchdigits/web/static/``: vanilla
HTML/JS/CSS, no build step, nothing from a CDN) and a small JSON API do not
need a web framework, and a command-line tool that runs under cron is
better off without one more dependency and its updates.

Routes (every one needs the session's token, see below):

* ``GET /`` the page; ``GET /static/NAME`` its script and style sheet;
* ``GET /api/summary`` totals, what is left, where to resume, the commands to copy;
* ``GET /api/rows?offset=N&limit=M`` rows in review order with grid and top three;
* ``GET /api/next?after=N`` the next undecided row;
* ``GET /image/PATH`` a CSV row's scan as PNG (browsers cannot show TIFF or PGM);
* ``POST /api/decide`` ``{"path": ..., "label": "7" | "" | null}`` saves a decision.

The review learns (unless ``review --no-learn``): the session refits the
model on a worker thread after every 50 decisions or a 5 s pause
(:mod:`batchdigits.web.refitworker`); no request waits for it.  The API says so:

* ``/api/summary`` has ``"generation"`` (0 before any refit, +1 each time a
  refit has re-read and re-ranked the rows), ``"refitting"`` (a refit is
  running) and ``"learning"`` (``"on"``, ``"off"`` or ``"refit failed: ..."``);
* every row object has ``"was"``: the reading the row had in the CSV when the
  refit model reads it differently (``label``, ``confidence`` and ``status``
  are then the refit model's), else ``null``;
* after a new generation, ``/api/rows`` and ``/api/next`` follow the new
  order: the decided rows first (as they were), then the undecided rows in
  the new ranking (so ``resume`` is the number of decided rows); a page
  fetched before holds old indices: fetch again when ``generation`` changes.

Security: the server listens on 127.0.0.1 unless told otherwise; a random
token (``secrets.token_urlsafe``; the CLI keeps it in an owner-only file beside
the corrections file, :mod:`.reviewtoken`, so a restart on the same port lets
an open page go on) is required on every request, as
``?token=`` or as the cookie the page sets from it (``SameSite=Strict``, so
another web site cannot use it), compared with ``hmac.compare_digest``; on
loopback the ``Host`` header must name the loopback address (no DNS
rebinding); only files named in the CSV whose real path lies inside the
folder are opened (:meth:`ReviewSession.resolve`); the only file written is
the corrections file (the CLI writes the token file before serving).

>>> server = make_server(session, "127.0.0.1", 0)   # doctest: +SKIP
>>> server.url                                        # doctest: +SKIP
'http://127.0.0.1:41234/?token=...'
"""

from __future__ import annotations

import hmac
import ipaddress
import json
import os
import shlex
import socket
import sys
import threading
from http import HTTPStatus
from http.cookies import CookieError, SimpleCookie
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from importlib import resources
from collections.abc import Callable
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

from .reviewsession import Refused, ReviewSession
from .reviewtoken import new_token

STATIC = {
    "/": ("review.html", "text/html; charset=utf-8"),
    "/static/review.js": ("review.js", "text/javascript; charset=utf-8"),
    "/static/review.css": ("review.css", "text/css; charset=utf-8"),
}
IDLE_TIMEOUT = 60.0  # seconds a connection may stay silent (a browser keeps idle ones open)
MAX_BODY = 4096  # bytes of a POST body: a path and a label
SECURITY_HEADERS = {
    "Content-Security-Policy": (
        "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; "
        "connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
    ),
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "X-Frame-Options": "DENY",
}


def is_loopback(host: str) -> bool:
    """True for ``localhost`` and addresses in 127.0.0.0/8 or ``::1``."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


class ReviewServer(ThreadingHTTPServer):
    """An HTTP server bound to one :class:`ReviewSession` and one token.

    ``token``: the one to require (a kept one, see :mod:`.reviewtoken`), else a
    new random one; ``commands``: what the page shows to copy (``next``: the
    command that uses the corrections, ``restart``: the one that brings this
    server back on this port); ``idle_timeout``: seconds a connection may
    stay silent before it is closed.
    """

    daemon_threads = True
    # SO_REUSEADDR (POSIX): a restart on the same --port binds at once despite
    # the last run's TIME-WAIT sockets; a port another server listens on is
    # still refused (Linux and the BSDs share a port only with SO_REUSEPORT).
    # Windows' SO_REUSEADDR would let two servers share a port: not there.
    allow_reuse_address = os.name != "nt"
    request_queue_size = 64  # listen backlog: the page opens several connections at once

    def __init__(
        self, session: ReviewSession, host: str, port: int, token: str | None = None,
        commands: dict[str, str] | None = None, idle_timeout: float = IDLE_TIMEOUT,
    ) -> None:
        self.address_family = _family(host)
        self._open: set[socket.socket] = set()  # connections being served
        self._open_lock = threading.Lock()
        super().__init__((host, port), ReviewHandler)
        self.session = session
        self.token = token or new_token()
        self.host = host
        self.loopback = is_loopback(host)
        self.commands = dict(commands or {})
        self.idle_timeout = idle_timeout

    def process_request(self, request: Any, client_address: Any) -> None:
        with self._open_lock:
            self._open.add(request)
        super().process_request(request, client_address)

    def handle_error(self, request: Any, client_address: Any) -> None:
        """A browser that went away mid-connection (reset, broken pipe, a stopped server's
        socket) is no news for the person at the terminal; anything else is a bug: traceback."""
        if not isinstance(sys.exc_info()[1], OSError):
            super().handle_error(request, client_address)

    def shutdown_request(self, request: Any) -> None:
        with self._open_lock:
            self._open.discard(request)
        super().shutdown_request(request)

    def server_close(self) -> None:
        """Stop listening and end the open (kept-alive) connections too, as a stopped process does."""
        super().server_close()
        with self._open_lock:
            open_now = list(self._open)
        for connection in open_now:
            try:
                connection.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass

    @property
    def port(self) -> int:
        return int(self.server_address[1])

    @property
    def url(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}/?token={self.token}"

    @property
    def cookie_name(self) -> str:
        return f"batchdigits_review_{self.port}"  # cookies ignore ports: one per server


def _family(host: str) -> socket.AddressFamily:
    try:
        return socket.AF_INET6 if ipaddress.ip_address(host.strip("[]")).version == 6 else socket.AF_INET
    except ValueError:
        return socket.AF_INET  # a name such as localhost


def make_server(
    session: ReviewSession, host: str = "127.0.0.1", port: int = 0, token: str | None = None,
    commands: dict[str, str] | None = None, idle_timeout: float = IDLE_TIMEOUT,
) -> ReviewServer:
    """Bind (``port`` 0: any free port); ``server.serve_forever()`` then serves."""
    return ReviewServer(session, host, port, token, commands, idle_timeout)


def page_commands(
    predictions: str, folder: str, corrections: str, port: int, host: str = "127.0.0.1",
    token_file: str | None = None, folder_given: bool = True,
) -> dict[str, str]:
    """The commands the page offers to copy, paths as the person gave them.

    ``next``: the CSV with the decisions as ``reviewed`` rows; ``train``: a
    model that learns from them; ``restart``: this review again on ``port``
    (with the kept token the open page goes on).
    """
    q = shlex.quote
    restart = ["batchdigits", "review", q(predictions)]
    if folder_given:
        restart += ["--folder", q(folder)]
    restart += ["--corrections", q(corrections), "--port", str(port)]
    if host != "127.0.0.1":
        restart += ["--host", q(host)]
    if token_file is not None:
        restart += ["--token-file", q(token_file)]
    return {
        "next": f"batchdigits classify {q(folder)} --out {q(predictions)} --corrections {q(corrections)}",
        "train": f"batchdigits train --labels {q(corrections)} --unlabelled {q(folder)} --out ours.skops",
        "restart": " ".join(restart),
    }


class ReviewHandler(BaseHTTPRequestHandler):
    """One request: check host and token, then route."""

    server: ReviewServer
    protocol_version = "HTTP/1.1"
    server_version = "batchdigits-review"
    sys_version = ""

    def setup(self) -> None:
        """A connection silent for ``idle_timeout`` seconds is closed (its thread ends)."""
        super().setup()
        self.connection.settimeout(self.server.idle_timeout)

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - the base's name
        """Quiet: the terminal belongs to the person, not to access logs."""

    # --- entry points -------------------------------------------------------------

    def do_GET(self) -> None:  # noqa: N802 - http.server's name
        self._guarded(self._get)

    def do_POST(self) -> None:  # noqa: N802
        self._guarded(self._post)

    def do_PUT(self) -> None:  # noqa: N802
        if self._allowed(urlsplit(self.path).query):
            self._fail(HTTPStatus.METHOD_NOT_ALLOWED, "use GET or POST")

    do_DELETE = do_PATCH = do_PUT  # noqa: N815

    def _guarded(self, route: Callable[[], None]) -> None:
        """A bug answers 500 with one line; the server goes on."""
        try:
            route()
        except (BrokenPipeError, ConnectionResetError):
            self.close_connection = True
        except Exception as exc:  # noqa: BLE001 - the page gets a reason, the server stays up
            self._fail(HTTPStatus.INTERNAL_SERVER_ERROR, f"internal error: {type(exc).__name__}: {exc}")

    def _get(self) -> None:
        url = urlsplit(self.path)
        if not self._allowed(url.query):
            return
        if url.path in STATIC:
            self._static(*STATIC[url.path], set_cookie=url.path == "/")
        elif url.path == "/api/summary":
            self._json({**self.server.session.summary(), "commands": self.server.commands})
        elif url.path == "/api/rows":
            query = parse_qs(url.query)
            offset, limit = _int(query, "offset", 0), _int(query, "limit", 50)
            if offset is None or limit is None:
                self._fail(HTTPStatus.BAD_REQUEST, "offset and limit must be integers")
                return
            self._json({"rows": self.server.session.page(offset, limit)})
        elif url.path == "/api/next":
            after = _int(parse_qs(url.query), "after", -1)
            if after is None:
                self._fail(HTTPStatus.BAD_REQUEST, "after must be an integer")
                return
            self._json({"index": self.server.session.next_undecided(after)})
        elif url.path == "/favicon.ico":
            self._send(HTTPStatus.NO_CONTENT, b"", "image/x-icon", {})
        elif url.path.startswith("/image/"):
            self._image(unquote(url.path[len("/image/"):], errors="replace"))
        else:
            self._fail(HTTPStatus.NOT_FOUND, "no such page")

    def _post(self) -> None:
        url = urlsplit(self.path)
        if not self._allowed(url.query):
            return
        if url.path != "/api/decide":
            self._fail(HTTPStatus.NOT_FOUND, "no such page")
            return
        body = self._body()
        if body is None:
            return
        try:
            result = self.server.session.decide(body["path"], body["label"])
        except Refused as exc:
            self._fail(HTTPStatus(exc.status), str(exc))
            return
        except ValueError as exc:
            self._fail(HTTPStatus.BAD_REQUEST, str(exc))
            return
        except OSError as exc:
            self._fail(HTTPStatus.INTERNAL_SERVER_ERROR, f"not saved: {exc.strerror or exc}")
            return
        self._json(result)

    # --- checks -------------------------------------------------------------------

    def _allowed(self, query: str) -> bool:
        """The Host header (on loopback) and the token, else 403."""
        if self.server.loopback and not self._host_ok():
            self._fail(HTTPStatus.FORBIDDEN, "unexpected Host header")
            return False
        given = parse_qs(query).get("token", [""])[0] or self._cookie_token()
        if not hmac.compare_digest(given.encode(), self.server.token.encode()):
            self._fail(HTTPStatus.FORBIDDEN, "missing or wrong token: open the URL batchdigits printed")
            return False
        return True

    def _host_ok(self) -> bool:
        host = (self.headers.get("Host") or "").rsplit(":", 1)
        port_ok = len(host) == 2 and host[1] == str(self.server.port)
        return port_ok and is_loopback(host[0])

    def _cookie_token(self) -> str:
        cookie = SimpleCookie()
        try:
            cookie.load(self.headers.get("Cookie") or "")
        except CookieError:
            return ""
        morsel = cookie.get(self.server.cookie_name)
        return morsel.value if morsel else ""

    def _body(self) -> dict[str, Any] | None:
        """The POSTed JSON object ``{"path": str, "label": str | null}``, else an error sent."""
        content_type = (self.headers.get("Content-Type") or "").split(";")[0].strip().lower()
        if content_type != "application/json":
            self._fail(HTTPStatus.UNSUPPORTED_MEDIA_TYPE, "send application/json")
            return None
        try:
            length = int(self.headers.get("Content-Length") or "")
        except ValueError:
            self._fail(HTTPStatus.LENGTH_REQUIRED, "Content-Length needed")
            return None
        if not 0 <= length <= MAX_BODY:
            self._fail(HTTPStatus.REQUEST_ENTITY_TOO_LARGE, "body too large")
            return None
        try:
            data = json.loads(self.rfile.read(length).decode("utf-8"))
        except (UnicodeDecodeError, ValueError, RecursionError):  # RecursionError: nested too deep
            self._fail(HTTPStatus.BAD_REQUEST, "body is not JSON")
            return None
        if (
            not isinstance(data, dict)
            or set(data) != {"path", "label"}
            or not isinstance(data["path"], str)
            or not (data["label"] is None or isinstance(data["label"], str))
        ):
            self._fail(HTTPStatus.BAD_REQUEST, 'expected {"path": "...", "label": "0".."9", "" or null}')
            return None
        return data

    # --- answers ------------------------------------------------------------------

    def _static(self, name: str, content_type: str, set_cookie: bool) -> None:
        data = resources.files("batchdigits.web").joinpath("static", name).read_bytes()
        headers = {"Cache-Control": "no-store"}
        if set_cookie:
            headers["Set-Cookie"] = (
                f"{self.server.cookie_name}={self.server.token}; Path=/; HttpOnly; SameSite=Strict"
            )
        self._send(HTTPStatus.OK, data, content_type, headers)

    def _image(self, rel: str) -> None:
        try:
            data = self.server.session.thumbnail(rel)
        except Refused as exc:
            self._fail(HTTPStatus(exc.status), str(exc))
            return
        self._send(HTTPStatus.OK, data, "image/png", {"Cache-Control": "private, max-age=600"})

    def _json(self, value: Any) -> None:
        data = json.dumps(value, ensure_ascii=False).encode("utf-8")
        self._send(HTTPStatus.OK, data, "application/json", {"Cache-Control": "no-store"})

    def _fail(self, status: HTTPStatus, reason: str) -> None:
        """An error as JSON; the connection closes (an unread body must not be taken as a request),
        and the answer says so (``Connection: close``): a client then opens a new connection for
        its next request instead of sending it on this closed one."""
        self.close_connection = True
        data = json.dumps({"error": reason}).encode("utf-8")
        self._send(status, data, "application/json", {"Cache-Control": "no-store", "Connection": "close"})

    def _send(self, status: HTTPStatus, data: bytes, content_type: str, headers: dict[str, str]) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(data)))
        for name, value in {**SECURITY_HEADERS, **headers}.items():
            self.send_header(name, value)
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(data)


def _int(query: dict[str, list[str]], name: str, default: int) -> int | None:
    values = query.get(name)
    if not values:
        return default
    try:
        return int(values[0])
    except ValueError:
        return None

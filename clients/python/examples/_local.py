"""Local stand-ins for what the LOKI webhook guide's examples send to.

The LOKI guide's examples point at https://api.example.com, hooks.slack.com,
smtp.gmail.com and hooks.zapier.com. To run for real against a local Herald
(``herald dev`` accepts receivers on loopback, over plain http), they send
to these instead, each on a free port of 127.0.0.1:

* :class:`Receiver` — an HTTP endpoint that records each request, checks
  Herald's signatures when it knows the secret, and answers 200 (or 503 to
  its first ``fail_first`` requests). It stands in for a webhook receiver,
  Slack, Teams and Zapier.
* :class:`SMTPServer` — a small SMTP server (EHLO, AUTH PLAIN/LOGIN, MAIL,
  RCPT, DATA) that records each message. It offers no STARTTLS, having no
  certificate Herald would trust, so the examples set ``use_tls: False``;
  Herald then sends in plain text, which it allows for a loopback server.

Importing this module also makes ``herald_client`` importable from a
checkout (``clients/python``) when it is neither installed nor on
PYTHONPATH.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import email
import email.message
import email.policy
import json
import socketserver
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, Generic, TypeVar

try:
    import herald_client  # noqa: F401
except ImportError:  # running from a checkout
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from herald_client.signatures import ID_HEADER, parse_envelope, verify_request

T = TypeVar("T")


@dataclass
class Request:
    """One request a :class:`Receiver` got."""

    path: str
    headers: dict[str, str]
    body: bytes
    #: The answer's status code.
    answered: int
    #: Whether both signatures verified (None: the secret was not known).
    verified: bool | None = None

    def json(self) -> Any:
        """The body, decoded."""
        return json.loads(self.body)

    @property
    def event_id(self) -> str:
        """X-Webhook-ID: the event id, the same on every attempt."""
        return self.headers.get(ID_HEADER.lower(), "")


class _Waitable(Generic[T]):
    """Things a server records, and a way to wait for one."""

    def __init__(self) -> None:
        self._cond = threading.Condition()
        self._items: list[T] = []

    def _add(self, item: T) -> None:
        with self._cond:
            self._items.append(item)
            self._cond.notify_all()

    @property
    def received(self) -> list[T]:
        with self._cond:
            return list(self._items)

    def wait_for_sync(self, match: Callable[[T], bool], timeout: float) -> T:
        deadline = time.monotonic() + timeout
        with self._cond:
            while True:
                for item in self._items:
                    if match(item):
                        return item
                left = deadline - time.monotonic()
                if left <= 0:
                    raise TimeoutError(f"{type(self).__name__}: nothing matching arrived within {timeout:g}s")
                self._cond.wait(left)

    async def wait_for(self, match: Callable[[T], bool], timeout: float = 30.0) -> T:
        """Waits for the first recorded item ``match`` accepts."""
        return await asyncio.to_thread(self.wait_for_sync, match, timeout)


class Receiver(_Waitable[Request]):
    """An HTTP receiver on 127.0.0.1 that records what it gets.

    Set :attr:`secret` (the webhook's, from its create answer) to have each
    request's signatures checked as it arrives.
    """

    def __init__(self, *, fail_first: int = 0, answer: bytes = b'{"ok":true}', content_type: str = "application/json"):
        super().__init__()
        self.secret: str | None = None
        self.fail_first = fail_first
        #: When set, every request is answered with this status.
        self.answer_status: int | None = None
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                n = len(receiver.received)
                status = 503 if n < receiver.fail_first else receiver.answer_status or 200
                verified = None
                if receiver.secret is not None:
                    verified = verify_request(receiver.secret, self.headers, body)
                    if not verified:
                        status = 401
                self.send_response(status)
                self.send_header("Content-Type", content_type)
                self.send_header("Content-Length", str(len(answer)))
                self.end_headers()
                self.wfile.write(answer)
                headers = {k.lower(): v for k, v in self.headers.items()}
                receiver._add(Request(self.path, headers, body, status, verified))

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self.port: int = self._server.server_address[1]
        threading.Thread(target=self._server.serve_forever, daemon=True).start()

    def url(self, path: str = "/") -> str:
        """The receiver's URL with ``path``."""
        return f"http://127.0.0.1:{self.port}{path}"

    async def wait_for_event(self, event_id: str, timeout: float = 30.0) -> Request:
        """Waits for a delivery of the event that was answered 200."""
        return await self.wait_for(lambda r: r.event_id == event_id and r.answered == 200, timeout)

    async def wait_for_request(
        self, timeout: float = 30.0, *, where: Callable[[Request], bool] | None = None
    ) -> Request:
        """Waits for any request (that ``where`` accepts)."""
        return await self.wait_for(where or (lambda r: True), timeout)

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()


def describe(req: Request) -> str:
    """One line about a delivery: the event, and whether it verified."""
    env = parse_envelope(req.body)
    check = {True: "valid", False: "INVALID", None: "not checked"}[req.verified]
    return f"{env.event_type} {env.event_id} (signatures {check})"


@dataclass
class Mail:
    """One message an :class:`SMTPServer` got."""

    mail_from: str
    rcpt_to: list[str]
    data: bytes
    #: The AUTH user name given, if any.
    user: str | None = None
    message: email.message.EmailMessage = field(init=False)

    def __post_init__(self) -> None:
        msg = email.message_from_bytes(self.data, policy=email.policy.default)
        assert isinstance(msg, email.message.EmailMessage)
        self.message = msg

    @property
    def subject(self) -> str:
        return str(self.message.get("Subject", ""))


class SMTPServer(_Waitable["Mail"]):
    """A minimal SMTP server on 127.0.0.1 that records each message.

    With ``username`` and ``password`` it offers AUTH PLAIN and LOGIN and
    refuses other credentials (535).
    """

    def __init__(self, *, username: str | None = None, password: str | None = None) -> None:
        super().__init__()
        self.username, self.password = username, password
        smtp = self

        class Handler(socketserver.StreamRequestHandler):
            user: str | None = None

            def reply(self, line: str) -> None:
                self.wfile.write(line.encode() + b"\r\n")

            def readline(self) -> str:
                raw = self.rfile.readline(8192)
                if not raw:
                    raise ConnectionError("client went away")
                return raw.decode("utf-8", "replace").rstrip("\r\n")

            def authenticate(self, user: str, password: str) -> bool:
                if smtp.username is None or (user == smtp.username and password == smtp.password):
                    self.user = user
                    self.reply("235 2.7.0 Authentication successful")
                    return True
                self.reply("535 5.7.8 Authentication credentials invalid")
                return False

            def handle(self) -> None:
                try:
                    self.session()
                except (ConnectionError, OSError):
                    return

            def session(self) -> None:
                self.user = None
                mail_from, rcpts = "", list[str]()
                self.reply("220 localhost ESMTP stand-in")
                while True:
                    verb, _, arg = self.readline().partition(" ")
                    verb = verb.upper()
                    if verb == "EHLO":
                        auth = ["250-AUTH PLAIN LOGIN"] if smtp.username is not None else []
                        for ln in ["250-localhost", "250-8BITMIME", *auth, "250 SIZE 10485760"]:
                            self.reply(ln)
                    elif verb == "HELO":
                        self.reply("250 localhost")
                    elif verb == "AUTH":
                        mech, _, initial = arg.partition(" ")
                        try:
                            if mech.upper() == "PLAIN":
                                if not initial:
                                    self.reply("334 ")
                                    initial = self.readline()
                                _, user, password = base64.b64decode(initial).decode().split("\x00")
                                self.authenticate(user, password)
                            elif mech.upper() == "LOGIN":
                                self.reply("334 VXNlcm5hbWU6")
                                user = base64.b64decode(self.readline()).decode()
                                self.reply("334 UGFzc3dvcmQ6")
                                self.authenticate(user, base64.b64decode(self.readline()).decode())
                            else:
                                self.reply("504 5.5.4 Unrecognized authentication type")
                        except (binascii.Error, ValueError, UnicodeDecodeError):
                            self.reply("501 5.5.2 Cannot decode response")
                    elif verb == "MAIL":
                        if smtp.username is not None and self.user is None:
                            self.reply("530 5.7.0 Authentication required")
                            continue
                        mail_from, rcpts = _address(arg), []
                        self.reply("250 2.1.0 OK")
                    elif verb == "RCPT":
                        rcpts.append(_address(arg))
                        self.reply("250 2.1.5 OK")
                    elif verb == "DATA":
                        self.reply("354 End data with <CR><LF>.<CR><LF>")
                        lines: list[bytes] = []
                        while True:
                            raw = self.rfile.readline(1 << 20)
                            if not raw or raw in (b".\r\n", b".\n"):
                                break
                            lines.append(raw[1:] if raw.startswith(b"..") else raw)
                        smtp._add(Mail(mail_from, rcpts, b"".join(lines), self.user))
                        self.reply("250 2.0.0 OK: queued")
                    elif verb in ("RSET", "NOOP"):
                        mail_from, rcpts = "", []
                        self.reply("250 2.0.0 OK")
                    elif verb == "QUIT":
                        self.reply("221 2.0.0 Bye")
                        return
                    else:
                        self.reply("502 5.5.2 Command not recognized")

        class Server(socketserver.ThreadingTCPServer):
            daemon_threads = True
            allow_reuse_address = True

        self._server = Server(("127.0.0.1", 0), Handler)
        threading.Thread(target=self._server.serve_forever, daemon=True).start()

    @property
    def host(self) -> str:
        return "127.0.0.1"

    @property
    def port(self) -> int:
        return int(self._server.server_address[1])

    async def wait_for_mail(self, timeout: float = 30.0) -> Mail:
        """Waits for the first message."""
        return await self.wait_for(lambda m: True, timeout)

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()


def _address(arg: str) -> str:
    """The address of ``FROM:<a@b>`` or ``TO:<a@b> SIZE=…``."""
    _, _, rest = arg.partition(":")
    rest = rest.strip()
    if rest.startswith("<"):
        return rest[1 : rest.find(">")]
    return rest.split(" ")[0]

"""A fake Telegram Bot API server on loopback that speaks the real HTTP protocol, for tests.

Production code reaches it only through `telegram.api_base_url` (the server's root URL; clients append
`/bot<token>/<method>`), exactly as it would reach api.telegram.org or a self-hosted Bot API server:

    with FakeTelegram() as tg:
        bot = telegram.Bot(tg.token, base_url=f"{tg.base_url}/bot", base_file_url=f"{tg.base_url}/file/bot")
        ...
        tg.wait_for(lambda t: len(t.texts()) == 3)

It answers POST and GET with JSON, form-urlencoded or multipart bodies; a wrong token gets 401 and an
unknown method 404, as Telegram does. `fail_next` makes the next calls fail (500, or 429 with
retry_after), `go_down`/`come_back` close and reopen the listening port (open connections are cut too).
Objects are complete enough for python-telegram-bot 22.8 to de-json them.
"""

from __future__ import annotations

import contextlib
import email.parser
import email.policy
import itertools
import json
import socket
import sys
import threading
import time
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qsl, urlsplit

# Parameters that Telegram takes as plain strings; every other form field is JSON-decoded when it parses.
_STRING_PARAMS = frozenset(
    {"text", "caption", "parse_mode", "callback_query_id", "url", "inline_message_id", "language_code"}
)
# Methods whose successful calls count as something the bot told the user.
_SENDING = ("sendMessage", "sendPhoto", "editMessageText", "editMessageReplyMarkup", "answerCallbackQuery")
_TEXTUAL = ("sendMessage", "sendPhoto", "editMessageText")
# Telegram's own limits: a longer message or caption is refused with 400.
MAX_TEXT = 4096
MAX_CAPTION = 1024
_DESCRIPTIONS = {
    400: "Bad Request: chat not found",
    401: "Unauthorized",
    403: "Forbidden: bot was blocked by the user",
    404: "Not Found",
    500: "Internal Server Error",
    502: "Bad Gateway",
}


class _ApiError(Exception):
    def __init__(self, status: int, description: str, parameters: dict[str, Any] | None = None) -> None:
        super().__init__(description)
        self.status = status
        self.description = description
        self.parameters = parameters


class _Server(ThreadingHTTPServer):
    allow_reuse_address = True
    daemon_threads = True

    def handle_error(self, request: Any, client_address: Any) -> None:
        """A client that hung up (a long poll cut by a 409, a bot shutting down) is normal here, not a traceback."""
        if isinstance(sys.exc_info()[1], ConnectionError):
            return
        super().handle_error(request, client_address)


class FakeTelegram:
    """A Bot API server on 127.0.0.1 (a free port); a context manager that stops it on exit."""

    def __init__(
        self, token: str = "123456:TEST-TOKEN-abcdef", *, bot_username: str = "huracan_test_bot"
    ) -> None:
        self.token = token
        self.bot_username = bot_username
        self.bot_id = int(token.split(":", 1)[0]) if token.split(":", 1)[0].isdigit() else 123456
        # Every request, in arrival order: {"method", "params", "at" (time.monotonic()), "status", "response"}.
        self.calls: list[dict[str, Any]] = []
        self.commands: list[dict[str, Any]] = []
        self._lock = threading.Condition()
        self._updates: list[dict[str, Any]] = []
        self._update_ids = itertools.count(1)
        self._message_ids: dict[int, itertools.count[int]] = {}
        self._messages: dict[tuple[int, int], dict[str, Any]] = {}
        self._callback_ids = itertools.count(1)
        self._poll_generation = 0
        self._failures: list[tuple[int, int | None, tuple[str, ...]]] = []
        self._down = False
        self._connections: set[socket.socket] = set()
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None
        self._port = 0
        self._listen()

    # -- lifecycle -------------------------------------------------------------------------------

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self._port}"

    def _listen(self) -> None:
        server = _Server(("127.0.0.1", self._port), _handler_for(self))
        self._port = server.server_address[1]
        self._server = server
        self._thread = threading.Thread(
            target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )
        self._thread.start()

    def go_down(self) -> None:
        """Stop listening and cut every open connection: clients see connection errors until come_back."""
        with self._lock:
            if self._down:
                return
            self._down = True
            self._lock.notify_all()
            connections = list(self._connections)
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None
        for conn in connections:
            with contextlib.suppress(OSError):
                conn.shutdown(socket.SHUT_RDWR)

    def come_back(self) -> None:
        """Listen again on the same port."""
        with self._lock:
            if not self._down:
                return
            self._down = False
        self._listen()

    def close(self) -> None:
        self.go_down()

    def __enter__(self) -> FakeTelegram:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- what tests arrange ----------------------------------------------------------------------

    def fail_next(
        self,
        n: int,
        *,
        status: int = 500,
        retry_after: int | None = None,
        methods: tuple[str, ...] = ("sendMessage", "sendPhoto"),
    ) -> None:
        """The next n calls of these methods fail with this status (429 carries retry_after seconds)."""
        with self._lock:
            self._failures.extend([(status, retry_after, tuple(methods))] * n)

    def push_message(
        self, *, user_id: int, chat_id: int, text: str, chat_type: str = "private", username: str = "alice"
    ) -> int:
        """Queue an Update with a message from a user (a bot_command entity when text starts with /)."""
        with self._lock:
            update_id = next(self._update_ids)
            message: dict[str, Any] = {
                "message_id": self._next_message_id(chat_id),
                "date": int(time.time()),
                "chat": self._chat(chat_id, chat_type=chat_type, username=username),
                "from": self._user(user_id, username),
                "text": text,
            }
            if text.startswith("/"):
                message["entities"] = [{"type": "bot_command", "offset": 0, "length": len(text.split()[0])}]
            self._updates.append({"update_id": update_id, "message": message})
            self._lock.notify_all()
            return update_id

    def push_callback(self, *, user_id: int, chat_id: int, message_id: int, data: str) -> int:
        """Queue an Update with a callback_query: the user pressed a button on a message the bot sent."""
        with self._lock:
            update_id = next(self._update_ids)
            message = self._messages.get((chat_id, message_id)) or {
                "message_id": message_id,
                "date": int(time.time()),
                "chat": self._chat(chat_id),
                "from": self._bot_user(),
                "text": "",
            }
            query = {
                "id": str(next(self._callback_ids)),
                "from": self._user(user_id, "alice"),
                "chat_instance": f"instance-{chat_id}",
                "message": message,
                "data": data,
            }
            self._updates.append({"update_id": update_id, "callback_query": query})
            self._lock.notify_all()
            return update_id

    # -- what tests read -------------------------------------------------------------------------

    def sent(self, method: str | None = None) -> list[dict[str, Any]]:
        """Successful calls that told the user something (send/edit/answer), optionally of one method."""
        with self._lock:
            return [
                c
                for c in self.calls
                if c["status"] == 200
                and c["method"] in _SENDING
                and (method is None or c["method"] == method)
            ]

    def texts(self, chat_id: int | str | None = None) -> list[str]:
        """Text or caption of each successful sendMessage, sendPhoto and editMessageText, in order."""
        out: list[str] = []
        for call in self.sent():
            if call["method"] not in _TEXTUAL:
                continue
            params = call["params"]
            if chat_id is not None and str(params.get("chat_id")) != str(chat_id):
                continue
            out.append(str(params.get("text", params.get("caption", ""))))
        return out

    def wait_for(self, predicate: Callable[[FakeTelegram], bool], timeout: float = 10.0) -> None:
        """Wait until predicate(self) is true; on timeout raise AssertionError summarising the calls."""
        deadline = time.monotonic() + timeout
        while True:
            if predicate(self):
                return
            if time.monotonic() >= deadline:
                raise AssertionError(
                    f"fake Telegram: condition not met within {timeout} s; calls:\n{self.summary()}"
                )
            time.sleep(0.02)

    def summary(self) -> str:
        with self._lock:
            calls = list(self.calls)
        lines = []
        for c in calls[-40:]:
            what = c["params"].get("text") or c["params"].get("caption") or ""
            lines.append(f"  {c['method']} -> {c['status']} {str(what)[:60]!r}")
        return "\n".join(lines) or "  (none)"

    # -- the protocol ----------------------------------------------------------------------------

    def _bot_user(self) -> dict[str, Any]:
        return {
            "id": self.bot_id,
            "is_bot": True,
            "first_name": "Huracan Test",
            "username": self.bot_username,
            "can_join_groups": True,
            "can_read_all_group_messages": False,
            "supports_inline_queries": False,
        }

    @staticmethod
    def _user(user_id: int, username: str) -> dict[str, Any]:
        return {"id": user_id, "is_bot": False, "first_name": username.capitalize(), "username": username}

    @staticmethod
    def _chat_key(chat_id: Any) -> int:
        """Telegram's numeric chat id; an @channel name maps to a stable negative id."""
        if isinstance(chat_id, int):
            return chat_id
        text = str(chat_id)
        if text.lstrip("-").isdigit():
            return int(text)
        return -1_000_000_000_000 - (sum(text.encode()) % 1_000_000)

    def _chat(self, chat_id: Any, *, chat_type: str | None = None, username: str = "alice") -> dict[str, Any]:
        key = self._chat_key(chat_id)
        if chat_type is None:
            chat_type = (
                "channel" if str(chat_id).startswith("@") else ("private" if key > 0 else "supergroup")
            )
        chat: dict[str, Any] = {"id": key, "type": chat_type}
        if chat_type == "private":
            chat.update(first_name=username.capitalize(), username=username)
        else:
            chat["title"] = str(chat_id) if str(chat_id).startswith("@") else f"Group {key}"
        return chat

    def _next_message_id(self, chat_id: Any) -> int:
        counter = self._message_ids.setdefault(self._chat_key(chat_id), itertools.count(1))
        return next(counter)

    def _failure_for(self, method: str) -> tuple[int, int | None] | None:
        for i, (status, retry_after, methods) in enumerate(self._failures):
            if method in methods:
                del self._failures[i]
                return status, retry_after
        return None

    def _record(self, method: str, params: dict[str, Any], status: int, response: Any) -> None:
        with self._lock:
            self.calls.append(
                {
                    "method": method,
                    "params": params,
                    "at": time.monotonic(),
                    "status": status,
                    "response": response,
                }
            )

    def handle(self, method: str, params: dict[str, Any]) -> Any:
        """The result of one API call, or _ApiError (called by the request handler, outside the lock)."""
        with self._lock:
            failure = self._failure_for(method)
        if failure is not None:
            status, retry_after = failure
            if status == 429:
                seconds = 1 if retry_after is None else retry_after
                raise _ApiError(429, f"Too Many Requests: retry after {seconds}", {"retry_after": seconds})
            raise _ApiError(status, _DESCRIPTIONS.get(status, "Error"))
        if method == "getUpdates":
            return self._get_updates(params)
        with self._lock:
            return self._answer(method, params)

    def _answer(self, method: str, params: dict[str, Any]) -> Any:
        if method == "getMe":
            return self._bot_user()
        if method in ("deleteWebhook", "close", "logOut", "answerCallbackQuery", "deleteMyCommands"):
            if method == "deleteMyCommands":
                self.commands = []
            return True
        if method == "setMyCommands":
            commands = params.get("commands") or []
            if isinstance(commands, str):
                commands = json.loads(commands)
            self.commands = list(commands)
            return True
        if method == "getMyCommands":
            return list(self.commands)
        if method in ("sendMessage", "sendPhoto"):
            return self._send(method, params)
        if method in ("editMessageText", "editMessageReplyMarkup"):
            return self._edit(method, params)
        raise _ApiError(404, "Not Found")

    def _send(self, method: str, params: dict[str, Any]) -> dict[str, Any]:
        chat_id = params.get("chat_id")
        if chat_id in (None, ""):
            raise _ApiError(400, "Bad Request: chat_id is empty")
        message: dict[str, Any] = {
            "message_id": self._next_message_id(chat_id),
            "date": int(time.time()),
            "chat": self._chat(chat_id),
            "from": self._bot_user(),
        }
        if method == "sendMessage":
            text = params.get("text")
            if not text:
                raise _ApiError(400, "Bad Request: message text is empty")
            if len(str(text)) > MAX_TEXT:
                raise _ApiError(400, "Bad Request: message is too long")
            message["text"] = str(text)
        else:
            if "photo_bytes" not in params and not isinstance(params.get("photo"), str):
                raise _ApiError(400, "Bad Request: there is no photo in the request")
            caption = params.get("caption")
            if caption is not None and len(str(caption)) > MAX_CAPTION:
                raise _ApiError(400, "Bad Request: message caption is too long")
            size = int(params.get("photo_bytes", 0))
            message["photo"] = [
                {"file_id": f"photo-{message['message_id']}-s", "file_unique_id": f"u{message['message_id']}s",
                 "width": 90, "height": 60, "file_size": min(size, 1000)},
                {"file_id": f"photo-{message['message_id']}", "file_unique_id": f"u{message['message_id']}",
                 "width": 1200, "height": 800, "file_size": size},
            ]  # fmt: skip
            if caption is not None:
                message["caption"] = str(caption)
        if params.get("reply_markup"):
            message["reply_markup"] = params["reply_markup"]
        self._messages[(self._chat_key(chat_id), message["message_id"])] = message
        return message

    def _edit(self, method: str, params: dict[str, Any]) -> Any:
        if params.get("inline_message_id"):
            return True
        key = (self._chat_key(params.get("chat_id")), int(params.get("message_id") or 0))
        message = self._messages.get(key)
        if message is None:
            raise _ApiError(400, "Bad Request: message to edit not found")
        message = dict(message)
        if method == "editMessageText":
            text = params.get("text")
            if not text:
                raise _ApiError(400, "Bad Request: message text is empty")
            message["text"] = str(text)
            message["edit_date"] = int(time.time())
        if params.get("reply_markup"):
            message["reply_markup"] = params["reply_markup"]
        else:
            message.pop("reply_markup", None)
        self._messages[key] = message
        return message

    def _get_updates(self, params: dict[str, Any]) -> list[dict[str, Any]]:
        offset = int(params.get("offset") or 0)
        timeout = float(params.get("timeout") or 0)
        limit = int(params.get("limit") or 100)
        deadline = time.monotonic() + timeout
        with self._lock:
            # A new getUpdates terminates the one already waiting (Telegram's 409 for two bot instances).
            self._poll_generation += 1
            generation = self._poll_generation
            self._lock.notify_all()
            if offset:
                self._updates = [u for u in self._updates if u["update_id"] >= offset]
            while True:
                if self._down:
                    raise ConnectionAbortedError("server went down")
                if generation != self._poll_generation:
                    raise _ApiError(
                        409,
                        "Conflict: terminated by other getUpdates request; "
                        "make sure that only one bot instance is running",
                    )
                pending = [u for u in self._updates if u["update_id"] >= offset]
                remaining = deadline - time.monotonic()
                if pending or remaining <= 0:
                    return pending[:limit]
                self._lock.wait(min(remaining, 0.5))


def _parse_params(handler: BaseHTTPRequestHandler) -> dict[str, Any]:
    """Query string and body (JSON, form-urlencoded or multipart) as one dict; a file → its byte count."""
    params: dict[str, Any] = {}
    query = urlsplit(handler.path).query
    fields: list[tuple[str, str]] = parse_qsl(query, keep_blank_values=True)
    length = int(handler.headers.get("Content-Length") or 0)
    body = handler.rfile.read(length) if length else b""
    ctype = handler.headers.get("Content-Type") or ""
    if body and ctype.startswith("application/json"):
        decoded = json.loads(body.decode("utf-8"))
        if isinstance(decoded, dict):
            params.update(decoded)
    elif body and ctype.startswith("application/x-www-form-urlencoded"):
        fields += parse_qsl(body.decode("utf-8"), keep_blank_values=True)
    elif body and ctype.startswith("multipart/form-data"):
        parser = email.parser.BytesParser(policy=email.policy.HTTP)
        message = parser.parsebytes(b"Content-Type: " + ctype.encode("latin-1") + b"\r\n\r\n" + body)
        for part in message.iter_parts():
            name = part.get_param("name", header="content-disposition")
            payload = part.get_payload(decode=True) or b""
            if part.get_filename() is not None:
                params[f"{name}_bytes"] = len(payload)
            elif name:
                fields.append((str(name), payload.decode("utf-8")))
    for name, value in fields:
        params[name] = value if name in _STRING_PARAMS else _maybe_json(value)
    return params


def _maybe_json(value: str) -> Any:
    try:
        return json.loads(value)
    except ValueError:
        return value


def _handler_for(fake: FakeTelegram) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def setup(self) -> None:
            super().setup()
            with fake._lock:
                fake._connections.add(self.connection)

        def finish(self) -> None:
            with fake._lock:
                fake._connections.discard(self.connection)
            with contextlib.suppress(OSError):
                super().finish()

        def log_message(self, format: str, *args: Any) -> None:  # no stderr line per request
            pass

        def do_GET(self) -> None:
            self._serve()

        def do_POST(self) -> None:
            self._serve()

        def _reply(self, status: int, payload: dict[str, Any]) -> None:
            body = json.dumps(payload).encode("utf-8")
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def _serve(self) -> None:
            if fake._down:  # a kept-alive connection from before go_down: drop it without an answer
                self.close_connection = True
                return
            path = urlsplit(self.path).path
            parts = path.strip("/").split("/")
            if len(parts) != 2 or not parts[0].startswith("bot"):
                self._reply(404, {"ok": False, "error_code": 404, "description": "Not Found"})
                return
            token, method = parts[0][3:], parts[1]
            try:
                params = _parse_params(self)
            except (ValueError, UnicodeDecodeError):
                self._reply(
                    400, {"ok": False, "error_code": 400, "description": "Bad Request: unreadable body"}
                )
                return
            if token != fake.token:
                fake._record(method, params, 401, None)
                self._reply(401, {"ok": False, "error_code": 401, "description": "Unauthorized"})
                return
            try:
                result = fake.handle(method, params)
            except ConnectionAbortedError:
                self.close_connection = True
                return
            except _ApiError as err:
                fake._record(method, params, err.status, None)
                payload: dict[str, Any] = {
                    "ok": False,
                    "error_code": err.status,
                    "description": err.description,
                }
                if err.parameters:
                    payload["parameters"] = err.parameters
                self._reply(err.status, payload)
                return
            fake._record(method, params, 200, result)
            self._reply(200, {"ok": True, "result": result})

    return Handler


def telegram_overrides(tg: FakeTelegram, chat_id: str = "-1001234567890") -> dict[str, str]:
    """Huracan config overrides (dotted keys) that send notifications to `tg`'s chat `chat_id`."""
    return {"telegram.token": tg.token, "telegram.chat_id": chat_id, "telegram.api_base_url": tg.base_url}


async def deliver_all(config: Any) -> int:
    """One delivery pass of the outbox of `config` (a HuracanConfig) with Huracan's own Bot; messages sent."""
    from huracan_telegram.bot_api import make_bot
    from huracan_telegram.delivery import deliver_pending

    async with make_bot(config) as bot:
        return await deliver_pending(bot, config)

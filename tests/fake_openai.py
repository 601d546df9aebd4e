"""A real HTTP server on loopback that speaks enough of the OpenAI chat API for the tests.

It records every request (method, path, headers, JSON body) and answers `/v1/chat/completions`
with the replies the test queued, plain or as server-sent events when the request asks to
stream. A queued reply can also be an HTTP error or a body that is not a chat completion.
"""

from __future__ import annotations

import json
import threading
from collections import deque
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any


@dataclass(frozen=True)
class Request:
    """One request the server received."""

    method: str
    path: str
    headers: dict[str, str]
    body: Any


@dataclass
class _Reply:
    content: str = ""
    status: int = 200
    raw_body: str | None = None


@dataclass
class FakeOpenAI:
    """Context manager running the fake server; `base_url` ends in /v1 like a real endpoint."""

    requests: list[Request] = field(default_factory=list)
    _replies: deque[_Reply] = field(default_factory=deque)
    _server: ThreadingHTTPServer | None = None
    _thread: threading.Thread | None = None
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def enqueue(self, content: str) -> None:
        """Queue an assistant message as the next chat completion."""
        self._replies.append(_Reply(content=content))

    def enqueue_error(self, status: int, body: str = '{"error": "boom"}') -> None:
        """Queue an HTTP error as the next reply."""
        self._replies.append(_Reply(status=status, raw_body=body))

    def enqueue_malformed(self, body: str) -> None:
        """Queue a 200 reply whose body is `body` as is (not a chat completion)."""
        self._replies.append(_Reply(raw_body=body))

    @property
    def chat_requests(self) -> list[Request]:
        """The chat-completion requests received, in order."""
        return [r for r in self.requests if r.path == "/v1/chat/completions"]

    @property
    def base_url(self) -> str:
        assert self._server is not None, "the server is not running"
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}/v1"

    def __enter__(self) -> FakeOpenAI:
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler_class())
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )
        self._thread.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        assert self._server is not None and self._thread is not None
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)

    def _record(self, request: Request) -> _Reply | None:
        with self._lock:
            self.requests.append(request)
            if request.path != "/v1/chat/completions":
                return None
            if not self._replies:
                return _Reply(status=500, raw_body='{"error": "no reply queued"}')
            return self._replies.popleft()

    def _handler_class(self) -> type[BaseHTTPRequestHandler]:
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, format: str, *args: Any) -> None:
                pass  # keep test output clean

            def do_GET(self) -> None:
                fake._record(Request("GET", self.path, dict(self.headers), None))
                if self.path == "/v1/models":
                    self._send(200, json.dumps({"object": "list", "data": [{"id": "fake"}]}))
                else:
                    self._send(404, '{"error": "not found"}')

            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                raw = self.rfile.read(length).decode("utf-8")
                try:
                    body: Any = json.loads(raw)
                except ValueError:
                    body = raw
                reply = fake._record(Request("POST", self.path, dict(self.headers), body))
                if reply is None:
                    self._send(404, '{"error": "not found"}')
                elif reply.raw_body is not None:
                    self._send(reply.status, reply.raw_body)
                elif isinstance(body, dict) and body.get("stream"):
                    self._stream(reply.content, str(body.get("model")))
                else:
                    self._send(200, json.dumps(_completion(reply.content, str(body["model"]))))

            def _send(self, status: int, text: str) -> None:
                data = text.encode("utf-8")
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def _stream(self, content: str, model: str) -> None:
                self.send_response(200)
                self.send_header("Content-Type", "text/event-stream")
                self.send_header("Cache-Control", "no-cache")
                self.end_headers()
                # Several characters per event, split mid-word, as real servers do.
                pieces = [content[i : i + 3] for i in range(0, len(content), 3)]
                first = {"choices": [{"index": 0, "delta": {"role": "assistant"}}]}
                events = [first] + [
                    {"model": model, "choices": [{"index": 0, "delta": {"content": p}}]}
                    for p in pieces
                ]
                events.append({"choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}]})
                for event in events:
                    self.wfile.write(f"data: {json.dumps(event)}\n\n".encode())
                    self.wfile.flush()
                self.wfile.write(b"data: [DONE]\n\n")
                self.wfile.flush()
                self.close_connection = True

        return Handler


def _completion(content: str, model: str) -> dict[str, Any]:
    return {
        "id": "chatcmpl-fake",
        "object": "chat.completion",
        "model": model,
        "choices": [
            {
                "index": 0,
                "message": {"role": "assistant", "content": content},
                "finish_reason": "stop",
            }
        ],
    }

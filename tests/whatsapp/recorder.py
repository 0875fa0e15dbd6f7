"""A real local HTTP server that records every request it gets and answers what a test scripts.

Stands in for an attacker's host, an internal address, or a fake Graph API: a test that must
prove "no outbound request at all" asserts ``recorder.requests == []``.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


@dataclass
class Answer:
    status: int = 200
    body: bytes = b""
    headers: dict = field(default_factory=dict)
    # Send the body in chunks without a Content-Length (a host that hides the size).
    chunked: bool = False


class Recorder:
    def __init__(self):
        self.requests: list[dict] = []
        self.answers: dict[str, Answer] = {}
        self.default = Answer(200, b'{"ok": true}', {"Content-Type": "application/json"})
        self._server = None

    def start(self) -> Recorder:
        recorder = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args):
                pass

            def do_GET(self):
                recorder.requests.append(
                    {"method": "GET", "path": self.path, "headers": dict(self.headers)}
                )
                path = self.path.split("?")[0]
                answer = recorder.answers.get(path, recorder.default)
                self.send_response(answer.status)
                for key, value in answer.headers.items():
                    self.send_header(key, value)
                if answer.chunked:
                    self.send_header("Transfer-Encoding", "chunked")
                    self.end_headers()
                    step = 64 * 1024
                    for start in range(0, len(answer.body), step):
                        chunk = answer.body[start : start + step]
                        try:
                            self.wfile.write(f"{len(chunk):x}\r\n".encode() + chunk + b"\r\n")
                        except OSError:
                            return  # the client stopped reading: what a size cap does
                    self.wfile.write(b"0\r\n\r\n")
                    return
                self.send_header("Content-Length", str(len(answer.body)))
                self.end_headers()
                try:
                    self.wfile.write(answer.body)
                except OSError:
                    return

            do_POST = do_GET

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        threading.Thread(target=self._server.serve_forever, daemon=True).start()
        return self

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()

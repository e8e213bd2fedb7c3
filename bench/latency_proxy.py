"""A reverse proxy on 127.0.0.1 that holds every response of an S3 server for a fixed delay.

On loopback a GET costs only CPU, so a concurrency figure measured there says nothing about S3 in a
region, where the first byte of every response comes tens of milliseconds after the request. The
proxy adds that wait (20 ms by default) to each response, so sequential and concurrent readers are
compared on the latency they really face. Requests, the Host header included (it is part of the
SigV4 signature), pass through unchanged.

The proxy runs in a process of its own: S3's latency costs the reader no CPU, and a proxy sharing
the reader's interpreter (and its lock) would slow the reader it measures.
"""

from __future__ import annotations

import http.client
import subprocess
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import urlsplit

_REPOSITORY = Path(__file__).resolve().parents[1]
HOP_BY_HOP = {"connection", "keep-alive", "transfer-encoding", "te", "trailer", "upgrade"}


class LatencyProxy:
    """``with LatencyProxy(upstream, delay_seconds=0.02) as proxy: proxy.endpoint``

    After the ``with`` block, ``requests`` is the number of requests the proxy forwarded.
    """

    def __init__(self, upstream_endpoint: str, delay_seconds: float = 0.020) -> None:
        self.upstream_endpoint = upstream_endpoint
        self.delay_seconds = delay_seconds
        self.endpoint = ""
        self.requests = 0
        self._process: subprocess.Popen | None = None

    def __enter__(self) -> LatencyProxy:
        arguments = [self.upstream_endpoint, str(self.delay_seconds)]
        self._process = subprocess.Popen(
            [sys.executable, "-m", "bench.latency_proxy", *arguments],
            cwd=_REPOSITORY,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        self.endpoint = self._process.stdout.readline().strip()
        if not self.endpoint:
            self._process.wait()
            raise RuntimeError(f"the latency proxy did not start (exit {self._process.returncode})")
        return self

    def __exit__(self, *exc: object) -> None:
        # Closing its standard input stops the proxy, which then prints its request count.
        self._process.stdin.close()
        count = self._process.stdout.readline().strip()
        self._process.wait(timeout=30)
        self.requests = int(count) if count.isdigit() else 0


def serve(upstream_endpoint: str, delay_seconds: float) -> None:
    """Print the proxy's endpoint, serve until standard input closes, print the request count."""
    upstream = urlsplit(upstream_endpoint)
    local = threading.local()
    counter = {"requests": 0}
    lock = threading.Lock()

    def upstream_connection() -> http.client.HTTPConnection:
        # One upstream connection per proxy thread (each client connection has its own thread).
        connection = getattr(local, "connection", None)
        if connection is None:
            connection = http.client.HTTPConnection(upstream.hostname, upstream.port, timeout=60)
            local.connection = connection
        return connection

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        # Headers and body go out as two writes: without this, Nagle and delayed ACKs add 40 ms.
        disable_nagle_algorithm = True

        def log_message(self, *args: object) -> None:
            pass

        def _forward(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length) if length else None
            headers = {k: v for k, v in self.headers.items() if k.lower() not in HOP_BY_HOP}
            connection = upstream_connection()
            connection.request(self.command, self.path, body=body, headers=headers)
            response = connection.getresponse()
            payload = response.read()
            time.sleep(delay_seconds)
            self.send_response(response.status, response.reason)
            for key, value in response.getheaders():
                if key.lower() not in HOP_BY_HOP and key.lower() != "content-length":
                    self.send_header(key, value)
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            if self.command != "HEAD":
                self.wfile.write(payload)
            with lock:
                counter["requests"] += 1

        do_GET = do_PUT = do_POST = do_DELETE = do_HEAD = _forward

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    print(f"http://127.0.0.1:{server.server_address[1]}", flush=True)
    sys.stdin.read()
    server.shutdown()
    server.server_close()
    print(counter["requests"], flush=True)


if __name__ == "__main__":
    serve(sys.argv[1], float(sys.argv[2]))

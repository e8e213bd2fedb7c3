"""A reverse proxy on 127.0.0.1 that holds every response of an S3 server for a fixed delay.

On loopback a GET costs only CPU, so a concurrency figure measured there says nothing about S3 in a
region, where the first byte of every response comes tens of milliseconds after the request. The
proxy adds that wait (20 ms by default) to each response, so sequential and concurrent readers are
compared on the latency they really face. Requests, the Host header included (it is part of the
SigV4 signature), pass through unchanged.
"""

from __future__ import annotations

import http.client
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import urlsplit

HOP_BY_HOP = {"connection", "keep-alive", "transfer-encoding", "te", "trailer", "upgrade"}


class LatencyProxy:
    """``with LatencyProxy(upstream, delay_seconds=0.02) as proxy: proxy.endpoint``"""

    def __init__(self, upstream_endpoint: str, delay_seconds: float = 0.020) -> None:
        upstream = urlsplit(upstream_endpoint)
        self.delay_seconds = delay_seconds
        self.requests = 0
        self._lock = threading.Lock()
        self._local = threading.local()
        proxy = self

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
                connection = proxy._connection(upstream.hostname, upstream.port)
                connection.request(self.command, self.path, body=body, headers=headers)
                response = connection.getresponse()
                payload = response.read()
                time.sleep(proxy.delay_seconds)
                self.send_response(response.status, response.reason)
                for key, value in response.getheaders():
                    if key.lower() not in HOP_BY_HOP and key.lower() != "content-length":
                        self.send_header(key, value)
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                if self.command != "HEAD":
                    self.wfile.write(payload)
                with proxy._lock:
                    proxy.requests += 1

            do_GET = do_PUT = do_POST = do_DELETE = do_HEAD = _forward

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self.endpoint = f"http://127.0.0.1:{self._server.server_address[1]}"
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    def _connection(self, host: str, port: int) -> http.client.HTTPConnection:
        # One upstream connection per proxy thread (each client connection has its own thread).
        connection = getattr(self._local, "connection", None)
        if connection is None:
            connection = http.client.HTTPConnection(host, port, timeout=60)
            self._local.connection = connection
        return connection

    def __enter__(self) -> LatencyProxy:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()

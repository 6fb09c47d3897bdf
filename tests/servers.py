"""What the download tests (tests/test_data.py, tests/test_hardening_downloads.py) share: a
local HTTP server on 127.0.0.1, a refused loopback port, a guard that keeps every download
on the loopback interface, and IDX encoding for the files they serve."""
import contextlib
import http.server
import socket
import threading

import numpy as np
import pytest

from cnnlib import download

PROXY_VARS = ("http_proxy", "https_proxy", "all_proxy", "HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY")


def closed_port():
    """A loopback port nobody listens on: connecting to it is refused."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def keep_downloads_local(monkeypatch):
    """Whatever a test does, a download can only go to a refused loopback port: no proxy,
    no download timeout from the environment, and the default mirrors on a closed port."""
    for name in PROXY_VARS:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.delenv(download.DOWNLOAD_TIMEOUT_ENV, raising=False)
    monkeypatch.setattr(download, "MNIST_MIRRORS", (f"http://127.0.0.1:{closed_port()}/mnist/",))


def idx_bytes(array):
    """Encode a uint8 array as IDX: magic 00 00 08 ndim, big-endian sizes, then the data."""
    array = np.asarray(array, dtype=np.uint8)
    header = bytes([0, 0, 0x08, array.ndim]) + b"".join(n.to_bytes(4, "big") for n in array.shape)
    return header + array.tobytes()


class QuietHandler(http.server.BaseHTTPRequestHandler):
    """A request handler that keeps the test output clean: no line per request."""

    def log_message(self, *args):
        pass


@contextlib.contextmanager
def local_server(handler):
    """A threaded HTTP server on 127.0.0.1 (a free port) answering with ``handler`` (a
    ``BaseHTTPRequestHandler`` subclass), stopped on exit. The handler finds on
    ``self.server``: ``files`` (name -> bytes, for the test to fill), ``requests`` (the
    paths asked for, in order) and ``closing`` (an Event set before shutdown, so a handler
    that streams can stop); the test uses ``url`` (``http://127.0.0.1:PORT``)."""
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    httpd.daemon_threads = True
    httpd.files, httpd.requests, httpd.closing = {}, [], threading.Event()
    httpd.url = f"http://127.0.0.1:{httpd.server_address[1]}"
    thread = threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True)
    thread.start()
    try:
        yield httpd
    finally:
        httpd.closing.set()
        httpd.shutdown()
        httpd.server_close()
        thread.join(timeout=5)


def server_fixture(handler):
    """A pytest fixture that runs :func:`local_server` with ``handler`` for one test and
    yields the server; a test module names it: ``server = server_fixture(Handler)``."""
    @pytest.fixture
    def server():
        with local_server(handler) as httpd:
            yield httpd
    return server

"""A Cloud Storage emulator that TensorFlow's `gs://` filesystem talks to, for tests and
benchmarks: no network, no credentials.

    python tools/gcs_emulator.py [--bucket fingerspell-test]

prints one line of JSON, the environment a process needs to reach it, then serves until its
standard input closes (so it ends with the process that started it) or it is killed. From
Python, `with running() as bucket:` does all of that (the tests' fixture, benchmarks/buckets.py).

TensorFlow's GCS filesystem has Google's endpoints compiled in and ignores
`STORAGE_EMULATOR_HOST`, but it speaks through libcurl, which honours `https_proxy` and
`CURL_CA_BUNDLE`; `GOOGLE_AUTH_TOKEN_FOR_TESTING` skips the credential look-up. So this runs
`gcp-storage-emulator` (in memory) behind a small forward proxy that terminates TLS for the
googleapis hosts with a throw-away certificate (`trustme`) and forwards each request to the
emulator over plain HTTP; a CONNECT to any other host is tunnelled untouched, so a process
started under it still reaches the network (pip). It runs in a process of its own:
TensorFlow's calls block the calling interpreter, which would then never answer them.

What the proxy smooths over: TensorFlow uploads with chunked bodies and `Expect: 100-continue`;
`makedirs` uploads empty objects, which the emulator refuses (patched here);
the emulator builds upload URLs from the Host header as http://, which would leave TLS; and a
directory rename first asks for the bucket's `storageLayout`, which the emulator lacks.
"""

from __future__ import annotations

import argparse
import contextlib
import http.client
import json
import os
import re
import shutil
import socket
import socketserver
import ssl
import subprocess
import sys
import tempfile
import threading
import urllib.request
from pathlib import Path

GOOGLE_HOSTS = ("storage.googleapis.com", "www.googleapis.com")
HOP_BY_HOP = {"connection", "keep-alive", "proxy-connection", "proxy-authorization",
              "transfer-encoding", "expect", "te", "upgrade", "content-length"}  # fmt: skip
STORAGE_LAYOUT = re.compile(r"^/storage/v1/b/(?P<bucket>[^/?]+)/storageLayout")
PIECE = 1 << 16  # bytes an answer is sent in
BYTES_SERVED = "/_emulator/bytes_served"  # GET: the bytes of answers to GETs so far, for tests


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _read_body(stream, headers: dict[str, str]) -> bytes:
    if "chunked" in headers.get("transfer-encoding", "").lower():
        body = bytearray()  # grown in place: bytes += bytes copies the whole body each chunk
        while True:
            size = int(stream.readline().split(b";")[0].strip() or b"0", 16)
            if size == 0:
                while stream.readline() not in (b"\r\n", b"\n", b""):  # trailers
                    pass
                return bytes(body)
            body += stream.read(size)
            stream.readline()  # the CRLF after each chunk
    return stream.read(int(headers.get("content-length", "0")))


def _read_request(stream):
    """(method, target, headers) of the next request, or None at the end of the connection."""
    line = stream.readline()
    if not line.strip():
        return None
    method, target, _ = line.decode("latin-1").split(" ", 2)
    headers = {}
    while (header := stream.readline()) not in (b"\r\n", b"\n", b""):
        name, _, value = header.decode("latin-1").partition(":")
        headers[name.strip().lower()] = value.strip()
    return method, target, headers


def _reply(stream, status: int, reason: str, headers: list[tuple[str, str]], body: bytes) -> int:
    """Answer, in pieces; returns how much of `body` went out before the client hung up (a
    reader that needs only the start of an object closes the connection, as on Google's
    network, and the rest never crosses it)."""
    lines = [f"HTTP/1.1 {status} {reason}"]
    lines += [f"{k}: {v}" for k, v in headers if k.lower() not in HOP_BY_HOP]
    lines += [f"Content-Length: {len(body)}", "", ""]
    sent = 0
    try:
        stream.write("\r\n".join(lines).encode("latin-1"))
        for start in range(0, len(body), PIECE):
            stream.write(body[start : start + PIECE])
            stream.flush()
            sent += len(body[start : start + PIECE])
        stream.flush()
    except ConnectionError:  # the client hung up
        pass
    return sent


def _pipe(source: socket.socket, sink: socket.socket) -> None:
    """Copy one direction of a tunnel until its sender is done, then say so to the other end."""
    with contextlib.suppress(OSError):
        while data := source.recv(PIECE):
            sink.sendall(data)
    with contextlib.suppress(OSError):
        sink.shutdown(socket.SHUT_WR)


class Proxy(socketserver.ThreadingTCPServer):
    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, port: int, emulator_port: int, tls: ssl.SSLContext):
        self.emulator_port, self.tls = emulator_port, tls
        self.bytes_served, self.counting = 0, threading.Lock()
        super().__init__(("127.0.0.1", port), ProxyHandler)


class ProxyHandler(socketserver.StreamRequestHandler):
    """CONNECT to a googleapis host → TLS terminated here; to any other host → a plain tunnel;
    plain absolute-URL requests → the emulator."""

    def handle(self):
        first = _read_request(self.rfile)
        if first is None:
            return
        method, target, headers = first
        if method != "CONNECT":
            self._forward(self.rfile, self.wfile, method, target, headers)
            return self._serve(self.rfile, self.wfile)
        host, _, port = target.rpartition(":")
        if host not in GOOGLE_HOSTS:
            return self._tunnel(host, int(port))
        self._established()
        tls = self.server.tls.wrap_socket(self.connection, server_side=True)
        self._serve(tls.makefile("rb"), tls.makefile("wb"))

    def _established(self) -> None:
        self.wfile.write(b"HTTP/1.1 200 Connection established\r\n\r\n")
        self.wfile.flush()

    def _tunnel(self, host: str, port: int) -> None:
        """Pass the bytes through untouched: every process started under `running()` has this
        proxy, and some must still reach the network (pip installing MediaPipe's environment
        for a test that holds a bucket)."""
        try:
            upstream = socket.create_connection((host, port), timeout=30)
        except OSError as error:
            _reply(self.wfile, 502, "Bad Gateway", [], f"{host}:{port}: {error}".encode())
            return
        with upstream:
            upstream.settimeout(None)
            self._established()
            back = threading.Thread(target=_pipe, args=(upstream, self.connection), daemon=True)
            back.start()
            _pipe(self.connection, upstream)
            back.join()

    def _serve(self, reader, writer):
        with contextlib.suppress(ConnectionError):  # the client hung up
            while (request := _read_request(reader)) is not None:
                self._forward(reader, writer, *request)

    def _forward(self, reader, writer, method: str, target: str, headers: dict[str, str]):
        if headers.get("expect", "").lower() == "100-continue":
            writer.write(b"HTTP/1.1 100 Continue\r\n\r\n")
            writer.flush()
        body = _read_body(reader, headers)
        path = re.sub(r"^https?://[^/]+", "", target)
        if layout := STORAGE_LAYOUT.match(path):
            answer = {"kind": "storage#storageLayout", "bucket": layout["bucket"],
                      "location": "US", "locationType": "multi-region",
                      "hierarchicalNamespace": {"enabled": False}}  # fmt: skip
            return _reply(writer, 200, "OK", [("Content-Type", "application/json")],
                          json.dumps(answer).encode())  # fmt: skip
        if path == BYTES_SERVED:
            return _reply(writer, 200, "OK", [("Content-Type", "text/plain")],
                          str(self.server.bytes_served).encode())  # fmt: skip
        upstream = http.client.HTTPConnection("127.0.0.1", self.server.emulator_port, timeout=60)
        sent = {k: v for k, v in headers.items() if k not in HOP_BY_HOP}
        upstream.request(method, path, body=body, headers=sent)
        response = upstream.getresponse()
        content = response.read()
        upstream.close()
        # Keep the client on TLS: the emulator writes upload URLs as http://<Host>/….
        replied = [(k, v.replace("http://", "https://", 1) if k.lower() == "location" else v)
                   for k, v in response.getheaders()]  # fmt: skip
        delivered = _reply(writer, response.status, response.reason, replied, content)
        if method == "GET":  # objects' bytes (and small metadata answers)
            with self.server.counting:
                self.server.bytes_served += delivered


def bytes_served() -> int:
    """The bytes the running emulator has answered GETs with (every client's reads) so far."""
    with urllib.request.urlopen(os.environ["STORAGE_EMULATOR_HOST"] + BYTES_SERVED) as answer:
        return int(answer.read())


def _accept_empty_media_uploads() -> None:
    """The emulator reads an empty body as "no body" and fails on it; `makedirs` uploads
    empty objects (the directory markers)."""
    from gcp_storage_emulator.handlers import objects

    upload = objects._media_upload

    def upload_allowing_empty(request, response, storage):
        if request.data is None:
            request._data = b""
        return upload(request, response, storage)

    objects._media_upload = upload_allowing_empty


def serve(bucket: str) -> None:
    import trustme
    from gcp_storage_emulator.server import create_server

    _accept_empty_media_uploads()

    emulator_port, proxy_port = _free_port(), _free_port()
    emulator = create_server("127.0.0.1", emulator_port, in_memory=True, default_bucket=bucket)
    emulator.start()
    authority = trustme.CA()
    tls = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    authority.issue_cert(*GOOGLE_HOSTS).configure_cert(tls)
    folder = Path(tempfile.mkdtemp(prefix="gcs-emulator-"))
    authority.cert_pem.write_to_path(str(folder / "ca.pem"))
    proxy = Proxy(proxy_port, emulator_port, tls)
    threading.Thread(target=proxy.serve_forever, daemon=True).start()
    proxy_url = f"http://127.0.0.1:{proxy_port}"
    environment = {
        "https_proxy": proxy_url, "http_proxy": proxy_url, "no_proxy": "localhost,127.0.0.1",
        "CURL_CA_BUNDLE": str(folder / "ca.pem"), "GOOGLE_AUTH_TOKEN_FOR_TESTING": "emulator",
        "STORAGE_EMULATOR_HOST": proxy_url,  # the plain-HTTP clients (pyarrow) come here too
    }  # fmt: skip
    print(json.dumps({"bucket": bucket, "environment": environment}), flush=True)
    sys.stdin.read()  # until the parent closes the pipe or ends
    proxy.shutdown()
    emulator.stop()
    shutil.rmtree(folder, ignore_errors=True)


@contextlib.contextmanager
def running(bucket: str = "fingerspell-test"):
    """The emulator in a process of its own while the block runs, this process's environment
    pointed at it (TensorFlow reads it once: enter before its first gs:// call); yields the
    bucket's gs:// URL, then restores the environment and stops the emulator."""
    server = subprocess.Popen([sys.executable, __file__, "--bucket", bucket],
                              stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)  # fmt: skip
    ready = json.loads(server.stdout.readline())
    saved = {name: os.environ.get(name) for name in ready["environment"]}
    os.environ.update(ready["environment"])
    try:
        yield f"gs://{ready['bucket']}"
    finally:
        for name, value in saved.items():
            os.environ.pop(name, None) if value is None else os.environ.update({name: value})
        server.stdin.close()  # the emulator ends when its input closes
        server.wait(timeout=30)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--bucket", default="fingerspell-test")
    serve(parser.parse_args().bucket)

"""pods/portforward as kubectl speaks it: SPDY/3.1 streams, tunnelled in WebSocket binary messages
(subprotocol `SPDY/3.1+portforward.k8s.io`, kubectl 1.31+) or after a plain `Upgrade: SPDY/3.1`
(`X-Stream-Protocol-Version: portforward.k8s.io`, the fallback).

SPDY/3.1 as draft-mbelshe-httpbis-spdy-00 and moby/spdystream (the Go client kubectl uses) define it:
control frames (SYN_STREAM, SYN_REPLY, RST_STREAM, SETTINGS, PING, GOAWAY, WINDOW_UPDATE), data frames,
name/value header blocks compressed with one zlib stream per direction and the spec's dictionary
(section 2.6.10.1). Port forwarding as kubelet's pkg/kubelet/cri/streaming/portforward/httpstream.go:
the client opens an `error` and a `data` stream per connection (headers streamtype, port, requestid);
the server replies to each, connects the port, copies bytes both ways on the data stream, writes a
failure as text on the error stream. spdystream does no flow control; neither does this.
"""

from __future__ import annotations

import select
import socket
import struct
import threading
import zlib
from collections.abc import Callable

# the SPDY/3 header dictionary: length-prefixed words, then a literal tail (spec section 2.6.10.1)
_WORDS = ("options head post put delete trace accept accept-charset accept-encoding accept-language "
          "accept-ranges age allow authorization cache-control connection content-base content-encoding "
          "content-language content-length content-location content-md5 content-range content-type date etag "
          "expect expires from host if-match if-modified-since if-none-match if-range if-unmodified-since "
          "last-modified location max-forwards pragma proxy-authenticate proxy-authorization range referer "
          "retry-after server te trailer transfer-encoding upgrade user-agent vary via warning www-authenticate "
          "method get status|200 OK version HTTP/1.1 url public set-cookie keep-alive origin")
_TAIL = ("100101201202205206300302303304305306307402405406407408409410411412413414415416417502504505"
         "203 Non-Authoritative Information204 No Content301 Moved Permanently400 Bad Request401 Unauthorized"
         "403 Forbidden404 Not Found500 Internal Server Error501 Not Implemented503 Service Unavailable"
         "Jan Feb Mar Apr May Jun Jul Aug Sept Oct Nov Dec 00:00:00 Mon, Tue, Wed, Thu, Fri, Sat, Sun, GMT"
         "chunked,text/html,image/png,image/jpg,image/gif,application/xml,application/xhtml+xml,text/plain,"
         "text/javascript,publicprivatemax-age=gzip,deflate,sdchcharset=utf-8charset=iso-8859-1,utf-,*,enq=0.")


def _dictionary() -> bytes:
    words = _WORDS.replace("status|200 OK", "status 200\x00OK").split(" ")
    words = [w.replace("\x00", " ") for w in words]
    return b"".join(struct.pack("!I", len(w)) + w.encode() for w in words) + _TAIL.encode()


DICTIONARY = _dictionary()
SYN_STREAM, SYN_REPLY, RST_STREAM, SETTINGS, PING, GOAWAY, HEADERS, WINDOW_UPDATE = 1, 2, 3, 4, 6, 7, 8, 9
FLAG_FIN = 0x01
TUNNEL_PROTOCOL = "SPDY/3.1+portforward.k8s.io"


class Session:
    """One SPDY/3.1 server session over recv(n)/send(bytes)."""

    def __init__(self, recv: Callable[[int], bytes], send: Callable[[bytes], None]) -> None:
        self._recv, self._send = recv, send
        self._buf = b""
        self._inflate = zlib.decompressobj(zdict=DICTIONARY)
        self._deflate = zlib.compressobj(zdict=DICTIONARY)
        self._lock = threading.Lock()

    def _read(self, n: int) -> bytes:
        while len(self._buf) < n:
            chunk = self._recv(65536)
            if not chunk:
                raise ConnectionError("closed")
            self._buf += chunk
        out, self._buf = self._buf[:n], self._buf[n:]
        return out

    def read_frame(self) -> tuple[bool, int, int, bytes]:
        """(control, type or stream id, flags, payload)."""
        head = self._read(8)
        word, flags_len = struct.unpack("!II", head)
        flags, length = flags_len >> 24, flags_len & 0xFFFFFF
        data = self._read(length) if length else b""
        if word & 0x80000000:
            return True, word & 0xFFFF, flags, data
        return False, word & 0x7FFFFFFF, flags, data

    def headers(self, block: bytes) -> dict[str, str]:
        raw = self._inflate.decompress(block)
        n = struct.unpack("!I", raw[:4])[0]
        pos, out = 4, {}
        for _ in range(n):
            klen = struct.unpack("!I", raw[pos:pos + 4])[0]
            key = raw[pos + 4:pos + 4 + klen].decode()
            pos += 4 + klen
            vlen = struct.unpack("!I", raw[pos:pos + 4])[0]
            out[key.lower()] = raw[pos + 4:pos + 4 + vlen].decode().split("\x00")[0]
            pos += 4 + vlen
        return out

    def _block(self, headers: dict[str, str]) -> bytes:
        raw = struct.pack("!I", len(headers)) + b"".join(
            struct.pack("!I", len(k)) + k.encode() + struct.pack("!I", len(v)) + v.encode()
            for k, v in headers.items())
        return self._deflate.compress(raw) + self._deflate.flush(zlib.Z_SYNC_FLUSH)

    def control(self, ftype: int, flags: int, data: bytes) -> None:
        with self._lock:
            self._send(struct.pack("!HHI", 0x8003, ftype, (flags << 24) | len(data)) + data)

    def syn_reply(self, stream_id: int) -> None:
        with self._lock:
            data = struct.pack("!I", stream_id) + self._block({})
            self._send(struct.pack("!HHI", 0x8003, SYN_REPLY, len(data)) + data)

    def data(self, stream_id: int, payload: bytes, fin: bool = False) -> None:
        with self._lock:
            self._send(struct.pack("!II", stream_id, ((FLAG_FIN if fin else 0) << 24) | len(payload)) + payload)


def serve_portforward(session: Session, connect: Callable[[int], tuple[str, int] | None], pod: str) -> None:
    """Answer kubectl's streams until the session ends."""
    errors: dict[str, int] = {}  # requestid -> error stream id
    backends: dict[int, socket.socket] = {}  # data stream id -> connection to the port
    stop = threading.Event()

    def pump(stream_id: int, conn: socket.socket) -> None:
        try:
            while not stop.is_set():
                r, _, _ = select.select([conn], [], [], 1.0)
                if not r:
                    continue
                chunk = conn.recv(32768)
                if not chunk:
                    break
                session.data(stream_id, chunk)
            session.data(stream_id, b"", fin=True)
        except OSError:
            pass

    try:
        while True:
            control, kind, flags, data = session.read_frame()
            if not control:
                conn = backends.get(kind)
                if conn is not None:
                    try:
                        if data:
                            conn.sendall(data)
                        if flags & FLAG_FIN:
                            conn.shutdown(socket.SHUT_WR)
                    except OSError:
                        pass
                continue
            if kind == SYN_STREAM:
                stream_id = struct.unpack("!I", data[:4])[0] & 0x7FFFFFFF
                h = session.headers(data[10:])
                session.syn_reply(stream_id)
                req, port = h.get("requestid", ""), int(h.get("port") or 0)
                if h.get("streamtype") == "error":
                    errors[req] = stream_id
                    continue
                if h.get("streamtype") != "data":
                    continue
                addr = connect(port)
                try:
                    if addr is None:
                        raise OSError(f"connect: connection refused (nothing listens on port {port} of {pod})")
                    conn = socket.create_connection(addr, timeout=10)
                    conn.settimeout(None)
                except OSError as e:
                    if req in errors:
                        msg = f"error forwarding port {port} to pod {pod}: {e.strerror or e}"
                        session.data(errors[req], msg.encode(), fin=True)
                    session.data(stream_id, b"", fin=True)
                    continue
                backends[stream_id] = conn
                threading.Thread(target=pump, args=(stream_id, conn), daemon=True,
                                 name=f"spdy-portforward-{port}").start()
            elif kind == PING:
                session.control(PING, 0, data)
            elif kind == RST_STREAM:
                conn = backends.pop(struct.unpack("!I", data[:4])[0] & 0x7FFFFFFF, None)
                if conn is not None:
                    conn.close()
            elif kind == GOAWAY:
                break
    except (ConnectionError, OSError, struct.error, zlib.error, ValueError):
        pass
    finally:
        stop.set()
        for conn in backends.values():
            try:
                conn.close()
            except OSError:
                pass

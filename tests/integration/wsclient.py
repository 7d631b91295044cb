"""WebSocket clients for emotiond's integration tests and benchmarks (with harness.py).

What it promises:
- ws_connect() speaks the daemon's subprotocol (emotiond.v1) with the websockets 10.x API, no
  pings, 4 MB frames; recv_json / recv_until / hello read JSON text frames with deadlines and
  fail (harness.Fail) on a binary frame, a timeout or a hello that is not first.
- Collector reads one connection in the background, validating every message against the
  schema and keeping its receive time; stop() re-raises what went wrong while reading.
- RawWS is a client on a bare socket that can stop reading altogether (a stalled subscriber).
"""

import asyncio
import contextlib
import json
import os
import socket
import time

from harness import Fail, check, validate

SUBPROTOCOL = 'emotiond.v1'


async def ws_connect(url, **kw):
    import websockets
    kw.setdefault('max_size', 4 * 1024 * 1024)
    kw.setdefault('open_timeout', 10)
    kw.setdefault('ping_interval', None)
    kw.setdefault('subprotocols', [SUBPROTOCOL])
    kw.setdefault('close_timeout', 2)
    return await websockets.connect(url, **kw)


async def recv_json(ws, timeout=5.0):
    raw = await asyncio.wait_for(ws.recv(), timeout)
    check(isinstance(raw, str), 'server sent a binary frame where JSON text was expected')
    return json.loads(raw)


async def recv_until(ws, pred, timeout=5.0, keep=None):
    """Receive until pred(msg); other messages go to `keep` (a list) if given. Returns msg."""
    deadline = time.monotonic() + timeout
    while True:
        left = deadline - time.monotonic()
        if left <= 0:
            raise Fail('no matching message within %s s' % timeout)
        m = await recv_json(ws, left)
        if pred(m):
            return m
        if keep is not None:
            keep.append(m)


async def hello(ws, validator=None, timeout=5.0):
    m = await recv_json(ws, timeout)
    check(m.get('type') == 'hello', 'first message is not hello: %s' % json.dumps(m)[:300])
    if validator:
        validate(validator, m)
    return m


def check_contiguous(seqs, what='posteriors'):
    for a, b in zip(seqs, seqs[1:]):
        check(b == a + 1, '%s seq not contiguous: %d then %d' % (what, a, b))


class Collector:
    """Reads one connection in the background: every message is validated against the schema
    and kept with its receive time (time.monotonic()). `stop()` ends it and re-raises errors."""

    def __init__(self, ws, validator=None):
        self.ws = ws
        self.validator = validator
        self.msgs = []            # (monotonic receive time, message dict)
        self.task = asyncio.ensure_future(self._run())
        self.closed = None

    async def _run(self):
        import websockets
        try:
            async for raw in self.ws:
                now = time.monotonic()
                check(isinstance(raw, str), 'unexpected binary frame from the server')
                m = json.loads(raw)
                if self.validator:
                    validate(self.validator, m)
                self.msgs.append((now, m))
        except websockets.ConnectionClosed as e:
            self.closed = e

    def of(self, typ, since=None, until=None):
        return [(t, m) for t, m in self.msgs if m.get('type') == typ
                and (since is None or t >= since) and (until is None or t < until)]

    def posteriors(self, since=None, until=None):
        return [m for _, m in self.of('posteriors', since, until)]

    async def wait_for(self, pred, timeout=5.0, start=0):
        """Waits until some message at index >= start satisfies pred; returns it."""
        deadline = time.monotonic() + timeout
        i = start
        while True:
            while i < len(self.msgs):
                if pred(self.msgs[i][1]):
                    return self.msgs[i][1]
                i += 1
            if self.task.done():
                self.task.result()
                raise Fail('connection closed while waiting (%s)' % self.closed)
            if time.monotonic() > deadline:
                raise Fail('no matching message within %s s' % timeout)
            await asyncio.sleep(0.02)

    async def stop(self):
        if not self.task.done():
            self.task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self.task
        else:
            self.task.result()



class RawWS:
    """A WebSocket client on a bare socket that can stop reading altogether (a stalled
    subscriber): handshake, send masked text frames, then leave the socket unread. A small
    receive buffer and a small MSS (what a client on a slow real network looks like) keep the
    kernel buffers on both sides small: on loopback the daemon's send buffer is otherwise
    autotuned from the 64 KB MSS to ~4 MB, which takes minutes to fill at 40 KB/s."""

    def __init__(self, port, path='/ws', rcvbuf=4096, mss=536):
        import base64
        self.sock = socket.socket()
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_MAXSEG, mss)
        self.sock.settimeout(5)
        self.sock.connect(('127.0.0.1', port))
        key = base64.b64encode(os.urandom(16)).decode()
        self.sock.sendall(('GET %s HTTP/1.1\r\nHost: 127.0.0.1:%d\r\nUpgrade: websocket\r\n'
                           'Connection: Upgrade\r\nSec-WebSocket-Key: %s\r\n'
                           'Sec-WebSocket-Version: 13\r\nSec-WebSocket-Protocol: %s\r\n\r\n'
                           % (path, port, key, SUBPROTOCOL)).encode())
        head = b''
        while b'\r\n\r\n' not in head:
            chunk = self.sock.recv(1)  # byte by byte: leave the first frames in the kernel
            check(chunk, 'handshake: connection closed')
            head += chunk
        check(head.startswith(b'HTTP/1.1 101'), 'handshake refused: %r' % head[:100])

    def send_text(self, text):
        import struct
        data = text.encode()
        mask = os.urandom(4)
        hdr = bytes([0x81])
        n = len(data)
        if n < 126:
            hdr += bytes([0x80 | n])
        elif n < 65536:
            hdr += bytes([0x80 | 126]) + struct.pack('!H', n)
        else:
            hdr += bytes([0x80 | 127]) + struct.pack('!Q', n)
        self.sock.sendall(hdr + mask + bytes(b ^ mask[i % 4] for i, b in enumerate(data)))

    def close(self):
        with contextlib.suppress(OSError):
            self.sock.close()

    def read_messages(self, until, timeout=5.0):
        """Reads frames (unmasked, from the server) until until(msg) or the deadline; returns
        the text messages decoded as JSON, in order."""
        buf, out = b'', []
        deadline = time.monotonic() + timeout
        self.sock.settimeout(0.2)
        while time.monotonic() < deadline:
            try:
                chunk = self.sock.recv(1 << 16)
            except socket.timeout:
                continue
            check(chunk, 'stalled subscriber: connection closed by the daemon')
            buf += chunk
            while len(buf) >= 2:
                op, n, j = buf[0] & 0x0f, buf[1] & 0x7f, 2
                if n == 126:
                    n, j = int.from_bytes(buf[2:4], 'big'), 4
                elif n == 127:
                    n, j = int.from_bytes(buf[2:10], 'big'), 10
                if len(buf) < j + n:
                    break
                payload, buf = buf[j:j + n], buf[j + n:]
                if op == 1:
                    out.append(json.loads(payload))
                    if until(out[-1]):
                        return out
        raise Fail('stalled subscriber: no matching message within %s s after resuming' % timeout)

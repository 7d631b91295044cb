#!/usr/bin/python3
"""Tests of the daemon's HTTP/WebSocket server module alone (server_harness on a libuv loop),
with real clients: python3-websockets and raw sockets.

Usage: test_server.py SERVER_HARNESS SCHEMA_JSON [TEST_NAME...]
Shutdown, HTTP and hello changes are in test_server_life.py, which reuses these helpers.

Each test starts its own harness; every harness must exit 0 on SIGTERM, which means the
shutdown order held (server_stop, handles closed, loop run out, uv_loop_close() == 0) and
no sidecar stream was left open."""
import asyncio
import base64
import json
import os
import re
import signal
import socket
import struct
import subprocess
import sys
import time
import urllib.error
import urllib.request

import jsonschema
import websockets

HARNESS = SCHEMA = None
VALIDATOR = None


class Harness:
    def __init__(self, *args):
        self.args = [HARNESS, *[str(a) for a in args]]

    def __enter__(self):
        self.p = subprocess.Popen(self.args, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                  stderr=subprocess.PIPE)
        line = self.p.stdout.readline().decode()
        if not line.startswith("PORT "):
            self.p.kill()
            raise RuntimeError("harness did not start: %r %s" % (line, self.p.stderr.read()))
        self.port = int(line.split()[1])
        self.url = "ws://127.0.0.1:%d" % self.port
        self.http = "http://127.0.0.1:%d" % self.port
        return self

    def stop(self):
        self.p.send_signal(signal.SIGTERM)
        try:
            _, err = self.p.communicate(timeout=20)
        except subprocess.TimeoutExpired:
            self.p.kill()
            raise AssertionError("harness did not exit within 20 s of SIGTERM")
        self.stderr = err.decode(errors="replace")
        assert self.p.returncode == 0, "harness exit %d:\n%s" % (self.p.returncode, self.stderr)

    def __exit__(self, et, ev, tb):
        if self.p.returncode is None:
            if et is None:
                self.stop()
            else:
                self.p.kill()
                self.p.wait()
        return False


def valid(msg):
    errs = list(VALIDATOR.iter_errors(msg))
    assert not errs, "schema: %s in %s" % (errs[0].message, json.dumps(msg)[:300])
    return msg


async def recv_json(ws, timeout=5.0):
    m = await asyncio.wait_for(ws.recv(), timeout)
    assert isinstance(m, str), "binary message from the server"
    return valid(json.loads(m))


async def recv_type(ws, kind, timeout=5.0):
    """Next message of `kind`, skipping broadcast traffic."""
    end = time.monotonic() + timeout
    while True:
        m = await recv_json(ws, max(0.01, end - time.monotonic()))
        if m["type"] == kind:
            return m


def http_get(url, headers=None):
    req = urllib.request.Request(url, headers=headers or {})
    try:
        with urllib.request.urlopen(req, timeout=5) as r:
            return r.status, dict(r.headers), r.read()
    except urllib.error.HTTPError as e:
        return e.code, dict(e.headers), e.read()


async def wait_metric(h, line, timeout=5.0):
    """Polls /metrics until it contains `line` (server-side effects of a client's close)."""
    end = time.monotonic() + timeout
    while True:
        body = http_get(h.http + "/metrics")[2]
        if line in body.split(b"\n"):
            return
        assert time.monotonic() < end, "metrics never showed %r" % line
        await asyncio.sleep(0.05)


def read_head(s):
    """Reads socket s up to the end of an HTTP response head: (head, the bytes after it)."""
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = s.recv(4096)
        if not chunk:
            break
        data += chunk
    head, _, rest = data.partition(b"\r\n\r\n")
    return head, rest


def raw_http(port, request):
    """Sends a request verbatim (no client-side path normalisation); returns the status."""
    with socket.create_connection(("127.0.0.1", port), timeout=5) as s:
        s.sendall(request.encode())
        head, _ = read_head(s)
    m = re.match(rb"HTTP/1\.[01] (\d+)", head)
    return int(m.group(1)) if m else None


# ---- tests ------------------------------------------------------------------------------

async def t_hello_and_stream():
    with Harness("--post-hz", 50) as h:
        async with websockets.connect(h.url + "/ws", subprotocols=["emotiond.v1"]) as ws:
            assert ws.subprotocol == "emotiond.v1"
            hello = await recv_json(ws)
            assert hello["type"] == "hello" and hello["protocol"] == 1
            assert hello["labels"] == ["neutral", "happy", "sad", "angry"]
            assert hello["streams"] == ["posteriors", "events", "status"]
            seqs, kinds = [], set()
            while len(seqs) < 60:
                m = await recv_json(ws)
                kinds.add(m["type"])
                if m["type"] == "posteriors":
                    assert len(m["probs"]) == 4
                    seqs.append(m["seq"])
            assert seqs == list(range(seqs[0], seqs[0] + 60)), "posteriors not contiguous"
            assert "frames" not in kinds, "frames sent without subscription"
            assert {"status", "event"} <= kinds, kinds
        # no subprotocol requested: still served
        async with websockets.connect(h.url + "/") as ws:
            assert ws.subprotocol is None
            assert (await recv_json(ws))["type"] == "hello"


async def t_commands():
    with Harness("--frames-hz", 20) as h:
        async with websockets.connect(h.url + "/ws") as ws:
            await recv_json(ws)
            await ws.send(json.dumps({"type": "ping", "id": 7}))
            pong = await recv_type(ws, "pong")
            assert pong["id"] == 7 and pong["dropped"] == 0
            await ws.send(json.dumps({"type": "subscribe", "streams": ["frames"], "id": "s1"}))
            ack = await recv_type(ws, "ack")
            assert ack == {"type": "ack", "cmd": "subscribe", "id": "s1",
                           "streams": ["posteriors", "events", "status", "frames"]}
            f1 = await recv_type(ws, "frames")
            f2 = await recv_type(ws, "frames")
            assert f1["bands"] == 128 and f1["n"] == 10 and f2["seq"] == f1["seq"] + f1["n"]
            assert len(base64.b64decode(f1["data"])) == 10 * 128 and len(f1["gate"]) == 10
            await ws.send(json.dumps({"type": "unsubscribe", "streams": ["posteriors", "frames",
                                                                        "status", "events"]}))
            ack = await recv_type(ws, "ack")
            assert ack["streams"] == []
            await asyncio.sleep(0.3)  # let in-flight broadcast drain
            while True:
                try:
                    m = json.loads(await asyncio.wait_for(ws.recv(), 0.05))
                except asyncio.TimeoutError:
                    break
            await ws.send(json.dumps({"type": "ping"}))
            m = await recv_json(ws)
            assert m["type"] == "pong", "broadcast after unsubscribing everything: %s" % m
            # rate goes to the daemon and is acked; smoothing refused by the daemon -> error
            await ws.send(json.dumps({"type": "rate", "hz": 5, "id": 1}))
            assert await recv_json(ws) == {"type": "ack", "cmd": "rate", "id": 1}
            await ws.send(json.dumps({"type": "smoothing", "alpha": 0.9, "id": 2}))
            e = await recv_json(ws)
            assert e["type"] == "error" and e["code"] == "out_of_range" and e["id"] == 2
            assert e["cmd"] == "smoothing" and "alpha > 0.5" in e["message"]
            await ws.send(json.dumps({"type": "smoothing", "alpha": 0.2}))
            assert (await recv_json(ws))["type"] == "ack"


async def t_bad_input():
    """Malformed, unknown, wrong types, ranges, oversized, non-UTF-8 text, binary garbage: an
    error each, and the connection stays up."""
    with Harness("--max-command", 1024) as h:
        async with websockets.connect(h.url + "/ws", max_size=None) as ws:
            await ws.send(json.dumps({"type": "unsubscribe",
                                      "streams": ["posteriors", "events", "status"]}))
            await recv_type(ws, "ack")
            cases = [
                ("{not json", "bad_json"),
                ("[1,2,3]", "bad_json"),
                ('{"type":"launch","id":3}', "unknown_type"),
                ('{"type":"rate","hz":"fast"}', "bad_field"),
                ('{"type":"rate","hz":1000}', "out_of_range"),
                ('{"type":"subscribe","streams":["video"]}', "out_of_range"),
                ('{"type":"audio","format":"s16le","rate":16000,"channels":99}', "out_of_range"),
                ('{"type":"ping","pad":"%s"}' % ("x" * 2000), "too_big"),
            ]
            for text, code in cases:
                await ws.send(text)
                m = await recv_json(ws)
                assert m["type"] == "error" and m["code"] == code, (text[:60], m)
            # the unknown command's type and id are echoed
            await ws.send('{"type":"launch","id":"q"}')
            m = await recv_json(ws)
            assert m["cmd"] == "launch" and m["id"] == "q"
            # invalid UTF-8 in a text frame (websockets would refuse to send it: raw frame)
            ws.transport.write(frame(0x1, b'{"type":"p\xffing"}'))
            m = await recv_json(ws)
            assert m["code"] == "bad_json" and "UTF-8" in m["message"], m
            # binary garbage without an audio hello
            await ws.send(os.urandom(3000))
            m = await recv_json(ws)
            assert m["code"] == "unexpected_binary", m
            # a huge message in many fragments is refused once, the rest skipped
            await ws.send(["x" * 1000 for _ in range(50)])
            m = await recv_json(ws)
            assert m["code"] == "too_big", m
            # still up and answering
            await ws.send('{"type":"ping","id":99}')
            m = await recv_json(ws)
            assert m["type"] == "pong" and m["id"] == 99, m
        status, _, body = http_get(h.http + "/metrics")
        errors = int(re.search(rb"emotiond_errors_sent_total (\d+)", body).group(1))
        assert errors == 12, "errors_sent_total %d, expected 12" % errors


def frame(opcode, payload, fin=True):
    """A masked client frame, for bytes a WebSocket library would not send."""
    b = bytes([(0x80 if fin else 0) | opcode])
    n = len(payload)
    if n < 126:
        b += bytes([0x80 | n])
    elif n < 65536:
        b += bytes([0x80 | 126]) + struct.pack(">H", n)
    else:
        b += bytes([0x80 | 127]) + struct.pack(">Q", n)
    mask = os.urandom(4)
    return b + mask + bytes(c ^ mask[i % 4] for i, c in enumerate(payload))


def raw_ws_connect(port, path="/ws", headers=(), rcvbuf=None):
    """Handshake on a plain socket; returns (socket, status line, leftover bytes)."""
    s = socket.socket()
    if rcvbuf:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
    s.settimeout(5)
    s.connect(("127.0.0.1", port))
    key = base64.b64encode(os.urandom(16)).decode()
    req = ("GET %s HTTP/1.1\r\nHost: 127.0.0.1:%d\r\nUpgrade: websocket\r\n"
           "Connection: Upgrade\r\nSec-WebSocket-Key: %s\r\nSec-WebSocket-Version: 13\r\n"
           % (path, port, key))
    for hdr in headers:
        req += hdr + "\r\n"
    s.sendall((req + "\r\n").encode())
    head, rest = read_head(s)
    return s, head.split(b"\r\n")[0].decode(errors="replace"), rest


def read_frames(s, buf, limit=None, timeout=5.0):
    """Server frames (unmasked) from socket s as (opcode, payload), until `limit` frames, a
    pause of `timeout` s, or `timeout` s in all."""
    s.settimeout(timeout)
    out = []
    end = time.monotonic() + timeout
    while (limit is None or len(out) < limit) and time.monotonic() < end:
        while True:
            if len(buf) >= 2:
                n = buf[1] & 0x7F
                hl = 2 + (2 if n == 126 else 8 if n == 127 else 0)
                if len(buf) >= hl:
                    if n == 126:
                        n = struct.unpack(">H", buf[2:4])[0]
                    elif n == 127:
                        n = struct.unpack(">Q", buf[2:10])[0]
                    if len(buf) >= hl + n:
                        out.append((buf[0] & 0x0F, bytes(buf[hl:hl + n])))
                        del buf[:hl + n]
                        break
            try:
                chunk = s.recv(65536)
            except socket.timeout:
                return out
            if not chunk:
                return out
            buf += chunk
    return out


async def t_slow_subscriber():
    """A subscriber that stops reading loses its oldest messages, counted; the loop and a
    reading subscriber are unaffected."""
    with Harness("--post-hz", 100, "--frames-hz", 100, "--frame-n", 100,
                 "--queue-len", 32) as h:
        slow, status, rest = raw_ws_connect(h.port, rcvbuf=4096)
        assert "101" in status, status
        slow.sendall(frame(0x1, b'{"type":"subscribe","streams":["frames"]}'))
        async with websockets.connect(h.url + "/ws", max_size=None) as ws:
            await recv_json(ws)
            seqs, arrivals = [], []
            t_end = time.monotonic() + 4.0
            while time.monotonic() < t_end:
                m = await recv_json(ws)
                if m["type"] == "posteriors":
                    seqs.append(m["seq"])
                    arrivals.append(time.monotonic())
            assert seqs == list(range(seqs[0], seqs[0] + len(seqs))), "fast reader lost messages"
            # ~100 Hz for 4 s: the loop kept publishing (generous bound for a loaded CI box)
            assert len(seqs) > 150, "only %d posteriors in 4 s: loop stalled?" % len(seqs)
            gaps = [b - a for a, b in zip(arrivals, arrivals[1:])]
            assert max(gaps) < 1.0, "fast reader waited %.2f s" % max(gaps)
            _, _, body = http_get(h.http + "/metrics")
            dropped = int(re.search(rb"emotiond_dropped_messages_total (\d+)", body).group(1))
            assert dropped > 100, "dropped_messages_total %d with a stalled reader" % dropped
        # the slow one now reads: hello, then a seq gap, then newer messages; its pong counts
        buf = bytearray(rest)
        got = read_frames(slow, buf, timeout=1.0)
        slow.sendall(frame(0x1, b'{"type":"ping","id":5}'))
        got += read_frames(slow, buf, timeout=1.0)
        msgs = [json.loads(p) for op, p in got if op == 1]
        post = [m["seq"] for m in msgs if m["type"] == "posteriors"]
        assert any(b - a > 1 for a, b in zip(post, post[1:])) or (post and post[0] > 50), \
            "no gap seen by the slow reader"
        pong = [m for m in msgs if m["type"] == "pong"]
        assert pong and pong[-1]["dropped"] > 100, pong
        slow.close()


async def t_limits_subscribers():
    with Harness("--max-subscribers", 5) as h:
        conns = [await websockets.connect(h.url + "/ws") for _ in range(5)]
        for c in conns:
            assert (await recv_json(c))["type"] == "hello"
        try:
            await websockets.connect(h.url + "/ws")
            raise AssertionError("connection over max_subscribers accepted")
        except websockets.InvalidStatusCode as e:
            assert e.status_code == 503, e
        await conns[0].close()
        await wait_metric(h, b"emotiond_subscribers 4")
        again = await websockets.connect(h.url + "/ws")
        assert (await recv_json(again))["type"] == "hello"
        for c in conns[1:] + [again]:
            await c.close()


async def t_many_subscribers():
    """200 concurrent subscribers each get hello and contiguous posteriors."""
    with Harness("--post-hz", 20) as h:
        conns = await asyncio.gather(*[websockets.connect(h.url + "/ws") for _ in range(200)])

        async def check(ws):
            assert (await recv_json(ws, 10))["type"] == "hello"
            seqs = []
            while len(seqs) < 10:
                m = json.loads(await asyncio.wait_for(ws.recv(), 10))
                if m["type"] == "posteriors":
                    seqs.append(m["seq"])
            assert seqs == list(range(seqs[0], seqs[0] + 10))
        await asyncio.gather(*[check(c) for c in conns])
        _, _, body = http_get(h.http + "/metrics")
        assert b"emotiond_subscribers 200" in body
        await asyncio.gather(*[c.close() for c in conns])


async def t_sidecar():
    """Two sidecars stream different audio at once; each gets its own results; a broadcast
    subscriber is unaffected; state errors and limits."""
    with Harness("--post-hz", 20, "--max-sidecars", 2) as h:
        sub = await websockets.connect(h.url + "/ws")
        await recv_json(sub)

        async def stream(fmt, rate, ch, seconds, amp, chunk):
            async with websockets.connect(h.url + "/ws") as ws:
                await recv_json(ws)
                await ws.send(json.dumps({"type": "audio", "format": fmt, "rate": rate,
                                          "channels": ch, "id": fmt}))
                m = await recv_type(ws, "ack")
                assert m == {"type": "ack", "cmd": "audio", "id": fmt}, m
                hello = await recv_json(ws)
                assert hello["type"] == "hello" and hello["input"] == {
                    "kind": "sidecar", "device": "ws", "rate": rate, "channels": ch}, hello
                n = int(rate * seconds) * ch
                if fmt == "s16le":
                    pcm = struct.pack("<%dh" % n, *([int(amp * 32767)] * n))
                else:
                    pcm = struct.pack("<%df" % n, *([amp] * n))
                for i in range(0, len(pcm), chunk):  # odd chunk sizes straddle frames
                    await ws.send(pcm[i:i + chunk])
                last = None
                while not last or last["t"] < seconds - 1e-9:
                    m = await recv_json(ws)
                    assert m["type"] == "posteriors", "sidecar got broadcast %s" % m["type"]
                    if last:
                        assert m["seq"] == last["seq"] + 1
                    last = m
                assert abs(last["t"] - seconds) < 1e-3, last
                assert abs(last["probs"][0] - amp) < 1e-3, (last, amp)
                # a second audio hello on the same connection is refused
                await ws.send(json.dumps({"type": "audio", "format": fmt, "rate": rate,
                                          "channels": ch}))
                m = await recv_type(ws, "error")
                assert m["code"] == "bad_state", m
                return last

        a, b = await asyncio.gather(stream("s16le", 16000, 1, 1.0, 0.25, 1001),
                                    stream("f32le", 48000, 2, 0.5, 0.75, 4099))
        assert a["top"] == "happy" and b["top"] == "neutral"
        await wait_metric(h, b"emotiond_sidecar_streams 0")  # their closes are processed
        # limit: 2 sidecars
        c1 = await websockets.connect(h.url + "/ws")
        c2 = await websockets.connect(h.url + "/ws")
        c3 = await websockets.connect(h.url + "/ws")
        for c in (c1, c2, c3):
            await recv_json(c)
        # One request at a time: three sockets give no order between their frames, and under
        # load c3's could be served before c2's (c2 then gets busy, c3 the ack).
        await c1.send('{"type":"audio","format":"s16le","rate":16000,"channels":1}')
        assert (await recv_type(c1, "ack"))["cmd"] == "audio"
        await c2.send('{"type":"audio","format":"s16le","rate":16000,"channels":1}')
        assert (await recv_type(c2, "ack"))["cmd"] == "audio"
        await c3.send('{"type":"audio","format":"s16le","rate":16000,"channels":1}')
        m = await recv_type(c3, "error")
        assert m["code"] == "busy", m
        # the daemon may refuse a stream: error, and the client stays a subscriber
        await c3.send('{"type":"audio","format":"s16le","rate":11025,"channels":1}')
        m = await recv_type(c3, "error")
        assert m["code"] in ("busy", "out_of_range"), m
        await c1.close()
        await wait_metric(h, b"emotiond_sidecar_streams 1")
        await c3.send('{"type":"audio","format":"s16le","rate":11025,"channels":1}')
        m = await recv_type(c3, "error")
        assert m["code"] == "out_of_range" and "11025" in m["message"], m
        assert (await recv_type(c3, "posteriors"))["type"] == "posteriors"
        # the broadcast subscriber saw contiguous posteriors throughout
        seqs = []
        while True:
            try:
                m = json.loads(await asyncio.wait_for(sub.recv(), 0.05))
            except asyncio.TimeoutError:
                break
            if m["type"] == "posteriors":
                seqs.append(m["seq"])
        assert seqs and seqs == list(range(seqs[0], seqs[0] + len(seqs)))
        _, _, body = http_get(h.http + "/metrics")
        assert b"emotiond_sidecar_streams 1" in body, body
        await c2.close()
        await c3.close()
        await sub.close()


async def t_auth():
    with Harness("--token", "s3cret") as h:
        for hdrs, path in ((None, "/ws"), ({"Authorization": "Bearer nope"}, "/ws")):
            try:
                await websockets.connect(h.url + path, extra_headers=hdrs)
                raise AssertionError("connected without the right token")
            except websockets.InvalidStatusCode as e:
                assert e.status_code == 401, e
        async with websockets.connect(h.url + "/ws?token=s3cret") as ws:
            assert (await recv_json(ws))["type"] == "hello"
        async with websockets.connect(h.url + "/ws",
                                      extra_headers={"Authorization": "Bearer s3cret"}) as ws:
            assert (await recv_json(ws))["type"] == "hello"
        assert http_get(h.http + "/metrics")[0] == 401
        assert http_get(h.http + "/metrics?token=wrong")[0] == 401
        assert http_get(h.http + "/metrics?token=s3cret")[0] == 200
        assert http_get(h.http + "/metrics", {"Authorization": "Bearer s3cret"})[0] == 200
        assert http_get(h.http + "/healthz")[0] == 200  # probes need no token
    # Origin: same origin ok, foreign refused, no Origin (not a browser) ok
    with Harness() as h:
        s, st, _ = raw_ws_connect(h.port, headers=["Origin: http://127.0.0.1:%d" % h.port])
        assert "101" in st, st
        s.close()
        s, st, _ = raw_ws_connect(h.port, headers=["Origin: http://evil.example"])
        assert " 403 " in st, st
        s.close()
        s, st, _ = raw_ws_connect(h.port)
        assert "101" in st, st
        s.close()
    with Harness("--origins", "http://kiosk.local:8080, https://ops.example") as h:
        for origin, ok in (("http://kiosk.local:8080", True), ("https://ops.example", True),
                           ("http://127.0.0.1:%d" % h.port, False), ("null", False)):
            s, st, _ = raw_ws_connect(h.port, headers=["Origin: " + origin])
            assert ("101" in st) == ok, (origin, st)
            s.close()
        _, _, body = http_get(h.http + "/metrics")
        assert re.search(rb"emotiond_rejected_total [2-9]", body), body


async def t_no_hello_yet():
    """A client that connects before the daemon has a hello gets nothing until it exists."""
    with Harness("--no-hello") as h:
        async with websockets.connect(h.url + "/ws") as ws:
            await ws.send('{"type":"ping"}')
            m = await recv_json(ws)
            assert m["type"] == "pong", m  # replies work, broadcast waits for the hello
            try:
                m = await asyncio.wait_for(ws.recv(), 0.5)
                raise AssertionError("broadcast before hello: %s" % m)
            except asyncio.TimeoutError:
                pass


TESTS = [t_hello_and_stream, t_commands, t_bad_input, t_slow_subscriber, t_limits_subscribers,
         t_many_subscribers, t_sidecar, t_auth, t_no_hello_yet]


def run(tests):
    """Runs the named tests (all without names) against argv's harness and schema."""
    global HARNESS, SCHEMA, VALIDATOR
    HARNESS, SCHEMA = sys.argv[1], sys.argv[2]
    with open(SCHEMA, encoding="utf-8") as f:
        VALIDATOR = jsonschema.Draft202012Validator(json.load(f))
    only = sys.argv[3:]
    failed = 0
    for t in tests:
        if only and t.__name__ not in only:
            continue
        t0 = time.monotonic()
        try:
            asyncio.run(t())
            print("ok   %-28s %.1f s" % (t.__name__, time.monotonic() - t0), flush=True)
        except Exception as e:  # report every test, then fail
            failed += 1
            import traceback
            traceback.print_exc()
            print("FAIL %-28s %s" % (t.__name__, e), flush=True)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(run(TESTS))

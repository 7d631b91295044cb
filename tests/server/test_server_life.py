#!/usr/bin/python3
"""Tests of the server module's lifecycle and HTTP side (server_harness on a libuv loop): the
close handshake on shutdown, hello changes (model reload, rate change) for subscribers and
sidecars, HTTP GET/HEAD, bind failures and idle hang-ups. Helpers and the runner are
test_server.py's.

Usage: test_server_life.py SERVER_HARNESS SCHEMA_JSON [TEST_NAME...]"""
import asyncio
import json
import os
import re
import signal
import socket
import struct
import subprocess
import sys
import tempfile
import time

import websockets

import test_server as T
from test_server import (Harness, http_get, raw_http, raw_ws_connect, read_frames, read_head,
                         recv_json, recv_type)


async def drain_until_closed(ws, timeout=5.0):
    """Reads until the connection closes; returns the messages read before."""
    got = []
    try:
        while True:
            got.append(await asyncio.wait_for(ws.recv(), timeout))
    except websockets.ConnectionClosed:
        return got


async def t_shutdown_close_1001():
    """SIGTERM with a subscriber and a sidecar: both get a close frame 1001 "going away" (not
    1006), and the harness exits cleanly (stop(): uv_loop_close == 0, no sidecar left)."""
    with Harness() as h:
        a = await websockets.connect(h.url + "/ws")
        b = await websockets.connect(h.url + "/ws")
        await recv_json(a)
        await recv_json(b)
        await b.send('{"type":"audio","format":"f32le","rate":16000,"channels":1}')
        await recv_type(b, "ack")
        await b.send(b"\0" * 4000)
        await asyncio.sleep(0.2)
        await asyncio.get_running_loop().run_in_executor(None, h.stop)
        for c in (a, b):
            await drain_until_closed(c)
            assert c.close_code == 1001, "close code %s (%r)" % (c.close_code, c.close_reason)
            assert c.close_reason == "daemon stopping", c.close_reason
        assert "clean exit" in h.stderr
        assert "did not finish the close handshake" not in h.stderr, h.stderr


async def t_shutdown_silent_peer():
    """A client that never answers the close frame: it still receives the frame (1001), and
    the server gives up on it after its short drain, exits cleanly and says so. A well-behaved
    client connected at the same time is closed with 1001 as usual."""
    with Harness() as h:
        mute, st, rest = raw_ws_connect(h.port)
        assert "101" in st, st
        good = await websockets.connect(h.url + "/ws")
        await recv_json(good)
        buf = bytearray(rest)
        read_frames(mute, buf, limit=1, timeout=2)  # its hello
        loop = asyncio.get_running_loop()
        stopping = loop.run_in_executor(None, h.stop)
        frames = await loop.run_in_executor(None, read_frames, mute, buf, None, 3.0)
        await drain_until_closed(good)
        await stopping
        assert good.close_code == 1001, good.close_code
        close = [p for op, p in frames if op == 8]
        assert close, "no close frame: %s" % [op for op, _ in frames]
        assert struct.unpack(">H", close[0][:2])[0] == 1001, close[0]
        assert close[0][2:] == b"daemon stopping", close[0]
        assert "1 connection did not finish the close handshake" in h.stderr, h.stderr
        assert "clean exit" in h.stderr
        mute.close()


async def t_shutdown_idle():
    """SIGTERM with no connection at all, and with only a finished HTTP client: clean exit."""
    with Harness():
        pass
    with Harness() as h:
        assert http_get(h.http + "/healthz")[0] == 200


async def t_hello_changes():
    """A rate change of the shared stream re-sends the hello to subscribers only (a sidecar's
    stream keeps its own rates); a model reload reaches sidecars too, with their own input;
    SERVER_HELLO_ALL reaches everybody."""
    with Harness() as h:
        sub = await websockets.connect(h.url + "/ws")
        await recv_json(sub)
        await sub.send('{"type":"unsubscribe","streams":["posteriors","events","status"]}')
        await recv_type(sub, "ack")
        side = await websockets.connect(h.url + "/ws")
        await recv_json(side)
        await side.send('{"type":"audio","format":"s16le","rate":22050,"channels":2}')
        await recv_type(side, "ack")
        first = await recv_type(side, "hello")
        assert first["input"]["kind"] == "sidecar" and first["publish_hz"] == 10

        async def quiet(ws, what):
            try:
                m = await asyncio.wait_for(ws.recv(), 0.5)
                raise AssertionError("%s got %s" % (what, m[:200]))
            except asyncio.TimeoutError:
                pass

        h.p.send_signal(signal.SIGUSR1)  # publish rate of the shared stream: 5 Hz
        m = await recv_json(sub)
        assert m["type"] == "hello" and m["publish_hz"] == 5, m
        assert m["input"]["kind"] == "mic" and m["streams"] == [], m
        await quiet(side, "sidecar after a shared-stream rate change")

        h.p.send_signal(signal.SIGHUP)  # another model
        m = await recv_json(sub)
        assert m["type"] == "hello" and m["model"].endswith("1111111111111111"), m
        assert m["labels"] == ["calm", "joy", "grief", "rage"], m
        m = await recv_json(side)
        assert m["type"] == "hello" and m["model"].endswith("1111111111111111"), m
        assert m["labels"] == ["calm", "joy", "grief", "rage"], m
        assert m["input"] == {"kind": "sidecar", "device": "ws", "rate": 22050,
                              "channels": 2}, m
        assert m["streams"] == ["posteriors", "events", "status"], m
        # its results come after the hello, under the new labels
        await side.send(b"\0\1" * 4410)
        assert (await recv_json(side))["type"] == "posteriors"

        h.p.send_signal(signal.SIGUSR2)  # same model, new settings for everybody
        m = await recv_json(sub)
        assert m["type"] == "hello" and m["publish_hz"] == 10, m
        m = await recv_type(side, "hello")
        assert m["publish_hz"] == 10 and m["input"]["kind"] == "sidecar", m
        await sub.close()
        await side.close()


async def t_hello_order():
    """A reader that is behind when the model changes gets every message published before the
    change under the old hello, then the new hello, then the new model's messages (posteriors
    name their top label, so each shows which hello it belongs to)."""
    old = {"neutral", "happy", "sad", "angry"}
    new = {"calm", "joy", "grief", "rage"}
    with Harness("--post-hz", 100, "--frames-hz", 100, "--frame-n", 100,
                 "--queue-len", 64) as h:
        slow, st, rest = raw_ws_connect(h.port, rcvbuf=4096)
        assert "101" in st, st
        # frames fill the socket buffers, so posteriors pile up in the server's ring
        slow.sendall(T.frame(0x1, b'{"type":"subscribe","streams":["frames"]}'))
        await asyncio.sleep(3.0)  # long enough to fill the kernel's buffers on this machine
        h.p.send_signal(signal.SIGHUP)
        await asyncio.sleep(0.05)
        buf = bytearray(rest)
        loop = asyncio.get_running_loop()
        got = await loop.run_in_executor(None, read_frames, slow, buf, None, 3.0)
        msgs = [json.loads(p) for op, p in got if op == 1]
        hellos = [i for i, m in enumerate(msgs) if m["type"] == "hello"]
        assert len(hellos) == 2, [m["type"] for m in msgs][:20]
        cut = hellos[1]
        assert msgs[cut]["labels"] == ["calm", "joy", "grief", "rage"], msgs[cut]
        before = [m["top"] for m in msgs[:cut] if m["type"] == "posteriors"]
        after = [m["top"] for m in msgs[cut:] if m["type"] == "posteriors"]
        assert before and after, (len(before), len(after))
        assert set(before) <= old, "new-model posteriors before the new hello: %s" % before[-5:]
        late = [t for t in after if t not in new]
        assert not late, "%d old-model posteriors after the new hello" % len(late)
        slow.close()


async def t_http():
    with tempfile.TemporaryDirectory() as d:
        www = os.path.join(d, "www")
        os.makedirs(os.path.join(www, "js"))
        with open(os.path.join(www, "index.html"), "w") as f:
            f.write("<!doctype html><title>dash</title>")
        with open(os.path.join(www, "kiosk.html"), "w") as f:
            f.write("<!doctype html><title>kiosk</title>")
        with open(os.path.join(www, "js", "app.js"), "w") as f:
            f.write("console.log(1)")
        with open(os.path.join(www, ".secret"), "w") as f:
            f.write("no")
        with open(os.path.join(d, "outside.txt"), "w") as f:
            f.write("outside")
        os.symlink(os.path.join(d, "outside.txt"), os.path.join(www, "link.txt"))
        with Harness("--www", www) as h:
            st, hd, body = http_get(h.http + "/")
            assert st == 200 and b"dash" in body and hd["content-type"].startswith("text/html")
            st, _, body = http_get(h.http + "/kiosk")
            assert st == 200 and b"kiosk" in body
            st, hd, body = http_get(h.http + "/js/app.js")
            assert st == 200 and "javascript" in hd["content-type"] and body == b"console.log(1)"
            for path in ("/missing.html", "/.secret", "/link.txt", "/js/../../outside.txt",
                         "/%2e%2e/outside.txt", "/..%2foutside.txt", "/js/%2e%2e/%2e%2e/outside.txt",
                         "//etc/passwd", "/../../../../etc/passwd"):
                code = raw_http(h.port, "GET %s HTTP/1.1\r\nHost: x\r\n\r\n" % path)
                assert code in (403, 404, 400), (path, code)
            code = raw_http(h.port, "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\n\r\nhi")
            assert code in (405, 400, 403), code
            st, hd, body = http_get(h.http + "/healthz")
            assert st == 200 and hd["content-type"] == "application/json"
            hz = json.loads(body)
            assert hz["state"] == "running" and hz["input"] == 'test:"harness"'
            assert hz["model"].startswith("test@") and hz["uptime_s"] > 0
            st, hd, body = http_get(h.http + "/metrics")
            assert st == 200 and hd["content-type"].startswith("text/plain")
            check_prometheus(body.decode())
            check_head(h, body_len={"/": 34, "/js/app.js": 14, "/kiosk": 35})
    with Harness() as h:  # no web root: 404, protocol still served
        assert http_get(h.http + "/")[0] == 404
        assert http_get(h.http + "/healthz")[0] == 200


def check_prometheus(text):
    """Text exposition format: HELP/TYPE before samples, numeric values, cumulative buckets."""
    types, buckets = {}, []
    for line in text.splitlines():
        if line.startswith("# TYPE "):
            _, _, name, kind = line.split(" ", 3)
            types[name] = kind
            continue
        if line.startswith("#") or not line:
            continue
        m = re.match(r'^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{[^}]*\})? (\S+)$', line)
        assert m, "bad metrics line: %r" % line
        name, labels, value = m.groups()
        float(value)
        base = re.sub(r"_(bucket|sum|count)$", "", name)
        assert name in types or base in types, "sample before TYPE: %s" % name
        if name.endswith("_bucket"):
            buckets.append(float(value))
    assert buckets == sorted(buckets), "histogram buckets not cumulative"
    for need in ("emotiond_hops_total", "emotiond_overruns_total", "emotiond_hop_seconds",
                 "emotiond_subscribers", "emotiond_dropped_messages_total",
                 "emotiond_sidecar_streams"):
        assert need in types, "missing metric " + need


async def t_idle_hangup():
    """Pings after ping_s idle seconds; a peer that never answers is hung up after 2 * ping_s,
    one whose library answers stays."""
    with Harness("--ping-s", 1) as h:
        dead, st, rest = raw_ws_connect(h.port)
        assert "101" in st
        async with websockets.connect(h.url + "/ws") as ws:
            await recv_json(ws)
            t0 = time.monotonic()
            buf = bytearray(rest)

            def watch_dead():  # blocking reads in a thread: the asyncio loop must stay free
                dead.settimeout(0.2)  # to answer the server's pings on `ws`
                while time.monotonic() - t0 < 6:
                    try:
                        chunk = dead.recv(65536)
                    except socket.timeout:
                        continue
                    if not chunk:
                        return True
                    buf.extend(chunk)
                return False
            closed = await asyncio.get_running_loop().run_in_executor(None, watch_dead)
            assert closed, "silent peer not hung up within 6 s (ping_s 1)"
            assert time.monotonic() - t0 > 1.0, "hung up before any ping was due"
            ops = []
            while len(buf) >= 2:  # server frames are unmasked; pings and small texts
                n, hl = buf[1] & 0x7F, 2
                if n == 126:
                    n, hl = struct.unpack(">H", buf[2:4])[0], 4
                elif n == 127:
                    n, hl = struct.unpack(">Q", buf[2:10])[0], 10
                ops.append(buf[0] & 0x0F)
                del buf[:hl + n]
            assert 9 in ops, "no ping frame was sent before the hang-up: %s" % ops[:10]
            # the answering client is still served
            await ws.send('{"type":"ping"}')
            assert (await recv_type(ws, "pong"))["type"] == "pong"
        dead.close()


def t_bind_failure_sync():
    """A port in use: one error line naming address and port; the loop still closes cleanly
    (harness exit 3 = server_new failed and uv_loop_close returned 0)."""
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    s.listen()
    port = s.getsockname()[1]
    r = subprocess.run([T.HARNESS, "--port", str(port)], capture_output=True, text=True,
                       timeout=30)
    s.close()
    assert r.returncode == 3, (r.returncode, r.stderr)
    assert "cannot listen on 127.0.0.1 port %d: Address already in use" % port in r.stderr, \
        r.stderr
    # names are not looked up, and an address of no local interface is refused at once (lws
    # alone would keep retrying the bind and serve nothing)
    for addr, msg in (("localhost", "is not a numeric IPv4 or IPv6 address"),
                      ("192.0.2.1", "Cannot assign requested address")):
        r = subprocess.run([T.HARNESS, "--address", addr], capture_output=True, text=True,
                           timeout=30)
        assert r.returncode == 3 and msg in r.stderr, (addr, r.returncode, r.stderr)


async def t_bind_failure():
    t_bind_failure_sync()


def check_head(h, body_len):
    """HEAD answers with GET's status and headers (content-length of the body GET would send)
    and no body: the next response on the same connection follows the head directly."""
    paths = list(body_len) + ["/healthz", "/metrics", "/missing.html"]
    for path in paths:
        st, hd, body = http_get(h.http + path)
        with socket.create_connection(("127.0.0.1", h.port), timeout=5) as s:
            s.sendall(("HEAD %s HTTP/1.1\r\nHost: x\r\n\r\n" % path).encode())
            head, rest = read_head(s)
            assert head, "HEAD %s: no answer" % path
            s.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
            while len(rest) < 12:
                chunk = s.recv(4096)
                assert chunk, "HEAD %s: no answer to the next request" % path
                rest += chunk
        lines = head.decode().split("\r\n")
        code = int(lines[0].split()[1])
        hh = {k.strip().lower(): v.strip() for k, v in (l.split(":", 1) for l in lines[1:])}
        assert code == st, (path, code, st)
        assert rest.startswith(b"HTTP/1.1 200"), "HEAD %s sent a body: %r" % (path, rest[:60])
        assert hh["content-type"] == hd["content-type"], (path, hh, hd)
        assert int(hh["content-length"]) > 0, (path, hh)
        if path in body_len:
            assert int(hh["content-length"]) == len(body) == body_len[path], (path, hh, len(body))
        if path == "/missing.html":
            assert int(hh["content-length"]) == len(body), (path, hh, body)
    # other methods: 405 naming the allowed ones
    with socket.create_connection(("127.0.0.1", h.port), timeout=5) as s:
        s.sendall(b"DELETE / HTTP/1.1\r\nHost: x\r\n\r\n")
        head, _ = read_head(s)
    assert head.startswith(b"HTTP/1.1 405") and b"allow: get, head" in head.lower(), head


TESTS = [t_shutdown_close_1001, t_shutdown_silent_peer, t_shutdown_idle, t_hello_changes,
         t_hello_order, t_http, t_bind_failure, t_idle_hangup]

if __name__ == "__main__":
    sys.exit(T.run(TESTS))

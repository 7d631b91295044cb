#!/usr/bin/python3
"""The server inside the real daemon: emotiond analysing a file, a subscriber and a sidecar
connected, SIGTERM. The daemon must exit 0 and both clients must see close code 1001 (not 1006),
and HEAD /healthz must answer without a body.

Usage: test_server_daemon.py EMOTIOND MODEL"""
import asyncio
import json
import math
import os
import signal
import socket
import struct
import subprocess
import sys
import tempfile
import time
import urllib.request
import wave

import websockets


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def write_wav(path, seconds=3.0, rate=16000):
    with wave.open(path, "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(rate)
        n = int(seconds * rate)
        w.writeframes(struct.pack("<%dh" % n, *(int(8000 * math.sin(i * 0.05)) for i in range(n))))


def wait_up(port, proc, timeout=20.0):
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        assert proc.poll() is None, "emotiond exited %s:\n%s" % (proc.returncode,
                                                                 proc.stderr.read().decode())
        try:
            with urllib.request.urlopen("http://127.0.0.1:%d/healthz" % port, timeout=1) as r:
                if r.status == 200:
                    return
        except OSError:
            time.sleep(0.1)
    raise AssertionError("emotiond did not answer /healthz within %.0f s" % timeout)


def head_healthz(port):
    with socket.create_connection(("127.0.0.1", port), timeout=5) as s:
        s.sendall(b"HEAD /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
        data = b""
        while b"\r\n\r\n" not in data:
            chunk = s.recv(4096)
            assert chunk, "connection closed in the head"
            data += chunk
        s.settimeout(0.3)
        try:
            extra = s.recv(4096)
        except socket.timeout:
            extra = b""
    head, _, rest = data.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 200"), head
    assert b"content-length:" in head.lower(), head
    assert not rest and not extra, "HEAD sent a body: %r" % (rest + extra)[:80]


async def run(emotiond, model, wav):
    port = free_port()
    env = dict(os.environ, ASAN_OPTIONS="detect_leaks=0")  # libraries' own start-up allocations
    proc = subprocess.Popen([emotiond, "--input", wav, "--keep-running", "--model", model,
                             "--listen", "127.0.0.1:%d" % port, "--no-json-lines"],
                            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE, env=env)
    try:
        await asyncio.get_running_loop().run_in_executor(None, wait_up, port, proc)
        head_healthz(port)
        url = "ws://127.0.0.1:%d/ws" % port
        sub = await websockets.connect(url)
        side = await websockets.connect(url)
        assert json.loads(await sub.recv())["type"] == "hello"
        assert json.loads(await side.recv())["type"] == "hello"
        await side.send('{"type":"audio","format":"s16le","rate":16000,"channels":1}')
        await side.send(b"\1\0" * 8000)
        await asyncio.sleep(0.5)
        proc.send_signal(signal.SIGTERM)
        for ws in (sub, side):
            try:
                while True:
                    await asyncio.wait_for(ws.recv(), 10)
            except websockets.ConnectionClosed:
                pass
            assert ws.close_code == 1001, "close code %s %r" % (ws.close_code, ws.close_reason)
        rc = await asyncio.get_running_loop().run_in_executor(None, proc.wait, 20)
        err = proc.stderr.read().decode(errors="replace")
        assert rc == 0, "emotiond exit %s:\n%s" % (rc, err)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def main():
    emotiond, model = sys.argv[1], sys.argv[2]
    with tempfile.TemporaryDirectory() as d:
        wav = os.path.join(d, "tone.wav")
        write_wav(wav)
        asyncio.run(run(emotiond, model, wav))
    print("ok   emotiond: SIGTERM -> exit 0, close 1001 for a subscriber and a sidecar; HEAD")
    return 0


if __name__ == "__main__":
    sys.exit(main())

#!/usr/bin/python3
"""Fan-out benchmark of the server module: N WebSocket subscribers of the harness's 10 Hz
posteriors (plus events and 1 Hz status), for D seconds. Prints the harness's CPU use (share of
one core), its resident memory, messages received and lost per subscriber, and the
publish-to-receive delay (message "wall" stamp to arrival in this process: includes this
client's own scheduling on a shared 2-core machine, so it is an upper bound).

Usage: bench_fanout.py SERVER_HARNESS [N=1000] [SECONDS=10] [HZ=10]
(registered as a meson benchmark: meson test -C BUILD --benchmark --suite server)"""
import asyncio
import base64
import datetime
import json
import os
import statistics
import subprocess
import sys
import time


def proc_cpu_s(pid):
    with open("/proc/%d/stat" % pid) as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def proc_rss_kb(pid):
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


class Sub:
    def __init__(self):
        self.seqs = []
        self.delays = []
        self.count = 0


async def subscriber(port, sub, stop):
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    key = base64.b64encode(os.urandom(16)).decode()
    writer.write(("GET /ws HTTP/1.1\r\nHost: 127.0.0.1:%d\r\nUpgrade: websocket\r\n"
                  "Connection: Upgrade\r\nSec-WebSocket-Key: %s\r\n"
                  "Sec-WebSocket-Version: 13\r\n\r\n" % (port, key)).encode())
    head = await reader.readuntil(b"\r\n\r\n")
    assert b" 101 " in head.split(b"\r\n")[0], head
    while not stop.is_set():
        try:
            h = await asyncio.wait_for(reader.readexactly(2), 0.5)
        except asyncio.TimeoutError:
            continue
        n = h[1] & 0x7F
        if n == 126:
            n = int.from_bytes(await reader.readexactly(2), "big")
        elif n == 127:
            n = int.from_bytes(await reader.readexactly(8), "big")
        payload = await reader.readexactly(n)
        now = time.time()
        sub.count += 1
        if payload.startswith(b'{"type":"posteriors"'):
            m = json.loads(payload)
            sub.seqs.append(m["seq"])
            wall = datetime.datetime.strptime(m["wall"], "%Y-%m-%dT%H:%M:%S.%fZ").replace(
                tzinfo=datetime.timezone.utc).timestamp()
            sub.delays.append((now - wall) * 1000)
    writer.close()


async def main():
    exe = sys.argv[1]
    n = int(sys.argv[2]) if len(sys.argv) > 2 else 1000
    secs = float(sys.argv[3]) if len(sys.argv) > 3 else 10
    hz = float(sys.argv[4]) if len(sys.argv) > 4 else 10
    p = subprocess.Popen([exe, "--post-hz", str(hz), "--max-subscribers", str(n + 10)],
                         stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    port = int(p.stdout.readline().split()[1])
    rss0 = proc_rss_kb(p.pid)
    stop = asyncio.Event()
    subs = [Sub() for _ in range(n)]
    tasks = []
    for i in range(0, n, 50):  # connect in batches: the listen backlog is finite
        tasks += [asyncio.create_task(subscriber(port, s, stop)) for s in subs[i:i + 50]]
        await asyncio.sleep(0.05)
    await asyncio.sleep(2.0)  # settle
    for s in subs:
        s.seqs.clear()
        s.delays.clear()
    c0, t0 = proc_cpu_s(p.pid), time.monotonic()
    await asyncio.sleep(secs)
    c1, t1 = proc_cpu_s(p.pid), time.monotonic()
    rss1 = proc_rss_kb(p.pid)
    stop.set()
    await asyncio.gather(*tasks, return_exceptions=True)
    p.terminate()
    p.communicate(timeout=30)

    expected = hz * (t1 - t0)
    got = [len(s.seqs) for s in subs]
    lost = sum((s.seqs[-1] - s.seqs[0] + 1 - len(s.seqs)) for s in subs if s.seqs)
    delays = sorted(d for s in subs for d in s.delays)
    cpu = (c1 - c0) / (t1 - t0) * 100
    print("subscribers %d, %.0f Hz posteriors, %.1f s" % (n, hz, t1 - t0))
    print("harness CPU: %.1f %% of one core (%.2f ms per publish for all subscribers)"
          % (cpu, (c1 - c0) * 1000 / max(1, expected)))
    print("harness RSS: %.1f MB idle before clients, %.1f MB with them" % (rss0 / 1024,
                                                                          rss1 / 1024))
    print("posteriors per subscriber: median %d, min %d (expected ~%.0f); seq gaps %d"
          % (statistics.median(got), min(got), expected, lost))
    if delays:
        print("publish-to-receive: median %.1f ms, p99 %.1f ms (includes this Python client)"
              % (delays[len(delays) // 2], delays[int(len(delays) * 0.99)]))
    return 0 if lost == 0 and min(got) > 0 else 1


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))

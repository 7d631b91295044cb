#!/usr/bin/python3
"""emotiond daemon benchmark (not a test): runs the real daemon on a private PulseAudio null sink
(the harness of tests/integration) and prints

  1. capture-to-subscriber latency, median and p99, as the daemon measures it from PortAudio's
     input timestamps to the publish (status messages / the /metrics histogram), plus the
     client-side delivery delay (receive time - the message's wall time) and an end-to-end
     figure from paplay start to the first speech:true (includes PulseAudio's buffering);
  2. CPU of the daemon (share of one core, from /proc/PID/stat utime+stime) while streaming
     speech with one subscriber at 10 Hz, over --cpu-seconds;
  3. memory: VmRSS and VmHWM from /proc/PID/status;
  4. subscribers at 10 Hz: ramps 100, 250, 500, 1000 connections (from --procs client processes)
     and checks that every connection got every publish (contiguous seq, count = hops/10) and
     that the daemon counted no drops.

Loopback only; every loop is bounded. Usage:
  /usr/bin/python3 tools/bench/daemon-bench.py [--build build] [--model FILE] [--quick]
"""
import argparse
import asyncio
import calendar
import json
import multiprocessing
import os
import statistics
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, '..', '..', 'tests', 'integration'))
import harness as h  # noqa: E402
import wsclient as wc  # noqa: E402


def proc_cpu_s(pid):
    with open('/proc/%d/stat' % pid) as f:
        fields = f.read().rsplit(')', 1)[1].split()
    tck = os.sysconf('SC_CLK_TCK')
    return (int(fields[11]) + int(fields[12])) / tck   # utime + stime


def proc_mem_kb(pid):
    out = {}
    with open('/proc/%d/status' % pid) as f:
        for line in f:
            if line.startswith(('VmRSS:', 'VmHWM:', 'RssAnon:', 'RssFile:')):
                k, v = line.split(':')
                out[k] = int(v.split()[0])
    return out


def pct(values, q):
    if not values:
        return float('nan')
    s = sorted(values)
    return s[min(len(s) - 1, int(round(q * (len(s) - 1))))]


def hist_quantiles(before, after, name):
    """Quantiles of a Prometheus histogram between two scrapes (linear within buckets)."""
    def buckets(m):
        return {float(lab['le']): v for lab, v in m.get(name, []) if 'le' in lab}
    b0, b1 = buckets(before), buckets(after)
    les = sorted(b1)
    counts = [b1[le] - b0.get(le, 0) for le in les]
    total = counts[-1] if counts else 0
    if total <= 0:
        return None
    out = {}
    for q in (0.5, 0.99):
        target = q * total
        prev_le, prev_c = 0.0, 0.0
        for le, c in zip(les, counts):
            if c >= target:
                if le == float('inf'):
                    out[q] = prev_le
                else:
                    frac = (target - prev_c) / max(c - prev_c, 1e-9)
                    out[q] = prev_le + frac * (le - prev_le)
                break
            prev_le, prev_c = le, c
    return out, total


# ------------------------------------------------------------------ 1 + 2 + 3

async def stream_phase(dm, pa, speech, seconds, what):
    """One subscriber while speech plays in a loop; returns the collector and CPU figures."""
    ws = await wc.ws_connect(dm.ws)
    hello = await wc.hello(ws)
    col = wc.Collector(ws)
    m0 = dm.metrics()
    cpu0, t0 = proc_cpu_s(dm.proc.pid), time.monotonic()
    e2e = []
    deadline = t0 + seconds
    while time.monotonic() < deadline:
        start = len(col.msgs)
        # wait for the gate to close, then time one play from paplay start to speech:true
        await col.wait_for(lambda m: m.get('type') == 'posteriors' and not m['speech'], 10, start)
        start = len(col.msgs)
        t_play = time.monotonic()
        p = pa.play(speech, wait=False)
        m = await col.wait_for(lambda m: m.get('type') == 'posteriors' and m['speech'], 10, start)
        e2e.append(next(t for t, x in col.msgs[start:] if x is m) - t_play)
        await h.wait_process(p, 60)
    cpu1, t1 = proc_cpu_s(dm.proc.pid), time.monotonic()
    m1 = dm.metrics()
    await col.stop()
    await ws.close()
    return dict(hello=hello, col=col, m0=m0, m1=m1, cpu=(cpu1 - cpu0) / (t1 - t0),
                seconds=t1 - t0, e2e=e2e, what=what)


def latency_report(r):
    col = r['col']
    post = [(t, m) for t, m in col.msgs if m.get('type') == 'posteriors']
    # delivery: receive time against the daemon's wall stamp (same clock, ms resolution)
    wall0 = time.time() - time.monotonic()
    deliver = []
    for t, m in post:
        w = m['wall']
        unix = calendar.timegm(time.strptime(w[:19], '%Y-%m-%dT%H:%M:%S')) + int(w[20:23]) / 1e3
        deliver.append((t + wall0 - unix) * 1000)
    # jitter of delivery against the stream clock: receive time - stream time, relative to its
    # minimum over the run (0 = the best case seen); a loop stall or buffering shows up here
    offs = [t - m['t'] for t, m in post]
    best = min(offs) if offs else 0
    rel = [1000 * (o - best) for o in offs]
    status = [m for _, m in col.msgs if m.get('type') == 'status']
    out = {'delivery_ms_p50': pct(deliver, 0.5), 'delivery_ms_p99': pct(deliver, 0.99),
           'e2e_ms_median': 1000 * statistics.median(r['e2e']) if r['e2e'] else None,
           'e2e_plays': len(r['e2e']),
           'recv_minus_t_ms_p50': pct(rel, 0.5), 'recv_minus_t_ms_p99': pct(rel, 0.99),
           'recv_minus_t_ms_max': max(rel) if rel else None}
    if status:
        # the daemon's own figures (PortAudio input timestamp -> publish; per-hop processing)
        out['status_lat_ms'] = status[-1].get('lat_ms')
        out['status_proc_ms'] = status[-1].get('proc_ms')
        out['status_last'] = status[-1]
    hist = [n for n in r['m1'] if n.endswith('_bucket')]
    for n in hist:
        q = hist_quantiles(r['m0'], r['m1'], n)
        if q:
            (qs, total) = q
            out[n] = {'p50': qs.get(0.5), 'p99': qs.get(0.99), 'count': total}
    return out


# ------------------------------------------------------------------ 4: subscriber ramp

def client_proc(port, n, seconds, q):
    """One client process: n WebSocket connections on bare non-blocking sockets (a selector, no
    per-message JSON parsing: Python's websockets costs ~10x more per message and would measure
    the client, not the daemon). Records every posteriors seq for `seconds`."""
    import base64
    import selectors
    import socket
    try:
        sel = selectors.DefaultSelector()
        socks = []
        for i in range(n):
            s = socket.create_connection(('127.0.0.1', port), timeout=20)
            key = base64.b64encode(os.urandom(16)).decode()
            s.sendall(('GET /ws HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\n'
                       'Connection: Upgrade\r\nSec-WebSocket-Key: %s\r\n'
                       'Sec-WebSocket-Version: 13\r\n\r\n' % key).encode())
            head = b''
            while b'\r\n\r\n' not in head:
                c = s.recv(4096)
                if not c:
                    raise RuntimeError('connection %d closed during the handshake' % i)
                head += c
            if not head.startswith(b'HTTP/1.1 101'):
                raise RuntimeError('connection %d refused: %r' % (i, head[:80]))
            s.setblocking(False)
            socks.append(s)
            sel.register(s, selectors.EVENT_READ, [i, head.split(b'\r\n\r\n', 1)[1]])
        seqs = [[] for _ in socks]
        lag = []
        t_end = time.monotonic() + seconds
        while time.monotonic() < t_end:
            for key, _ in sel.select(timeout=0.2):
                i, buf = key.data
                try:
                    chunk = key.fileobj.recv(1 << 16)
                except BlockingIOError:
                    continue
                if not chunk:
                    raise RuntimeError('connection %d closed by the daemon' % i)
                buf += chunk
                pos = 0
                while len(buf) - pos >= 2:
                    ln, j = buf[pos + 1] & 0x7f, pos + 2
                    if ln == 126:
                        if len(buf) - pos < 4:
                            break
                        ln, j = int.from_bytes(buf[pos + 2:pos + 4], 'big'), pos + 4
                    elif ln == 127:
                        if len(buf) - pos < 10:
                            break
                        ln, j = int.from_bytes(buf[pos + 2:pos + 10], 'big'), pos + 10
                    if len(buf) < j + ln:
                        break
                    if buf.startswith(b'{"type":"posteriors"', j):
                        k = buf.index(b'"seq":', j) + 6
                        seqs[i].append(int(buf[k:buf.index(b',', k)]))
                        if i % 20 == 0:
                            w = buf.index(b'"wall":"', j) + 8
                            lag.append((time.time(), buf[w:w + 24].decode()))
                    pos = j + ln
                key.data[1] = buf[pos:]
        for s in socks:
            s.close()
        q.put(('ok', (seqs, lag)))
    except Exception as e:  # noqa: B902 - the parent reports it
        q.put(('error', repr(e)))


def ramp_step(dm, n, procs, seconds):
    hops_name = next(k for k in dm.metrics() if 'hops' in k)
    drops_name = next((k for k in dm.metrics() if 'drop' in k), None)
    m0 = dm.metrics()
    cpu0, t0 = proc_cpu_s(dm.proc.pid), time.monotonic()
    q = multiprocessing.Queue()
    share = [n // procs + (1 if i < n % procs else 0) for i in range(procs)]
    ps = [multiprocessing.Process(target=client_proc, args=(dm.port, k, seconds, q))
          for k in share]
    for p in ps:
        p.start()
    results = [q.get(timeout=seconds + 120) for _ in ps]
    for p in ps:
        p.join(10)
    m1 = dm.metrics()
    daemon_cpu = 100 * (proc_cpu_s(dm.proc.pid) - cpu0) / (time.monotonic() - t0)
    errors = [r[1] for r in results if r[0] != 'ok']
    if errors:
        return {'n': n, 'error': errors[0]}
    allseqs = [s for r in results for s in r[1][0]]
    lags = []
    for r in results:
        for now, w in r[1][1]:
            unix = calendar.timegm(time.strptime(w[:19], '%Y-%m-%dT%H:%M:%S')) + int(w[20:23]) / 1e3
            lags.append((now - unix) * 1000)
    missed = 0
    got = 0
    for s in allseqs:
        if s:
            missed += (s[-1] - s[0] + 1) - len(s)
            got += len(s)
    # compare with the daemon: publishes in the common window (all connections open)
    lo = max(s[0] for s in allseqs if s)
    hi = min(s[-1] for s in allseqs if s)
    hops = h.metric(m1, hops_name) - h.metric(m0, hops_name)
    drops = (h.metric(m1, drops_name) - h.metric(m0, drops_name)) if drops_name else None
    return {'n': n, 'connections_with_data': sum(1 for s in allseqs if s), 'messages': got,
            'missed_in_seq': missed, 'common_window_publishes': hi - lo + 1,
            'daemon_hops': hops, 'daemon_drops': drops, 'daemon_cpu_pct': daemon_cpu,
            'delivery_ms_p50': pct(lags, 0.5), 'delivery_ms_p99': pct(lags, 0.99),
            'mem': proc_mem_kb(dm.proc.pid)}


# ------------------------------------------------------------------ capture-only probe

PROBE_C = r"""
/* PortAudio capture that does nothing else: the floor of the microphone path's CPU and latency. */
#include <portaudio.h>
#include <stdio.h>
#include <stdlib.h>
static double last, maxgap, lat_sum, lat_max;
static long cnt;
static int cb(const void *in, void *out, unsigned long n, const PaStreamCallbackTimeInfo *ti,
              PaStreamCallbackFlags fl, void *u)
{
    (void)in; (void)out; (void)n; (void)fl; (void)u;
    double now = ti->currentTime, lat = now - ti->inputBufferAdcTime;
    if (last > 0 && now - last > maxgap) maxgap = now - last;
    last = now;
    lat_sum += lat; cnt++;
    if (lat > lat_max) lat_max = lat;
    return paContinue;
}
int main(int argc, char **argv)
{
    if (argc < 4) return 2;
    PaStream *s;
    if (Pa_Initialize()) return 1;
    int dev = -1;
    for (int i = 0; i < Pa_GetDeviceCount(); i++)
        if (!strcmp(Pa_GetDeviceInfo(i)->name, argv[1])) dev = i;
    if (dev < 0) { fprintf(stderr, "no device %s\n", argv[1]); return 1; }
    const PaDeviceInfo *d = Pa_GetDeviceInfo(dev);
    PaStreamParameters p = { dev, d->maxInputChannels < 2 ? d->maxInputChannels : 2, paFloat32,
                             d->defaultLowInputLatency, NULL };
    if (Pa_OpenStream(&s, &p, NULL, d->defaultSampleRate, atoi(argv[2]), 0, cb, NULL)) return 1;
    Pa_StartStream(s);
    Pa_Sleep(atoi(argv[3]) * 1000);
    Pa_StopStream(s);
    printf("{\"callbacks\": %ld, \"max_gap_ms\": %.1f, \"adc_to_callback_ms_mean\": %.1f, "
           "\"adc_to_callback_ms_max\": %.1f}\n", cnt, 1e3 * maxgap, 1e3 * lat_sum / cnt, 1e3 * lat_max);
    Pa_CloseStream(s);
    Pa_Terminate();
    return 0;
}
"""


def probe(d, pa, seconds):
    """Builds the capture-only probe and runs it for 2 s and for 2+seconds s: CPU of the steady
    state is the difference (start-up, i.e. PortAudio's device scan, cancels out)."""
    src, exe = os.path.join(d, 'probe.c'), os.path.join(d, 'probe')
    with open(src, 'w') as f:
        f.write(PROBE_C.replace('#include <stdlib.h>', '#include <stdlib.h>\n#include <string.h>'))
    flags = h.run(['pkg-config', '--cflags', '--libs', 'portaudio-2.0'], timeout=10).stdout.split()
    r = h.run(['cc', '-O2', src, '-o', exe] + flags, timeout=60)
    h.check(r.returncode == 0, 'probe does not build: %s' % r.stderr)
    out = {}
    for secs in (2, 2 + int(seconds)):
        p = h.spawn(['/usr/bin/time', '-f', '%U %S', exe, 'pulse', '0', str(secs)], env=pa.env(),
                    stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        o, e = p.communicate(timeout=secs + 30)
        user, sys_ = map(float, e.decode().strip().splitlines()[-1].split())
        out[secs] = (user + sys_, json.loads(o))
    (c0, _), (c1, stats) = out[2], out[2 + int(seconds)]
    stats['cpu_pct_one_core_steady'] = 100 * (c1 - c0) / int(seconds)
    return stats


# ------------------------------------------------------------------ main

async def bench(args):
    with h.tempdir(prefix='emotiond-bench-') as d, h.PulseAudio(d) as pa:
        speech = h.espeak(os.path.join(d, 'speech.wav'), h.SPEECH_TEXT)
        dargs = ['--device', 'pulse', '--max-subscribers', str(max(args.ramp) + 50)]
        if args.model:
            dargs += ['--model', args.model]
        report = {'command': ' '.join(sys.argv)}
        if args.probe_seconds:
            # alone on the source, as the daemon will be
            report['capture_only_probe'] = probe(d, pa, args.probe_seconds)
            print(json.dumps(report['capture_only_probe']), flush=True)
        with h.Daemon(d, dargs, env=pa.env()) as dm:
            await asyncio.sleep(2)
            report['daemon_argv'] = ' '.join(dm.argv()[1:])
            mem0 = proc_mem_kb(dm.proc.pid)
            r = await stream_phase(dm, pa, speech, args.cpu_seconds, 'stream')
            report['model'] = r['hello']['model']
            report['input'] = r['hello']['input']
            report['cpu_pct_one_core'] = 100 * r['cpu']
            report['cpu_window_s'] = r['seconds']
            report['latency'] = latency_report(r)
            report['mem_start_kb'] = mem0
            report['mem_streaming_kb'] = proc_mem_kb(dm.proc.pid)
            print(json.dumps({k: report[k] for k in ('cpu_pct_one_core', 'mem_streaming_kb')}),
                  flush=True)
            ramp = []
            for n in args.ramp:
                step = ramp_step(dm, n, args.procs, args.ramp_seconds)
                print(json.dumps(step), flush=True)
                ramp.append(step)
                if 'error' in step:
                    break
            report['ramp'] = ramp
            report['mem_end_kb'] = proc_mem_kb(dm.proc.pid)
        # the same processing without PortAudio/ALSA/PulseAudio: a file at real-time pace
        # (16 kHz mono), to tell the capture path's CPU from the pipeline's
        long = os.path.join(d, 'long.wav')
        h.sox(speech, '-r', 16000, long, 'pad', 0, 1, 'repeat', int(args.cpu_seconds / 4) + 2)
        fargs = ['--input', long] + (['--model', args.model] if args.model else [])
        with h.Daemon(d, fargs, name='emotiond-file') as fm:
            ws = await wc.ws_connect(fm.ws)
            await wc.hello(ws)
            col = wc.Collector(ws)
            await asyncio.sleep(2)
            c0, t0 = proc_cpu_s(fm.proc.pid), time.monotonic()
            await asyncio.sleep(args.cpu_seconds / 2)
            c1, t1 = proc_cpu_s(fm.proc.pid), time.monotonic()
            report['cpu_pct_one_core_file_input'] = 100 * (c1 - c0) / (t1 - t0)
            report['mem_file_input_kb'] = proc_mem_kb(fm.proc.pid)
            await col.stop()
            await ws.close()
    return report


def main():
    ap = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    ap.add_argument('--build', help='build dir (default: $EMOTIOND_BUILD or ./build)')
    ap.add_argument('--model', help='model file (default: the daemon\'s default model)')
    ap.add_argument('--cpu-seconds', type=float, default=60)
    ap.add_argument('--ramp', default='100,250,500,1000')
    ap.add_argument('--ramp-seconds', type=float, default=10)
    ap.add_argument('--procs', type=int, default=2, help='client processes for the ramp')
    ap.add_argument('--probe-seconds', type=float, default=30,
                    help='steady-state run of the capture-only PortAudio probe (0 = skip)')
    ap.add_argument('--quick', action='store_true', help='short run (10 s CPU, ramp 100,250)')
    ap.add_argument('--json', help='write the full report here')
    args = ap.parse_args()
    if args.build:
        h.BUILD = os.path.abspath(args.build)
    if args.quick:
        args.cpu_seconds = 10
        args.probe_seconds = 5
        args.ramp = '100,250'
        args.ramp_seconds = 5
    args.ramp = [int(x) for x in args.ramp.split(',')]
    report = asyncio.run(bench(args))
    text = json.dumps(report, indent=1, default=str)
    print(text)
    if args.json:
        with open(args.json, 'w') as f:
            f.write(text)


if __name__ == '__main__':
    main()

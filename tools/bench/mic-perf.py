#!/usr/bin/python3
"""Microphone cost of emotiond, several binaries/settings side by side (not a test).

Each variant runs the real daemon on a private PulseAudio null sink's monitor (`--device pulse`,
the harness of tests/integration) while espeak-ng speech plays into the sink in a loop and one
WebSocket subscriber reads at 10 Hz. After a warm-up, over --seconds it measures:
  CPU (share of one core, /proc/PID/stat utime+stime; also per thread: the loop, PortAudio's
  capture thread, libpulse's), context switches per second of all the
  daemon's threads (/proc/PID/task/*/status, voluntary + nonvoluntary), VmRSS/RssAnon/RssFile at
  the end, and the capture-to-publish latency p50/p99 (/metrics emotiond_latency_seconds between
  two scrapes). Variants are interleaved per repetition (the machine is shared); medians printed.

Variant syntax: LABEL=BINARY[,ARG...] e.g. before=/tmp/emotiond-before  after=build/daemon/emotiond
  mic16k=build/daemon/emotiond,--mic-rate,16000   (an argument @NAME=VALUE sets an environment variable)
Usage: /usr/bin/python3 tools/bench/mic-perf.py [--seconds 40] [--reps 3] VARIANT...
"""
import argparse
import asyncio
import glob
import json
import os
import statistics
import sys
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, '..', '..', 'tests', 'integration'))
import harness as h  # noqa: E402
import wsclient as wc  # noqa: E402


def stat_cpu_s(path):
    """(name, utime + stime in seconds) of a /proc/.../stat file."""
    with open(path) as f:
        head, rest = f.read().rsplit(')', 1)
    fields = rest.split()
    return head.split('(', 1)[1], (int(fields[11]) + int(fields[12])) / os.sysconf('SC_CLK_TCK')


def cpu_s(pid):
    return stat_cpu_s('/proc/%d/stat' % pid)[1]


def thread_cpu_s(pid):
    """CPU seconds per thread, labelled by role: 'main' (the loop), else the thread's name and its
    creation order among the others (PortAudio's capture thread and libpulse's are started in the
    same order every run, so labels pair across runs)."""
    out, order = {}, 0
    tids = sorted(int(os.path.basename(t)) for t in glob.glob('/proc/%d/task/*' % pid))
    for tid in tids:
        try:
            name, secs = stat_cpu_s('/proc/%d/task/%d/stat' % (pid, tid))
        except OSError:
            continue
        if tid == pid:
            label = 'main'
        else:
            order += 1
            label = '%s#%d' % (name, order)
        out[label] = secs
    return out


def ctxsw(pid):
    total, per = 0, {}
    for st in glob.glob('/proc/%d/task/*/status' % pid):
        n, name = 0, '?'
        try:
            with open(st) as f:
                for line in f:
                    if line.startswith('Name:'):
                        name = line.split(':', 1)[1].strip()
                    elif line.startswith(('voluntary_ctxt_switches', 'nonvoluntary_ctxt_switches')):
                        n += int(line.split(':')[1])
        except OSError:
            continue
        per[name] = per.get(name, 0) + n
        total += n
    return total, per


def mem_kb(pid):
    out = {}
    with open('/proc/%d/status' % pid) as f:
        for line in f:
            k = line.split(':')[0]
            if k in ('VmRSS', 'RssAnon', 'RssFile', 'VmHWM'):
                out[k] = int(line.split()[1])
    return out


def hist_q(before, after, name, qs=(0.5, 0.99)):
    def buckets(m):
        return {float(lab['le']): v for lab, v in m.get(name, []) if 'le' in lab}
    b0, b1 = buckets(before), buckets(after)
    les = sorted(b1)
    counts = [b1[le] - b0.get(le, 0) for le in les]
    total = counts[-1] if counts else 0
    out = {}
    for q in qs:
        if total <= 0:
            out[q] = float('nan')
            continue
        target, prev_le, prev_c = q * total, 0.0, 0.0
        for le, c in zip(les, counts):
            if c >= target:
                out[q] = prev_le if le == float('inf') else \
                    prev_le + (target - prev_c) / max(c - prev_c, 1e-9) * (le - prev_le)
                break
            prev_le, prev_c = le, c
    return out, total


def player(pa, wav, stop):
    while not stop.is_set():
        p = pa.play(wav, wait=False)
        while p.poll() is None and not stop.is_set():
            time.sleep(0.1)
        if p.poll() is None:
            h.terminate(p, 1)


async def measure(dm, server_pid, seconds, warmup):
    ws = await wc.ws_connect(dm.ws)
    await wc.hello(ws)
    col = wc.Collector(ws)
    await asyncio.sleep(warmup)
    pid = dm.proc.pid
    m0, c0, x0, t0 = dm.metrics(), cpu_s(pid), ctxsw(pid), time.monotonic()
    th0 = thread_cpu_s(pid)
    s0 = cpu_s(server_pid)
    await asyncio.sleep(seconds)
    m1, c1, x1, t1 = dm.metrics(), cpu_s(pid), ctxsw(pid), time.monotonic()
    th1 = thread_cpu_s(pid)
    s1 = cpu_s(server_pid)
    mem = mem_kb(pid)
    await col.stop()
    await ws.close()
    dt = t1 - t0
    q, n = hist_q(m0, m1, 'emotiond_latency_seconds_bucket')
    per = {k: (x1[1].get(k, 0) - v) / dt for k, v in x0[1].items()}
    cpu_threads = {k: 100 * (v - th0[k]) / dt for k, v in th1.items() if k in th0}
    return dict(cpu=100 * (c1 - c0) / dt, cpu_threads=cpu_threads, server_cpu=100 * (s1 - s0) / dt, cs=(x1[0] - x0[0]) / dt, cs_threads=per,
                lat50=1000 * q[0.5], lat99=1000 * q[0.99], lat_n=n,
                rss=mem['VmRSS'] / 1024, anon=mem['RssAnon'] / 1024, file=mem['RssFile'] / 1024,
                hwm=mem['VmHWM'] / 1024)


def run_variant(work, pa, spec, seconds, warmup, speech):
    label, rest = spec.split('=', 1)
    parts = rest.split(',')
    binary = parts[0]
    extra = [p for p in parts[1:] if not p.startswith('@')]
    env = pa.env()
    env.update(p[1:].split('=', 1) for p in parts[1:] if p.startswith('@'))
    dm = h.Daemon(work, ['--device', 'pulse'] + extra, env=env, name='emotiond-' + label)
    dm.bin = binary
    with dm:
        dm.wait_streaming(timeout=30)
        stop = threading.Event()
        th = threading.Thread(target=player, args=(pa, speech, stop), daemon=True)
        th.start()
        try:
            r = asyncio.run(measure(dm, pa.proc.pid, seconds, warmup))
        finally:
            stop.set()
            th.join(5)
        log = dm.log_text()
    r['label'] = label
    r['opened'] = ' | '.join(ln for ln in log.splitlines() if 'capturing from' in ln or 'PortAudio' in ln
                           or ln.startswith(('<3>', '<4>')))
    return r


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument('--seconds', type=float, default=40)
    ap.add_argument('--warmup', type=float, default=5)
    ap.add_argument('--reps', type=int, default=3)
    ap.add_argument('--json')
    ap.add_argument('variants', nargs='+')
    a = ap.parse_args()
    results = []
    with h.tempdir('emotiond-micperf-') as work:
        speech = os.path.join(work, 'speech.wav')
        h.espeak(speech, 'The quick brown fox jumps over the lazy dog. I am really very angry '
                 'about this, and now I am happy again, thank you so much for asking.')
        with h.PulseAudio(work) as pa:
            for rep in range(a.reps):
                for spec in a.variants:
                    r = run_variant(work, pa, spec, a.seconds, a.warmup, speech)
                    r['rep'] = rep
                    results.append(r)
                    print('rep %d %-10s cpu %5.2f %% (pulseaudio %4.2f %%)  cs %6.0f/s  lat p50 %5.1f p99 %6.1f ms (n %d)  '
                          'rss %5.1f = anon %4.1f + file %4.1f MB' % (
                              rep, r['label'], r['cpu'], r['server_cpu'], r['cs'], r['lat50'], r['lat99'],
                              r['lat_n'], r['rss'], r['anon'], r['file']), flush=True)
    print('\nmedians over %d reps, %.0f s each:' % (a.reps, a.seconds))
    for spec in a.variants:
        label = spec.split('=', 1)[0]
        rs = [r for r in results if r['label'] == label]
        med = {k: statistics.median(r[k] for r in rs)
               for k in ('cpu', 'server_cpu', 'cs', 'lat50', 'lat99', 'rss', 'anon', 'file')}
        threads, cpus = {}, {}
        for r in rs:
            for k, v in r['cpu_threads'].items():
                cpus.setdefault(k, []).append(v)
            for k, v in r['cs_threads'].items():
                threads.setdefault(k, []).append(v)
        print('%-10s cpu %5.2f %% (pulseaudio %4.2f %%)  cs %6.0f/s  lat p50 %5.1f p99 %6.1f ms  '
              'rss %5.1f = %4.1f + %4.1f MB'
              % (label, med['cpu'], med['server_cpu'], med['cs'], med['lat50'], med['lat99'], med['rss'],
                 med['anon'], med['file']))
        print('           threads cs/s: ' + ', '.join('%s %.0f' % (k, statistics.median(v))
                                                    for k, v in sorted(threads.items())))
        print('           threads cpu %: ' + ', '.join('%s %.2f' % (k, statistics.median(v))
                                                   for k, v in sorted(cpus.items())))
        print('           ' + rs[0]['opened'])
    if a.json:
        with open(a.json, 'w') as f:
            json.dump(results, f, indent=1)


if __name__ == '__main__':
    main()

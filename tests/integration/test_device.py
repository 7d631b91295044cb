#!/usr/bin/python3
"""Device loss and absence with the real capture path:
- no device at start (PulseAudio not running): the daemon starts, says it is waiting (log,
  /healthz), serves HTTP and WebSocket, and starts capturing once PulseAudio comes up;
- the device disappears while capturing (PulseAudio killed): subscribers get a status message
  naming the state, /healthz says so, the daemon keeps serving, and it recovers by itself when
  PulseAudio is back; subscribers stay connected and seq stays contiguous."""
import asyncio
import signal
import time

import harness as h
import wsclient as wc

RECOVER_S = 30   # reopen backoff must bring the device back within this


async def wait_health(dm, pred, timeout, what):
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        last = dm.healthz()
        if pred(last):
            return last
        await asyncio.sleep(0.25)
    raise h.Fail('%s: /healthz did not get there in %s s (last %s)' % (what, timeout, last))


def capturing(hz):
    return hz.get('state') == 'running'


async def test():
    val = h.schema()
    model = h.test_model()
    with h.tempdir() as d:
        pa = h.PulseAudio(d)   # not started yet: no device at start
        try:
            with h.Daemon(d, ['--device', 'pulse', '--model', model], env=pa.env()) as dm:
                hz = dm.healthz()
                h.log('no device: /healthz %s' % hz)
                h.check(not capturing(hz), '/healthz says capturing without a device: %s' % hz)
                ws = await wc.ws_connect(dm.ws)
                hello = await wc.hello(ws, val)
                col = wc.Collector(ws, val)
                st = await col.wait_for(lambda m: m['type'] == 'status', timeout=10)
                h.check(st['state'] in ('waiting', 'reopening', 'lost'),
                        'status without a device: %s' % st)
                h.check(hz['state'] == 'waiting', '/healthz state without a device: %s' % hz)
                text = dm.log_text().lower()
                h.check('pulse' in text and ('wait' in text or 'retry' in text),
                        'log does not say it waits for the device: %s' % text[-300:])

                pa.start()
                t0 = time.monotonic()
                await wait_health(dm, capturing, RECOVER_S, 'device appearing')
                n0 = len(col.msgs)
                await col.wait_for(lambda m: m['type'] == 'posteriors', 5, n0)
                h.log('device found %.1f s after PulseAudio started' % (time.monotonic() - t0))
                await asyncio.sleep(2)

                # device disappears
                n_before = len(col.posteriors())
                pa.proc.send_signal(signal.SIGKILL)
                pa.proc.wait(5)
                pa.proc = None
                t_kill = time.monotonic()
                st = await col.wait_for(lambda m: m['type'] == 'status' and m['state'] in
                                        ('lost', 'reopening', 'waiting'), 15, len(col.msgs))
                h.log('after kill: status %s (%.1f s)' % (st, time.monotonic() - t_kill))
                hz = await wait_health(dm, lambda x: not capturing(x), 10, 'device loss')
                h.log('after kill: /healthz %s' % hz)
                h.check(dm.alive(), 'daemon died when the device vanished')
                await asyncio.sleep(2)
                # still serving: ping works
                n = len(col.msgs)
                await ws.send('{"type":"ping","id":"lost"}')
                await col.wait_for(lambda m: m['type'] == 'pong', 3, n)

                pa.start()
                t_back = time.monotonic()
                await wait_health(dm, capturing, RECOVER_S, 'device coming back')
                n = len(col.msgs)
                await col.wait_for(lambda m: m['type'] == 'posteriors', 5, n)
                h.log('recovered %.1f s after PulseAudio restarted' % (time.monotonic() - t_back))
                await asyncio.sleep(2)
                await col.stop()
                h.check(col.closed is None, 'subscriber dropped: %s' % col.closed)
                post = col.posteriors()
                h.check(len(post) > n_before, 'no posteriors after recovery')
                wc.check_contiguous([m['seq'] for m in post])
                ts = [m['t'] for m in post]
                h.check(all(b > a for a, b in zip(ts, ts[1:])),
                        'stream time does not continue across the reopen')
                await ws.close()
                h.log('hello input %s' % hello['input'])
        finally:
            pa.stop()


h.main(test)

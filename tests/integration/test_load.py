#!/usr/bin/python3
"""Fan-out under load (daemon on the PulseAudio null sink):
- 200 concurrent subscribers all get hello and then every posteriors message (contiguous seq, at
  the publish rate);
- a subscriber that never reads (raw socket, tiny receive buffer, subscribed to the heavy frames
  stream at 100 Hz) does not stall the others: they keep contiguous, timely messages, and the
  daemon counts the messages it dropped for it (/metrics and status)."""
import asyncio
import time

import harness as h

N_SUBS = 200
WINDOW = 4.0       # s all 200 collect
STALL_MAX_S = 40   # s we give the stalled subscriber to overflow the daemon's buffers


async def many_subscribers(dm, val):
    async def one(i):
        ws = await h.ws_connect(dm.ws)
        await h.hello(ws, val if i % 50 == 0 else None)
        return ws
    socks = await asyncio.gather(*(one(i) for i in range(N_SUBS)))
    cols = [h.Collector(ws, val if i % 50 == 0 else None) for i, ws in enumerate(socks)]
    await asyncio.sleep(WINDOW)
    t_end = time.monotonic()
    for c in cols:
        await c.stop()
    firsts, lasts = [], []
    for i, c in enumerate(cols):
        post = c.posteriors()
        h.check(len(post) >= WINDOW * 10 * 0.7, 'subscriber %d got %d posteriors in %.0f s'
                % (i, len(post), WINDOW))
        h.check_contiguous([m['seq'] for m in post], 'subscriber %d posteriors' % i)
        firsts.append(post[0]['seq'])
        lasts.append(post[-1]['seq'])
    # all saw the same stream: the common range is long and identical
    lo, hi = max(firsts), min(lasts)
    h.check(hi - lo >= WINDOW * 10 * 0.5, 'subscribers do not overlap in seq (%d..%d)' % (lo, hi))
    ref = {m['seq']: m['probs'] for m in cols[0].posteriors()}
    for c in cols[1:]:
        for m in c.posteriors():
            if lo <= m['seq'] <= hi:
                h.check(m['probs'] == ref[m['seq']], 'subscribers got different messages for '
                        'seq %d' % m['seq'])
    await asyncio.gather(*(ws.close() for ws in socks))
    h.log('%d subscribers: seq %d..%d common, all contiguous (%.1f s)'
          % (N_SUBS, lo, hi, time.monotonic() - t_end))


async def stalled_subscriber(dm, val):
    m0 = dm.metrics()
    drops_name = next((n for n in m0 if 'drop' in n), None)
    h.check(drops_name is not None, '/metrics has no drop counter: %s' % sorted(m0))
    drops0 = h.metric(m0, drops_name)
    stalled = h.RawWS(dm.port)
    stalled.send_text('{"type":"subscribe","streams":["frames"]}')
    stalled.send_text('{"type":"rate","hz":100}')
    ws = await h.ws_connect(dm.ws)
    await h.hello(ws, val)
    await ws.send('{"type":"subscribe","streams":["status"]}')
    col = h.Collector(ws, val)
    t0 = time.monotonic()
    drops = drops0
    try:
        while time.monotonic() - t0 < STALL_MAX_S:
            await asyncio.sleep(1)
            drops = h.metric(dm.metrics(), drops_name)
            if drops > drops0:
                break
        h.check(drops > drops0, 'no drops counted in %s after %d s of a stalled subscriber'
                % (drops_name, STALL_MAX_S))
        h.log('drops %s: %g -> %g after %.1f s' % (drops_name, drops0, drops, time.monotonic() - t0))
        # keep going a little with the stalled one still connected
        await asyncio.sleep(2)
        await col.stop()
    finally:
        stalled.close()
    times = [t for t, m in col.of('posteriors')]
    post = col.posteriors()
    h.check_contiguous([m['seq'] for m in post], 'reading subscriber')
    span = times[-1] - times[0]
    h.check(len(post) >= span * 10 * 0.8, 'reading subscriber got %d posteriors in %.1f s'
            % (len(post), span))
    gaps = [b - a for a, b in zip(times, times[1:])]
    h.check(max(gaps) < 0.5, 'reading subscriber stalled: %.2f s without a message' % max(gaps))
    status = [m for _, m in col.of('status')]
    if status:
        h.log('last status: %s' % status[-1])
        h.check(status[-1]['drops'] > 0, 'status does not count drops: %s' % status[-1])
    await ws.close()


async def test():
    val = h.schema()
    model = h.test_model()
    with h.tempdir() as d, h.PulseAudio(d) as pa, \
            h.Daemon(d, ['--device', 'pulse', '--model', model], env=pa.env()) as dm:
        await many_subscribers(dm, val)
        await stalled_subscriber(dm, val)
        h.check(dm.alive(), 'daemon died')


h.main(test)

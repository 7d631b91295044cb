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
import wsclient as wc

N_SUBS = 200
WINDOW = 4.0       # s all 200 collect
STALL_S = 10       # s the stalled subscriber does not read (its buffers overflow in ~4 s)
DROPS = 'emotiond_dropped_messages_total'


async def many_subscribers(dm, val):
    async def one(i):
        ws = await wc.ws_connect(dm.ws)
        await wc.hello(ws, val if i % 50 == 0 else None)
        return ws
    socks = await asyncio.gather(*(one(i) for i in range(N_SUBS)))
    cols = [wc.Collector(ws, val if i % 50 == 0 else None) for i, ws in enumerate(socks)]
    await asyncio.sleep(WINDOW)
    t_end = time.monotonic()
    for c in cols:
        await c.stop()
    firsts, lasts = [], []
    for i, c in enumerate(cols):
        post = c.posteriors()
        h.check(len(post) >= WINDOW * 10 * 0.7, 'subscriber %d got %d posteriors in %.0f s'
                % (i, len(post), WINDOW))
        wc.check_contiguous([m['seq'] for m in post], 'subscriber %d posteriors' % i)
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
    drops0 = h.metric(m0, DROPS)
    h.check(drops0 is not None, '/metrics has no %s: %s' % (DROPS, sorted(m0)))
    stalled = wc.RawWS(dm.port)
    try:
        stalled.send_text('{"type":"subscribe","streams":["frames"]}')
        stalled.send_text('{"type":"rate","hz":100}')
        ws = await wc.ws_connect(dm.ws)
        await wc.hello(ws, val)
        col = wc.Collector(ws, val)
        live = []
        for _ in range(STALL_S):
            await asyncio.sleep(1)
            live.append(h.metric(dm.metrics(), DROPS) - drops0)
        await col.stop()
        # the one that never read resumes: it finds a hole in its seq, and pong + /metrics
        # count what it lost
        stalled.send_text('{"type":"ping","id":"resumed"}')
        got = stalled.read_messages(lambda m: m.get('type') == 'pong', timeout=10)
    finally:
        stalled.close()
    pong = got[-1]
    seqs = [m['seq'] for m in got if m['type'] == 'posteriors']
    lost = sum(b - a - 1 for a, b in zip(seqs, seqs[1:]) if b != a + 1)
    drops1 = h.metric(dm.metrics(), DROPS)
    h.log('stalled subscriber: %d messages read after resuming, %d posteriors missing in seq, '
          'pong.dropped %d, %s %g -> %g' % (len(got), lost, pong['dropped'], DROPS, drops0, drops1))
    h.log('drops counted while it was stalled, 1 s apart: %s' % live)
    h.check(live[-1] > live[len(live) // 2 - 1] > 0 or live[-1] > live[-2] > 0,
            'drop counter does not grow while the subscriber stays stalled: %s' % live)
    status = [m for _, m in col.of('status')]
    h.check(status and status[-1]['drops'] > 0, 'status messages do not count the drops: %s'
            % (status[-1:] or 'no status'))
    h.check(lost > 0, 'the stalled subscriber lost nothing in %d s: no overflow happened' % STALL_S)
    h.check(pong['dropped'] >= lost, 'pong.dropped %d < posteriors missing %d'
            % (pong['dropped'], lost))
    h.check(drops1 - drops0 >= lost, '/metrics %s grew by %g, the subscriber lost >= %d'
            % (DROPS, drops1 - drops0, lost))

    times = [t for t, m in col.of('posteriors')]
    post = col.posteriors()
    wc.check_contiguous([m['seq'] for m in post], 'reading subscriber')
    span = times[-1] - times[0]
    h.check(len(post) >= span * 10 * 0.8, 'reading subscriber got %d posteriors in %.1f s'
            % (len(post), span))
    gaps = [b - a for a, b in zip(times, times[1:])]
    h.check(max(gaps) < 0.5, 'reading subscriber stalled: %.2f s without a message' % max(gaps))
    await ws.close()


async def test():
    val = h.schema()
    model = h.test_model()
    with h.tempdir() as d, h.PulseAudio(d) as pa, \
            h.Daemon(d, ['--device', 'pulse', '--model', model], env=pa.env()) as dm:
        dm.wait_streaming()
        await many_subscribers(dm, val)
        await stalled_subscriber(dm, val)
        h.check(dm.alive(), 'daemon died')


h.main(test)

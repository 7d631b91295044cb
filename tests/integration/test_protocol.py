#!/usr/bin/python3
"""Bad client input on a live connection (daemon on the PulseAudio null sink): malformed JSON,
an unknown command, a command with a bad field, an out-of-range value, an oversized message and a
binary frame on a non-sidecar connection each get one error message with the documented code;
the connection stays up (ping -> pong with our id), posteriors keep their contiguous sequence,
and valid commands (rate, subscribe frames) take effect with an ack."""
import asyncio
import json
import time

import harness as h
import wsclient as wc


async def expect_error(col, start, code, what):
    m = await col.wait_for(lambda m: m['type'] in ('error', 'ack', 'pong'), timeout=3, start=start)
    h.check(m['type'] == 'error', '%s: expected an error message, got %s' % (what, m))
    h.check(m.get('code') == code, '%s: error code %r, expected %r (%s)'
            % (what, m.get('code'), code, m))
    h.log('%s -> %s' % (what, json.dumps(m)[:160]))
    return m


async def test():
    val = h.schema()
    model = h.test_model()
    with h.tempdir() as d, h.PulseAudio(d) as pa, \
            h.Daemon(d, ['--device', 'pulse', '--model', model], env=pa.env()) as dm:
        dm.wait_streaming()
        ws = await wc.ws_connect(dm.ws)
        hello = await wc.hello(ws, val)
        col = wc.Collector(ws, val)
        await col.wait_for(lambda m: m['type'] == 'posteriors', timeout=5)

        cases = [
            ('{"type": "rate", "hz": ', 'bad_json', 'malformed JSON'),
            ('[1, 2, 3]', 'bad_json', 'JSON that is not an object'),
            ('{"type": "launch_missiles"}', 'unknown_type', 'unknown command'),
            ('{"hz": 5}', 'unknown_type', 'command without a type'),
            ('{"type": "rate", "hz": "fast"}', 'bad_field', 'wrong field type'),
            ('{"type": "rate", "hz": 100000}', 'out_of_range', 'rate out of range'),
            ('{"type": "smoothing", "alpha": 0}', 'out_of_range', 'smoothing out of range'),
            ('{"type": "subscribe", "streams": ["nonsense"]}', None, 'unknown stream'),
            ('{"type": "ping", "pad": "%s"}' % ('x' * 100000), 'too_big', 'oversized message'),
            ('{"type": "ping", "pad": "%s"}' % ('y' * 3000000), 'too_big', '3 MB message'),
        ]
        for text, code, what in cases:
            start = len(col.msgs)
            await ws.send(text)
            if code is None:
                m = await col.wait_for(lambda m: m['type'] in ('error', 'ack'), 3, start)
                h.check(m['type'] == 'error', '%s accepted: %s' % (what, m))
                h.log('%s -> %s' % (what, json.dumps(m)[:160]))
            else:
                await expect_error(col, start, code, what)

        start = len(col.msgs)
        await ws.send(bytes(range(256)) * 4)
        await expect_error(col, start, 'unexpected_binary', 'binary garbage on a subscriber')

        # still up: ping with an id comes back as pong with the same id
        start = len(col.msgs)
        await ws.send('{"type": "ping", "id": "after-garbage"}')
        pong = await col.wait_for(lambda m: m['type'] == 'pong', 3, start)
        h.check(pong.get('id') == 'after-garbage', 'pong does not echo the id: %s' % pong)

        # valid commands take effect: rate 5 Hz, frames subscription
        start = len(col.msgs)
        await ws.send('{"type": "rate", "hz": 5, "id": 1}')
        ack = await col.wait_for(lambda m: m['type'] in ('ack', 'error'), 3, start)
        h.check(ack['type'] == 'ack' and ack.get('id') == 1, 'rate not acked: %s' % ack)
        await ws.send('{"type": "subscribe", "streams": ["frames"], "id": 2}')
        ack = await col.wait_for(lambda m: m['type'] in ('ack', 'error') and m.get('id') == 2, 3, start)
        h.check(ack['type'] == 'ack', 'subscribe not acked: %s' % ack)
        await col.wait_for(lambda m: m['type'] == 'frames', 3, start)
        t1 = time.monotonic()
        await asyncio.sleep(3)
        rated = col.posteriors(t1 + 0.5, time.monotonic())
        h.check(3 * 5 * 0.5 <= len(rated) <= 3 * 5 * 1.3,
                'after rate 5 Hz: %d posteriors in ~2.5 s' % len(rated))

        await col.stop()
        post = col.posteriors()
        wc.check_contiguous([m['seq'] for m in post])
        h.check(col.closed is None, 'connection closed: %s' % col.closed)
        await ws.close()
        h.check(dm.alive(), 'daemon died')
        h.check(len(post) > 12, 'too few posteriors (%d)' % len(post))
        h.log('hello %s' % json.dumps(hello)[:200])


h.main(test)

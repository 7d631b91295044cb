#!/usr/bin/python3
"""Sidecar mode: two WebSocket clients stream different audio at the same time (espeak speech as
s16le 16 kHz mono; another voice plus noise as f32le 22.05 kHz stereo) while a third client
subscribes to the microphone (the PulseAudio null sink). Each sidecar gets a hello for its own
stream and its own posteriors (seq from 0, contiguous), matching `emotion analyze` on its own
audio within 1e-4 and differing from the other's; the mic subscriber's stream goes on unaffected
(contiguous seq, publish rate, stream time in step with its own clock)."""
import asyncio
import os
import time

import harness as h
import wsclient as wc

CHUNK_S = 0.05     # audio per binary message
PACE = 4.0         # times real time: both streams are in flight together for seconds


async def sidecar(dm, val, raw, fmt, rate, channels, dur, label, linger=0.0, both_open=None):
    """linger: seconds as an ordinary subscriber before the audio hello; the broadcast it gets
    meanwhile must stay apart from its own results (that window once made this test flaky).
    both_open: an asyncio.Barrier the sidecars meet at once all are acked; /healthz is read there,
    while every one of them is known to be open whatever the machine's load."""
    ws = await wc.ws_connect(dm.ws)
    await wc.hello(ws, val)                       # the daemon's (mic) hello first
    await asyncio.sleep(linger)
    await ws.send('{"type":"audio","format":"%s","rate":%d,"channels":%d,"id":"%s"}'
                  % (fmt, rate, channels, label))
    col = wc.Collector(ws, val)
    # Until the server handles the audio hello this is an ordinary subscriber: broadcast posteriors
    # of the mic (their own seq) may arrive before the ack, more of them the slower the daemon or
    # this client gets to it (CPU load). The sidecar's own messages are those after its hello.
    ack = await col.wait_for(lambda m: m['type'] in ('ack', 'error'), 5)
    h.check(ack['type'] == 'ack' and ack.get('id') == label, '%s: audio not acked: %s' % (label, ack))
    i_ack = next(i for i, (_, m) in enumerate(col.msgs) if m is ack)
    hello = await col.wait_for(lambda m: m['type'] == 'hello', 5, i_ack + 1)
    h.check(hello['input']['kind'] == 'sidecar' and hello['input']['rate'] == rate and
            hello['input']['channels'] == channels, '%s: sidecar hello: %s' % (label, hello))
    i0 = next(i for i, (_, m) in enumerate(col.msgs) if m is hello) + 1
    h.check(not [m for _, m in col.msgs[i_ack + 1:i0 - 1]],
            '%s: the sidecar hello does not follow the ack' % label)
    if linger >= 0.3:
        h.check([m for _, m in col.msgs[:i_ack] if m['type'] == 'posteriors'],
                '%s: no broadcast posteriors in %.1f s before the audio hello' % (label, linger))
    health = None
    if both_open is not None:
        await both_open.wait()
        health = dm.healthz()
    with open(raw, 'rb') as f:
        data = f.read()
    step = int(CHUNK_S * rate) * channels * (2 if fmt == 's16le' else 4)
    for i in range(0, len(data), step):
        await ws.send(data[i:i + step])
        await asyncio.sleep(CHUNK_S / PACE)
    # results of the last audio: wait until posteriors reach the end of the stream
    await col.wait_for(lambda m: m['type'] == 'posteriors' and m['t'] >= dur - 0.15, 10, i0)
    await asyncio.sleep(0.3)
    await col.stop()
    await ws.close()
    post = [m for _, m in col.msgs[i0:] if m['type'] == 'posteriors']
    h.log('%s: %d broadcast messages before the ack, then %d posteriors of its own'
          % (label, i_ack, len(post)))
    h.check(post and post[0]['seq'] == 0, '%s: first seq is not 0 but %s'
            % (label, post[0]['seq'] if post else None))
    wc.check_contiguous([m['seq'] for m in post], '%s posteriors' % label)
    return post, health


async def sidecar_errors(dm, val):
    """Bad audio hellos are refused with the documented codes and the connection stays usable;
    a second audio hello on a streaming connection is refused; the sidecar limit answers busy."""
    ws = await wc.ws_connect(dm.ws)
    await wc.hello(ws, val)
    col = wc.Collector(ws, val)
    for text, code in (('{"type":"audio","format":"s24le","rate":16000,"channels":1}', 'out_of_range'),
                       ('{"type":"audio","format":"s16le","rate":1000,"channels":1}', 'out_of_range'),
                       ('{"type":"audio","format":"s16le","rate":16000,"channels":0}', 'out_of_range'),
                       ('{"type":"audio","format":"s16le","rate":16000}', 'bad_field')):
        n = len(col.msgs)
        await ws.send(text)
        m = await col.wait_for(lambda m: m['type'] in ('error', 'ack'), 3, n)
        h.check(m['type'] == 'error', 'bad audio hello accepted: %s -> %s' % (text, m))
        h.check(m['code'] in (code, 'bad_field', 'out_of_range'), '%s -> %s' % (text, m))
    n = len(col.msgs)
    await ws.send('{"type":"audio","format":"s16le","rate":16000,"channels":1}')
    m = await col.wait_for(lambda m: m['type'] in ('error', 'ack'), 3, n)
    h.check(m['type'] == 'ack', 'good audio hello after bad ones refused: %s' % m)
    n = len(col.msgs)
    await ws.send('{"type":"audio","format":"s16le","rate":8000,"channels":1}')
    m = await col.wait_for(lambda m: m['type'] in ('error', 'ack'), 3, n)
    h.check(m['type'] == 'error' and m['code'] == 'bad_state', 'second audio hello: %s' % m)
    # an odd number of bytes is fine: PCM is a byte stream
    await ws.send(bytes(3201))
    await ws.send(bytes(3199))
    await col.wait_for(lambda m: m['type'] == 'posteriors', 5, n)
    # the limit: --max-sidecars 2 with this one open -> the next one is busy
    ws2 = await wc.ws_connect(dm.ws)
    await wc.hello(ws2, val)
    await ws2.send('{"type":"audio","format":"s16le","rate":16000,"channels":1}')
    ok = await wc.ws_connect(dm.ws)
    await wc.hello(ok, val)
    await ok.send('{"type":"audio","format":"s16le","rate":16000,"channels":1}')
    replies = [await wc.recv_until(w, lambda m: m['type'] in ('error', 'ack'), 3) for w in (ws2, ok)]
    codes = sorted(m.get('code', 'ack') for m in replies)
    h.check(codes == ['ack', 'busy'], 'with 1 open and max 2, two more got %s' % codes)
    for w in (ws2, ok):
        await w.close()
    await col.stop()
    await ws.close()
    h.log('sidecar errors: bad hellos refused, second hello bad_state, limit busy')


async def test():
    val = h.schema()
    model = h.test_model()
    with h.tempdir() as d, h.PulseAudio(d) as pa:
        a_wav = h.convert(h.espeak(os.path.join(d, 'a0.wav'), h.SPEECH_TEXT),
                          os.path.join(d, 'a.wav'), rate=16000)
        b_speech = h.espeak(os.path.join(d, 'b0.wav'), 'Why would anybody ever do such a thing? '
                            'I cannot believe it, it is simply outrageous!', voice='en+f3', speed=190)
        b_mono = h.concat(os.path.join(d, 'b1.wav'), b_speech,
                          h.noise(os.path.join(d, 'bn.wav'), 1.0, rate=22050, amp=0.08,
                                  color='pinknoise'), rate=22050)
        b_wav = os.path.join(d, 'b.wav')
        h.sox(b_mono, '-e', 'floating-point', '-b', 32, '-c', 2, b_wav, 'remix', '1', '1v0.5')
        a_raw, b_raw = os.path.join(d, 'a.s16'), os.path.join(d, 'b.f32')
        h.sox(a_wav, '-t', 'raw', '-e', 'signed-integer', '-b', 16, '-L', a_raw)
        h.sox(b_wav, '-t', 'raw', '-e', 'floating-point', '-b', 32, '-L', b_raw)
        a_off, a_an = h.analyze(a_wav, model)
        b_off, b_an = h.analyze(b_wav, model)

        with h.Daemon(d, ['--device', 'pulse', '--model', model, '--max-sidecars', '2'] + h.RAW,
                      env=pa.env()) as dm:
            dm.wait_streaming()
            mic = await wc.ws_connect(dm.ws)
            mic_hello = await wc.hello(mic, val)
            mic_col = wc.Collector(mic, val)
            await asyncio.sleep(1)
            t0 = time.monotonic()
            both_open = asyncio.Barrier(2)
            (a_post, ha), (b_post, hb) = await asyncio.gather(
                sidecar(dm, val, a_raw, 's16le', 16000, 1, a_an['duration'], 'A',
                        both_open=both_open),
                sidecar(dm, val, b_raw, 'f32le', 22050, 2, b_an['duration'], 'B', linger=0.35,
                        both_open=both_open))
            t1 = time.monotonic()
            await sidecar_errors(dm, val)
            await asyncio.sleep(1)
            await mic_col.stop()
            await mic.close()

        h.log('sidecars: A %d posteriors, B %d, in %.1f s; /healthz sidecars %s / %s'
              % (len(a_post), len(b_post), t1 - t0, ha.get('sidecars'), hb.get('sidecars')))
        h.check(ha.get('sidecars') == 2 and hb.get('sidecars') == 2,
                '/healthz did not count 2 sidecars while both were open: %s / %s'
                % (ha.get('sidecars'), hb.get('sidecars')))
        n, worst = h.compare_offline(a_post, a_off, 'sidecar A (s16le 16 kHz)', min_matched=0.9)
        h.log('A matches its own audio offline: %d steps, max diff %.2g' % (n, worst))
        n, worst = h.compare_offline(b_post, b_off, 'sidecar B (f32le 22.05 kHz stereo)',
                                     min_matched=0.9)
        h.log('B matches its own audio offline: %d steps, max diff %.2g' % (n, worst))
        by_t = {round(m['t'] * 1000): m['probs'] for m in b_post}
        diffs = [max(abs(x - y) for x, y in zip(m['probs'], by_t[round(m['t'] * 1000)]))
                 for m in a_post if round(m['t'] * 1000) in by_t and m['t'] > 0.6]
        h.check(diffs and max(diffs) > 1e-3, 'A and B got the same posteriors: not their own')

        # the mic subscriber: its own stream, untouched
        post = mic_col.posteriors()
        h.check(mic_hello['input']['kind'] == 'mic', 'mic hello: %s' % mic_hello['input'])
        h.check(not [m for _, m in mic_col.msgs if m['type'] == 'hello'],
                'mic subscriber got a second hello')
        wc.check_contiguous([m['seq'] for m in post], 'mic posteriors')
        span = mic_col.msgs[-1][0] - mic_col.msgs[0][0]
        h.check(len(post) >= span * 10 * 0.85, 'mic subscriber: %d posteriors in %.1f s'
                % (len(post), span))
        for x, y in zip(post, post[1:]):
            h.check(abs(y['t'] - x['t'] - 0.1) < 0.002, 'mic stream time jumps %.3f -> %.3f'
                    % (x['t'], y['t']))
        times = [t for t, m in mic_col.of('posteriors')]
        gaps = [b - a for a, b in zip(times, times[1:])]
        # A stall, not scheduling: the mic stream publishes every 0.1 s, and a daemon loop held up
        # by the sidecars' audio would keep it waiting for seconds. One client process drives all
        # three streams, and on the 2-core machine with other tests beside it the longest wait
        # seen with nothing wrong was 0.61 s (CI, 2026-12-06), so the bound is 1 s.
        h.check(max(gaps) < 1.0, 'mic subscriber waited %.2f s for a message' % max(gaps))


h.main(test)

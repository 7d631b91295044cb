#!/usr/bin/python3
"""The real daemon with a PulseAudio null sink's monitor as its microphone (PortAudio -> ALSA
pulse plugin): a WebSocket client gets hello, then posteriors that validate against the schema,
with contiguous sequence numbers, at the publish rate, and a speech flag that is false while the
sink is silent and true while espeak-ng speech plays into it."""
import asyncio
import time
import os

import harness as h
import wsclient as wc

PRE_SILENCE = 3.0    # s of nothing playing before the speech
POST_SILENCE = 3.0   # s after
MARGIN = 0.7         # s allowed for capture latency + gate onset/hangover at each edge


def frac(msgs):
    return sum(1 for m in msgs if m['speech']) / max(1, len(msgs))


async def test():
    val = h.schema()
    model = h.test_model()
    with h.tempdir() as d, h.PulseAudio(d) as pa:
        speech = h.espeak(os.path.join(d, 'speech.wav'), h.SPEECH_TEXT)
        length = h.duration(speech)
        with h.Daemon(d, ['--device', 'pulse', '--model', model], env=pa.env()) as dm:
            ws = await wc.ws_connect(dm.ws)
            hello = await wc.hello(ws, val)
            h.check(hello['input']['kind'] == 'mic', 'hello input is not the mic: %s' % hello)
            h.check(hello['protocol'] == 1, 'protocol is not 1')
            col = wc.Collector(ws, val)
            await col.wait_for(lambda m: m['type'] == 'posteriors', timeout=5)
            t0 = time.monotonic()
            await asyncio.sleep(PRE_SILENCE)
            t_play = time.monotonic()
            p = pa.play(speech, wait=False)
            await h.wait_process(p, length + 10)
            t_end = time.monotonic()
            await asyncio.sleep(POST_SILENCE)
            t_stop = time.monotonic()
            await col.stop()
            await ws.close()
            health = dm.healthz()

        post = [m for _, m in col.of('posteriors')]
        h.check(len(post) > 20, 'too few posteriors: %d' % len(post))
        wc.check_contiguous([m['seq'] for m in post])
        labels = hello['labels']
        for m in post:
            h.check(len(m['probs']) == len(labels), 'probs length != labels')
            h.check(abs(sum(m['probs']) - 1) < 1e-3, 'probs do not sum to 1: %s' % m['probs'])
        # publish rate: hello says publish_hz; over the whole window we must see about that many
        span = t_stop - t0
        n = len(col.posteriors(t0, t_stop))
        want = hello['publish_hz'] * span
        h.log('posteriors: %d in %.1f s (want ~%.0f), health %s' % (n, span, want, health))
        h.check(abs(n - want) <= 0.15 * want + 2, 'publish rate off: %d messages in %.1f s at %s Hz'
                % (n, span, hello['publish_hz']))
        quiet_before = col.posteriors(t0 + 0.5, t_play)
        during = col.posteriors(t_play + MARGIN, t_end - MARGIN / 2)
        quiet_after = col.posteriors(t_end + MARGIN + 0.3, t_stop)
        h.log('speech fraction: before %.2f (%d), during %.2f (%d), after %.2f (%d)'
              % (frac(quiet_before), len(quiet_before), frac(during), len(during),
                 frac(quiet_after), len(quiet_after)))
        h.check(len(during) >= 10, 'too few messages during speech')
        h.check(frac(quiet_before) == 0, 'speech:true while the sink was silent (before)')
        h.check(frac(quiet_after) == 0, 'speech:true while the sink was silent (after)')
        h.check(frac(during) >= 0.6, 'speech:true in only %.0f %% of messages while speech played'
                % (100 * frac(during)))
        # stream time advances with the wall clock (the mic is real time)
        dt = post[-1]['t'] - post[0]['t']
        h.check(abs(dt - (post[-1]['seq'] - post[0]['seq']) / hello['publish_hz']) < 0.05 + 0.01 * dt,
                'stream time does not advance at the publish rate')
        h.check(health.get('state') is not None, '/healthz has no state: %s' % health)
        # the capture stream has hop-sized buffers (one callback and one loop wake-up per 10 ms
        # of audio, not every ~2 ms as the pulse plugin does by default), and gets them
        rate = hello['input']['rate']
        log = dm.log_text()
        # PortAudio says 44.1 kHz for ALSA's pulse device, no whole multiple of the model's
        # 16 kHz; the device takes 48 kHz (the sink's own rate), so that is what is opened
        h.check(rate == 48000 and "capturing from 'pulse' at 48000 Hz" in log,
                'capture not at 48 kHz (a whole multiple of the model rate): %s Hz\n%s' % (rate, log))
        h.check('%d-frame buffers' % round(rate / 100) in log,
                'capture not opened with one hop per buffer at %s Hz:\n%s' % (rate, log))
        h.check('PortAudio delivers %d-frame buffers' % round(rate / 100) in log,
                'PortAudio delivers other buffers than one hop:\n%s' % log)


h.main(test)

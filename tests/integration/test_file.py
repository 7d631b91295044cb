#!/usr/bin/python3
"""--input FILE gives the same posteriors as `emotion analyze` on the same file: with the gate
off and no smoothing the daemon publishes the streaming model's posteriors, and every time step of
the offline timeline must be published at the same stream time with probabilities within 1e-4.
Checked --fast on a 22.05 kHz WAV (resampled) and on a 16 kHz FLAC of speech, noise and silence
at 100 Hz publishing (every hop), and at real-time pace on a short file (which must take its
duration and match too, also for a WebSocket subscriber of that run). Also with the noise
suppressor in the model's front end: its frames come one hop late, and both must place them at
the same stream time. And with models that read the voice's pitch (each frame's bands with the
tracker's frame of the same index, beside a plain and a suppressing log-mel)."""
import os
import sys
import time

import harness as h
import wsclient as wc

sys.path.insert(0, os.path.join(h.SRC, 'tools', 'train'))


def run_fast(path, model, val, extra=()):
    r = h.run([h.emotiond_bin(), '--input', path, '--fast', '--json-lines', '--listen', '0',
               '--model', model] + h.RAW + list(extra), timeout=120)
    h.check(r.returncode == 0, 'emotiond --input --fast exited %s: %s' % (r.returncode, r.stderr))
    msgs = h.json_lines(r.stdout, val)
    h.check(msgs and msgs[0]['type'] == 'hello', 'first JSON line is not hello')
    h.check(msgs[0]['input']['kind'] == 'file', 'hello input kind: %s' % msgs[0]['input'])
    h.check(msgs[-1]['type'] == 'status' and msgs[-1]['state'] == 'ended',
            'last JSON line is not status ended: %s' % msgs[-1])
    post = [m for m in msgs if m['type'] == 'posteriors']
    wc.check_contiguous([m['seq'] for m in post])
    h.check(post[0]['seq'] == 0, 'first seq is %d' % post[0]['seq'])
    return post


async def realtime(d, path, model, val):
    dur = h.duration(path)
    dm = h.Daemon(d, ['--input', path, '--json-lines', '--model', model] + h.RAW,
                  name='emotiond-realtime')
    t0 = time.monotonic()
    dm.start(ready=True)
    ws = await wc.ws_connect(dm.ws)
    await wc.hello(ws, val)
    col = wc.Collector(ws, val)
    rc = await h.wait_process(dm.proc, dur + 20)
    elapsed = time.monotonic() - t0
    await col.stop()
    h.check(rc == 0, 'real-time run exited %s: %s' % (rc, dm.log_tail()))
    dm.proc = None
    with open(dm.stdout_path) as f:
        post = [m for m in h.json_lines(f.read(), val) if m['type'] == 'posteriors']
    h.log('real time: %.2f s for a %.2f s file, %d posteriors, %d over WebSocket'
          % (elapsed, dur, len(post), len(col.posteriors())))
    h.check(elapsed >= dur * 0.9, 'real-time pace took %.2f s for %.2f s of audio' % (elapsed, dur))
    h.check(elapsed <= dur + 5, 'real-time pace took %.2f s for %.2f s of audio' % (elapsed, dur))
    wc.check_contiguous([m['seq'] for m in post])
    # the subscriber (connected shortly after start) got the same messages as stdout
    by_seq = {m['seq']: m for m in post}
    ws_post = col.posteriors()
    h.check(len(ws_post) >= len(post) - 15, 'subscriber got %d of %d' % (len(ws_post), len(post)))
    for m in ws_post:
        h.check(by_seq.get(m['seq'], {}).get('probs') == m['probs'],
                'WebSocket and stdout differ at seq %d' % m['seq'])
    return post


async def test():
    val = h.schema()
    model = h.test_model()
    with h.tempdir() as d:
        speech = h.espeak(os.path.join(d, 'speech.wav'), h.SPEECH_TEXT)   # 22050 Hz
        mixed = h.concat(os.path.join(d, 'mixed.flac'),
                         h.silence(os.path.join(d, 's.wav'), 1.0),
                         speech,
                         h.noise(os.path.join(d, 'n.wav'), 1.5, amp=0.1),
                         h.silence(os.path.join(d, 's2.wav'), 0.5), rate=16000)
        short = os.path.join(d, 'short.wav')
        h.sox(speech, short, 'trim', 0, 2.5)

        off, a = h.analyze(speech, model)
        post = run_fast(speech, model, val)
        n, worst = h.compare_offline(post, off, 'speech 22.05 kHz --fast')
        h.log('speech --fast: %d time steps match, max diff %.2g' % (n, worst))

        off, a = h.analyze(mixed, model, hop_out_ms=10)
        post = run_fast(mixed, model, val, ['--publish-hz', '100'])
        n, worst = h.compare_offline(post, off, 'mixed 16 kHz FLAC --fast, every hop')
        h.log('mixed --fast 100 Hz: %d time steps match, max diff %.2g' % (n, worst))
        last = post[-1]['t']
        h.check(abs(last - a['duration']) < 0.02, 'last published t %.3f, file is %.3f s'
                % (last, a['duration']))

        import export
        net, labels, dsp, name = export.emod_to_model(model)
        dn_model = os.path.join(d, 'tiny-denoise.emod')
        export.model_to_emod(net, labels, dict(dsp, denoise_db=-15), name, {}, dn_model)
        off_dn, a_dn = h.analyze(mixed, dn_model, hop_out_ms=10)
        post = run_fast(mixed, dn_model, val, ['--publish-hz', '100'])
        n, worst = h.compare_offline(post, off_dn, 'mixed, suppressor in the front end, every hop')
        h.log('mixed --fast 100 Hz, suppressor: %d time steps match, max diff %.2g' % (n, worst))
        h.check(min(off_dn) == min(off) - 10, 'first analyze t with the suppressor %d ms, '
                'without %d ms: want 10 ms earlier (frames one hop late)' % (min(off_dn), min(off)))

        # Models that read the voice's pitch (a raw tracker, beside a plain and a suppressing
        # log-mel, whose frames come a hop after the tracker's): the daemon pairs each frame's
        # bands with its pitch as analyze does.
        import make_tiny_model
        for denoise in (0, -15):
            pnet = make_tiny_model.random_model(dict(make_tiny_model.TINY, cmvn='none', prosody=2),
                                                labels, 31)
            p_model = os.path.join(d, 'tiny-pitch%d.emod' % -denoise)
            export.model_to_emod(pnet, labels, dict(dsp, denoise_db=denoise), 'pitch', {}, p_model)
            off_p, _ = h.analyze(mixed, p_model, hop_out_ms=10)
            post = run_fast(mixed, p_model, val, ['--publish-hz', '100'])
            n, worst = h.compare_offline(post, off_p, 'mixed, pitch model (denoise %d), every hop' % denoise)
            h.log('mixed --fast 100 Hz, pitch model, denoise %d: %d time steps match, max diff %.2g'
                  % (denoise, n, worst))

        off, a = h.analyze(short, model)
        post = await realtime(d, short, model, val)
        n, worst = h.compare_offline(post, off, 'short file, real time')
        h.log('real time: %d time steps match, max diff %.2g' % (n, worst))


h.main(test)

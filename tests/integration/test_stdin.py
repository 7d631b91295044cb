#!/usr/bin/python3
"""--stdin raw PCM: the JSON lines on stdout validate against the schema (hello with input kind
stdin, contiguous posteriors, status ended at EOF, exit 0) and match `emotion analyze` on the same
samples in a WAV; s16le mono 16 kHz is bit-identical to the WAV, f32le stereo 16 kHz carries
the same samples on both channels (downmixed back to the same signal). A pipe fed slowly in
small pieces (as `arecord |` does) gives the same result as one write."""
import contextlib
import os
import subprocess
import threading
import time

import harness as h
import wsclient as wc


def daemon_stdin(model, val, raw, fmt, rate, channels, slow=False):
    argv = [h.emotiond_bin(), '--stdin', '--format', fmt, '--rate', str(rate),
            '--channels', str(channels), '--listen', '0', '--model', model] + h.RAW
    with open(raw, 'rb') as f:
        data = f.read()
    if not slow:
        r = h.run(argv, input=data, timeout=60)
        rc, out, err = r.returncode, r.stdout, r.stderr
    else:
        p = h.spawn(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, stdin=subprocess.PIPE)
        w, p.stdin = p.stdin, None   # written by a thread while communicate() reads

        def feed():
            step = 3 * 1001  # odd-sized pieces, not aligned to samples, frames or hops
            with contextlib.suppress(BrokenPipeError):
                for i in range(0, len(data), step):
                    w.write(data[i:i + step])
                    w.flush()
                    if i % (step * 20) == 0:
                        time.sleep(0.01)
            w.close()
        t = threading.Thread(target=feed)
        t.start()
        try:
            out, err = p.communicate(timeout=60)
            t.join(10)
        finally:
            h.terminate(p, 1)
        rc, out, err = p.returncode, out.decode(), err.decode(errors='replace')
    h.check(rc == 0, 'emotiond --stdin exited %s: %s' % (rc, err))
    msgs = h.json_lines(out, val)
    h.check(msgs[0]['type'] == 'hello' and msgs[0]['input']['kind'] == 'stdin',
            'first line is not a hello for stdin: %s' % msgs[0])
    h.check(msgs[0]['input']['rate'] == rate and msgs[0]['input']['channels'] == channels,
            'hello input: %s' % msgs[0]['input'])
    h.check(msgs[-1]['type'] == 'status' and msgs[-1]['state'] == 'ended',
            'last line is not status ended: %s' % msgs[-1])
    post = [m for m in msgs if m['type'] == 'posteriors']
    wc.check_contiguous([m['seq'] for m in post])
    return post


def test():
    val = h.schema()
    model = h.test_model()
    with h.tempdir() as d:
        speech = h.espeak(os.path.join(d, 'speech.wav'), h.SPEECH_TEXT)
        wav = h.concat(os.path.join(d, 'in.wav'), speech,
                       h.noise(os.path.join(d, 'n.wav'), 1.0, amp=0.05), rate=16000)
        s16 = os.path.join(d, 'in.s16')
        h.sox(wav, '-t', 'raw', '-e', 'signed-integer', '-b', 16, '-L', s16)
        f32 = os.path.join(d, 'in.f32')
        h.sox(wav, '-t', 'raw', '-e', 'floating-point', '-b', 32, '-L', '-c', 2, f32, 'remix', '1', '1')
        off, _ = h.analyze(wav, model)

        post = daemon_stdin(model, val, s16, 's16le', 16000, 1)
        n, worst = h.compare_offline(post, off, 'stdin s16le')
        h.log('s16le mono: %d time steps match, max diff %.2g' % (n, worst))

        slow = daemon_stdin(model, val, s16, 's16le', 16000, 1, slow=True)
        h.check([m['probs'] for m in slow] == [m['probs'] for m in post],
                'stdin fed in small pieces differs from one write')
        h.check([m['t'] for m in slow] == [m['t'] for m in post], 'times differ (pieces)')

        post = daemon_stdin(model, val, f32, 'f32le', 16000, 2)
        n, worst = h.compare_offline(post, off, 'stdin f32le stereo')
        h.log('f32le stereo: %d time steps match, max diff %.2g' % (n, worst))

        # bad input: a format the daemon does not take is refused with exit 2 naming it
        r = h.run([h.emotiond_bin(), '--stdin', '--format', 's24le', '--listen', '0',
                   '--model', model], input=b'', timeout=10)
        h.check(r.returncode != 0 and '--format' in r.stderr, 'bad --format: %s %r'
                % (r.returncode, r.stderr))


h.main(test)

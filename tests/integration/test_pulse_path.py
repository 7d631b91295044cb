#!/usr/bin/python3
"""The audio path the daemon's microphone tests rely on, without the daemon: a private PulseAudio
with a null sink comes up (as root too), audio played into the sink with paplay arrives at ALSA's
pulse plugin (arecord -D pulse, what PortAudio's "pulse" device uses) from the sink's monitor, and
silence arrives as silence. When this fails, the daemon tests' failures are about the machine."""
import array
import os
import subprocess

import harness as h


def rms(path):
    with open(path, 'rb') as f:
        f.seek(44)  # canonical WAV header written by arecord
        a = array.array('h', f.read())
    if not a:
        return 0.0
    return (sum(x * x for x in a) / len(a)) ** 0.5 / 32768.0


def record(pa, out, seconds):
    h.need_program('arecord')
    return h.spawn(['arecord', '-q', '-D', 'pulse', '-f', 'S16_LE', '-r', '16000', '-c', '1',
                    '-d', str(seconds), out], env=pa.env(),
                   stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)


def test():
    with h.tempdir() as d, h.PulseAudio(d) as pa:
        speech = h.espeak(os.path.join(d, 'speech.wav'), h.SPEECH_TEXT)
        # silence: nothing plays, the monitor must deliver zeros in real time
        quiet = os.path.join(d, 'quiet.wav')
        p = record(pa, quiet, 2)
        _, err = p.communicate(timeout=15)
        h.check(p.returncode == 0, 'arecord -D pulse failed: %s' % err.decode(errors='replace'))
        h.check(os.path.getsize(quiet) > 44 + 2 * 16000, 'arecord returned too little audio')
        h.check(rms(quiet) < 1e-3, 'monitor of an idle null sink is not silent: %g' % rms(quiet))
        # speech: play while recording
        loud = os.path.join(d, 'loud.wav')
        p = record(pa, loud, 3)
        pa.play(speech, wait=False)
        _, err = p.communicate(timeout=15)
        h.check(p.returncode == 0, 'arecord -D pulse failed: %s' % err.decode(errors='replace'))
        h.log('rms silence %.5f, speech %.5f' % (rms(quiet), rms(loud)))
        h.check(rms(loud) > 0.01, 'speech played into the sink did not reach the monitor '
                '(rms %g)' % rms(loud))


h.main(test)

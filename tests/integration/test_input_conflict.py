#!/usr/bin/python3
"""NOT in meson.build (fails against the daemon as of b51810c; see the integration report):
two inputs given at once (--stdin and --input FILE) must be refused with a message naming both,
not resolved silently (the daemon currently reads the file and exits 0)."""
import os

import harness as h


def test():
    model = h.test_model()
    with h.tempdir() as d:
        wav = h.silence(os.path.join(d, 's.wav'), 0.5)
        r = h.run([h.emotiond_bin(), '--stdin', '--input', wav, '--listen', '0', '--model', model],
                  input=b'', timeout=20)
        h.check(r.returncode in (1, 2), '--stdin with --input accepted (exit %s)' % r.returncode)
        h.check('--stdin' in r.stderr and '--input' in r.stderr,
                'the conflict is not named: %r' % r.stderr)


h.main(test)

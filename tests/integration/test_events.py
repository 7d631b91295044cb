#!/usr/bin/python3
"""Events end to end (file input, JSON lines): 3 s silence, espeak speech, 3 s silence, with
thresholds set for the small random test model (its speech posteriors sit near 0.2, uniform is
1/7). Onsets come only after speech has lasted the minimum duration, every onset is followed by
one offset after the speech ends (no flicker), held_s is consistent, every event validates and
precedes the posteriors message whose seq it carries; the speech flag and the "no confident
emotions of silence" rule hold on the same run (conf = 1/K in silence)."""
import os

import harness as h

LEAD = 3.0
MIN_DUR = 0.5


def test():
    val = h.schema()
    model = h.test_model()
    with h.tempdir() as d:
        speech = h.convert(h.espeak(os.path.join(d, 'sp.wav'), h.SPEECH_TEXT),
                           os.path.join(d, 'sp16.wav'))
        sil = h.silence(os.path.join(d, 'sil.wav'), LEAD)
        audio = h.concat(os.path.join(d, 'ev.wav'), sil, speech, sil)
        sp_end = LEAD + h.duration(speech)
        r = h.run([h.emotiond_bin(), '--input', audio, '--fast', '--json-lines', '--listen', '0',
                   '--model', model, '--event-on', '0.16', '--event-off', '0.15',
                   '--event-min-duration', str(MIN_DUR)], timeout=60)
        h.check(r.returncode == 0, 'emotiond exited %s: %s' % (r.returncode, r.stderr))
        msgs = h.json_lines(r.stdout, val)
        hello = msgs[0]
        K = len(hello['labels'])
        events = [m for m in msgs if m['type'] == 'event']
        post = [m for m in msgs if m['type'] == 'posteriors']
        h.log('%d events: %s' % (len(events), [(e['label'], e['state'], e['t'], e['held_s'])
                                               for e in events]))
        h.check(events, 'no events for %.1f s of speech' % (sp_end - LEAD))

        # each event precedes the posteriors message whose seq it carries
        for i, m in enumerate(msgs):
            if m['type'] == 'event':
                nxt = next(x for x in msgs[i + 1:] if x['type'] == 'posteriors')
                h.check(nxt['seq'] == m['seq'], 'event seq %d, next posteriors seq %d'
                        % (m['seq'], nxt['seq']))

        by_label = {}
        for e in events:
            by_label.setdefault(e['label'], []).append(e)
        for label, evs in by_label.items():
            h.check(label in hello['labels'], 'event for unknown label %r' % label)
            states = [e['state'] for e in evs]
            h.check(states == ['onset', 'offset'], '%s: events %s (flicker or missing offset)'
                    % (label, states))
            on, off = evs
            h.check(LEAD + MIN_DUR - 0.05 <= on['t'] <= sp_end, '%s onset at %.2f s, speech is '
                    '%.2f..%.2f s' % (label, on['t'], LEAD, sp_end))
            h.check(abs(on['held_s'] - MIN_DUR) < 0.051, '%s onset held_s %.3f, min duration %.1f'
                    % (label, on['held_s'], MIN_DUR))
            # probabilities carry 4 decimals on the wire: 0.15 may be 0.14996 rounded
            h.check(on['prob'] >= 0.16 - 5e-5, '%s onset prob %.4f below the threshold' % (label, on['prob']))
            h.check(sp_end - 0.2 <= off['t'] <= sp_end + 2, '%s offset at %.2f s, speech ends '
                    '%.2f s' % (label, off['t'], sp_end))
            h.check(off['prob'] <= 0.15 + 5e-5, '%s offset prob %.4f above the threshold' % (label, off['prob']))
            h.check(off['held_s'] >= on['held_s'] + (off['t'] - on['t']) - 0.05,
                    '%s offset held_s %.2f too short' % (label, off['held_s']))

        # the gate and "no confident emotions of silence" on the same run
        lead = [m for m in post if m['t'] < LEAD - 0.1]
        h.check(lead and not any(m['speech'] for m in lead), 'speech:true in the leading silence')
        h.check(all(abs(m['conf'] - 1 / K) < 1e-3 for m in lead),
                'confident posteriors published for silence')
        mid = [m for m in post if LEAD + 0.3 < m['t'] < sp_end - 0.3]
        h.check(sum(m['speech'] for m in mid) >= 0.7 * len(mid),
                'speech:true in only %d of %d messages of speech' % (sum(m['speech'] for m in mid),
                                                                     len(mid)))
        tail = [m for m in post if m['t'] > sp_end + 1.5]
        h.check(tail and not any(m['speech'] for m in tail), 'speech:true in the trailing silence')


h.main(test)

#!/usr/bin/python3
"""heldout_noise.py (protocol 3 on a shipped model's held-out list) end to end on a corpus the test
makes (always runs, no corpora needed): 3 speakers' tone-in-noise WAVs, one speaker's files as the
held-out list, a random tiny network exported to .emod, the C runtime. The noisy copies must be
made for the listed files only, at 10 dB SNR, reproducibly, reused when present; the figures must
come from those copies (a corrupt one is an error naming it); --record must refuse another
model's JSON and add the figures to the right one.

    test_heldout_noise.py EMOTION_BIN
"""

import json
import os
import subprocess
import sys
import tempfile

import numpy as np
import torch
from scipy.io import wavfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import test_train_py as TT  # noqa: E402  (check, fake_items; puts tools/train on the path)
import test_ensemble_protocol as TE  # noqa: E402  (write_corpus)

import augment as A  # noqa: E402
import data as D  # noqa: E402
import export  # noqa: E402
import features as FE  # noqa: E402
import heldout_noise as HN  # noqa: E402
import make_tiny_model  # noqa: E402
import metrics as MX  # noqa: E402

check = TT.check   # exits on the first failure
SCRIPT = os.path.join(FE.REPO, "tools", "train", "heldout_noise.py")


def snr_db(clean, noisy):
    n = min(len(clean), len(noisy))
    return 10 * np.log10(A.power(clean[:n]) / A.power(noisy[:n] - clean[:n]))


def main():
    os.environ["EMOTION_BIN"] = sys.argv[1]
    torch.set_num_threads(1)
    labels = D.label_list("native", "emodb")
    with tempfile.TemporaryDirectory() as tmp:
        data, cache = os.path.join(tmp, "data"), os.path.join(tmp, "cache")
        items = [dict(it, path=it["path"].replace(".flac", ".wav"))
                 for it in TT.fake_items("emodb", 3, 2, labels)]
        TE.write_corpus(data, items, np.random.default_rng(3))
        heldout = [it for it in items if it["speaker"] == "emodb:01"]
        lst = os.path.join(tmp, "heldout.txt")
        D.write_list(lst, heldout)
        emod = os.path.join(tmp, "m.emod")
        net = make_tiny_model.random_model(dict(TT.TINY_NET), labels, 4)
        export.model_to_emod(net, labels, None, "m", {}, emod)

        clean = FE.c_eval(emod, lst, data, os.path.join(tmp, "clean.json"))
        fig = HN.measure(emod, cache, data, lst, clean=clean)
        check(sorted(fig) == sorted(A.TEST_NOISE_VERSIONS), "versions measured: %s" % list(fig))
        made = {v: sorted(os.path.relpath(os.path.join(d, f), os.path.join(cache, "wav", v))
                          for d, _, fs in os.walk(os.path.join(cache, "wav", v)) for f in fs)
                for v in A.TEST_NOISE_VERSIONS}
        want = sorted("emodb/" + it["path"] for it in heldout)
        for v, r in fig.items():
            check(made[v] == want, "%s copies made: %s, want the listed %s" % (v, made[v], want))
            check(r["n"] == len(heldout) and r["failed"] == 0, "%s: %r" % (v, r))
            check(abs(r["drop_points"] - 100 * (clean["accuracy"] - r["accuracy"])) < 0.006,
                  "%s: drop %.2f, clean %.4f, noisy %.4f" % (v, r["drop_points"],
                                                            clean["accuracy"], r["accuracy"]))
            for it in heldout:
                _, x = wavfile.read(os.path.join(data, "emodb", it["path"]))
                _, y = wavfile.read(A.wav_path(cache, v, D.item_key(it)))
                s = snr_db(x.astype(np.float64) / 32768, y.astype(np.float64))
                check(abs(s - 10) < 0.3, "%s %s: SNR %.2f dB, want 10" % (v, it["path"], s))

        # Present copies are reused; a missing one is remade sample for sample.
        one = A.wav_path(cache, "babble10", D.item_key(heldout[0]))
        with open(one, "rb") as f:
            before = f.read()
        rows = D.read_list(lst)
        check(HN.ensure_versions(cache, data, rows) == 0, "present copies made again")
        os.remove(one)
        check(HN.ensure_versions(cache, data, rows, log=None) == 1, "missing copy not remade")
        with open(one, "rb") as f:
            check(f.read() == before, "the remade babble10 copy differs from the first")
        check(HN.measure(emod, cache, data, lst, clean=clean) == fig, "figures not reproducible")

        # The figures come from the noisy copies: a corrupt one fails the run, named.
        env = dict(os.environ, PYTHONDONTWRITEBYTECODE="1")
        cmd = [sys.executable, SCRIPT, emod, "--cache", cache, "--data", data, "--list", lst]
        corrupt = A.wav_path(cache, "white10", D.item_key(heldout[1]))
        with open(corrupt, "wb") as f:
            f.write(b"RIFF garbage")
        r = subprocess.run(cmd, env=env, capture_output=True, text=True)
        check(r.returncode != 0 and corrupt in r.stderr and "white10 copies" in r.stderr,
              "corrupt white10 copy: exit %d, stderr %r" % (r.returncode, r.stderr))
        os.remove(corrupt)

        # A list naming a file the corpus lacks.
        bad = os.path.join(tmp, "bad.txt")
        with open(bad, "w") as f:
            f.write("path,label,speaker\nemodb/nope.wav,anger,emodb:01\n")
        try:
            HN.measure(emod, cache, data, bad)
            check(False, "a list naming a missing file was accepted")
        except ValueError as e:
            check("emodb/nope.wav" in str(e), "error does not name the file: %s" % e)

        # --record: refuses another model's JSON, fills the model's own.
        rec = os.path.join(tmp, "m.json")
        cmd += ["--record", rec]
        MX.save_json(rec, {"model_id": "other@sha256:0"})
        r = subprocess.run(cmd, env=env, capture_output=True, text=True)
        check(r.returncode != 0 and "other@sha256:0" in r.stderr and clean["model"] in r.stderr,
              "wrong model id: exit %d, stderr %r" % (r.returncode, r.stderr))
        MX.save_json(rec, {"model_id": clean["model"], "kept": 1})
        r = subprocess.run(cmd, env=env, capture_output=True, text=True)
        check(r.returncode == 0, "record: exit %d: %s" % (r.returncode, r.stderr))
        with open(rec) as f:
            got = json.load(f)
        check(got.get("kept") == 1 and got.get("heldout_c_noise") == fig,
              "recorded %r, want %r" % (got, fig))
        print("held-out noise: %d files, clean %.3f, white10 %.3f, babble10 %.3f"
              % (len(heldout), clean["accuracy"], fig["white10"]["accuracy"],
                 fig["babble10"]["accuracy"]))
    print("ok: heldout noise")
    return 0


if __name__ == "__main__":
    sys.exit(main())

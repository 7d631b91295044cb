#!/usr/bin/python3
"""Regression guard of the shipped models (the default and the opt-in ensemble): `emotion eval`
(C runtime) over models/heldout.txt (speakers never used in training or model selection) must
reach the accuracy and UAR recorded in models/<name>.json minus a small margin, clean and mixed
with white / babble noise at 10 dB (heldout_noise.py; the noisy copies come from the feature
cache when it has them, else the test makes them in a temporary dir, ~1.5 min). Skips (77)
without the corpora.

    test_heldout.py EMOTION_BIN
"""

import json
import os
import subprocess
import sys
import tempfile

SRC = os.environ.get("EMOTIOND_SRC") or os.path.join(os.path.dirname(__file__), "..", "..")
sys.path.insert(0, os.path.join(SRC, "tools", "train"))
import augment as A  # noqa: E402
import data as D  # noqa: E402
import features as FE  # noqa: E402
import heldout_noise as HN  # noqa: E402

MARGIN = 0.02  # absolute; the C runtime is deterministic, the margin covers libm/BLAS differences


def at_least(name, what, got, rec):
    """got's accuracy and UAR >= rec's minus MARGIN; prints each comparison."""
    ok = True
    for key in ("accuracy", "uar"):
        floor = rec[key] - MARGIN
        status = "ok" if got[key] >= floor else "FAIL"
        print("%s: %s %s %s %.2f %% (recorded %.2f %%, floor %.2f %%)"
              % (status, name, what, key, 100 * got[key], 100 * rec[key], 100 * floor))
        ok = ok and got[key] >= floor
    return ok


def check_noise(name, model, heldout, noise_cache, data, rec):
    if "heldout_c_noise" not in rec:
        print("FAIL: %s: no heldout_c_noise in its JSON (ship.py records it; for an older model: "
              "tools/train/heldout_noise.py MODEL.emod --record MODEL.json)" % name)
        return False
    got = HN.measure(model, noise_cache, data, heldout)
    ok = True
    for v, r in rec["heldout_c_noise"].items():
        if got[v]["n"] != r["n"]:
            print("FAIL: %s %s: evaluated %d files, the record has %d"
                  % (name, v, got[v]["n"], r["n"]))
            ok = False
        ok = at_least(name, v, got[v], r) and ok
    return ok


def check_model(emotion, src, data, name, noise_cache):
    model = os.path.join(src, "models", name + ".emod")
    figures = os.path.join(src, "models", name + ".json")
    heldout = os.path.join(src, "models", "heldout.txt")
    for p in (model, figures, heldout):
        if not os.path.isfile(p):
            print("FAIL: %s missing (the shipped models and their figures belong in models/)" % p)
            return False
    with open(figures) as f:
        full = json.load(f)
    rec = full["heldout_c"]
    with tempfile.TemporaryDirectory() as tmp:
        out = os.path.join(tmp, "eval.json")
        env = dict(os.environ, OPENBLAS_NUM_THREADS="1")
        r = subprocess.run([emotion, "eval", "--model", model, "--list", heldout, "--data", data,
                            "--json", out, "--quiet"], env=env, stdout=subprocess.PIPE,
                           stderr=subprocess.PIPE, text=True, timeout=170)
        sys.stdout.write(r.stdout)
        if r.returncode != 0:
            print("FAIL: %s: emotion eval exited %d: %s" % (name, r.returncode, r.stderr.strip()))
            return False
        with open(out) as f:
            got = json.load(f)
    ok = True
    if got["n"] != rec["n"] or got["failed"] != 0:
        print("FAIL: %s: evaluated %d files (%d failed), the record has %d"
              % (name, got["n"], got["failed"], rec["n"]))
        ok = False
    ok = at_least(name, "clean", got, rec) and ok
    return check_noise(name, model, heldout, noise_cache, data, full) and ok


def has_noise_copies(cache, heldout):
    return all(os.path.isfile(A.wav_path(cache, v, r["path"]))
               for r in D.read_list(heldout) for v in A.TEST_NOISE_VERSIONS)


def main():
    emotion = sys.argv[1]
    os.environ["EMOTION_BIN"] = emotion
    src = SRC
    data = os.environ.get("EMOTIOND_DATA", "")
    if not data or not os.path.isfile(os.path.join(data, "ravdess", "labels.csv")) \
            or not os.path.isfile(os.path.join(data, "emodb", "labels.csv")):
        print("SKIP: corpora not found (EMOTIOND_DATA=%r needs ravdess/ and emodb/ with "
              "labels.csv); the held-out regression test needs them" % data)
        return 77
    heldout = os.path.join(src, "models", "heldout.txt")
    with tempfile.TemporaryDirectory() as tmp:
        cached = os.path.isfile(heldout) and has_noise_copies(FE.DEFAULT_CACHE, heldout)
        noise_cache = FE.DEFAULT_CACHE if cached else tmp
        print("noisy copies of the held-out files: %s" % noise_cache)
        ok = True
        for name in ("emotiond-default", "emotiond-ensemble"):
            ok = check_model(emotion, src, data, name, noise_cache) and ok
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())

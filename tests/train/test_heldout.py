#!/usr/bin/python3
"""Regression guard of the shipped models (the default and the opt-in ensemble): `emotion eval`
(C runtime) over models/heldout.txt (speakers never used in training or model selection) must
reach the accuracy and UAR recorded in models/<name>.json minus a small margin. Skips (77)
without the corpora.

    test_heldout.py EMOTION_BIN
"""

import json
import os
import subprocess
import sys
import tempfile

MARGIN = 0.02  # absolute; the C runtime is deterministic, the margin covers libm/BLAS differences


def check_model(emotion, src, data, name):
    model = os.path.join(src, "models", name + ".emod")
    figures = os.path.join(src, "models", name + ".json")
    heldout = os.path.join(src, "models", "heldout.txt")
    for p in (model, figures, heldout):
        if not os.path.isfile(p):
            print("FAIL: %s missing (the shipped models and their figures belong in models/)" % p)
            return False
    with open(figures) as f:
        rec = json.load(f)["heldout_c"]
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
    for key in ("accuracy", "uar"):
        floor = rec[key] - MARGIN
        status = "ok" if got[key] >= floor else "FAIL"
        print("%s: %s %s %.2f %% (recorded %.2f %%, floor %.2f %%)"
              % (status, name, key, 100 * got[key], 100 * rec[key], 100 * floor))
        ok = ok and got[key] >= floor
    return ok


def main():
    emotion = sys.argv[1]
    src = os.environ.get("EMOTIOND_SRC") or os.path.join(os.path.dirname(__file__), "..", "..")
    data = os.environ.get("EMOTIOND_DATA", "")
    if not data or not os.path.isfile(os.path.join(data, "ravdess", "labels.csv")) \
            or not os.path.isfile(os.path.join(data, "emodb", "labels.csv")):
        print("SKIP: corpora not found (EMOTIOND_DATA=%r needs ravdess/ and emodb/ with "
              "labels.csv); the held-out regression test needs them" % data)
        return 77
    ok = True
    for name in ("emotiond-default", "emotiond-ensemble"):
        ok = check_model(emotion, src, data, name) and ok
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())

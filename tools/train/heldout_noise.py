"""Protocol 3 on a shipped model's held-out speakers: the files of models/heldout.txt mixed with
white and with babble noise at 10 dB SNR (augment.py's white10 / babble10 versions), judged by the
C runtime (`emotion eval`), each speaker's statistics taken from its noisy files, as a noisy room
would give them to the daemon. The drop is clean minus noisy accuracy, in points.

Noisy files the cache lacks are made here for the listed files only (augment.make_version: the
same seeded draws, so the same samples as a full augment.py run). ship.py calls measure() for
every model it ships; this script gives the figures of a model shipped before it did.

    /usr/bin/python3 tools/train/heldout_noise.py MODEL.emod [--cache DIR] [--data DIR] \
        [--list LIST] [--record models/NAME.json]

--record adds the figures to the model's JSON as "heldout_c_noise" (what test_heldout.py and the
model card read); the model id in the JSON must be the model's.
"""

import argparse
import csv
import json
import os
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import augment as A  # noqa: E402
import data as D  # noqa: E402
import features as FE  # noqa: E402
import metrics as MX  # noqa: E402

HELDOUT = os.path.join(FE.REPO, "models", "heldout.txt")
KEYS = ("n", "failed", "accuracy", "uar", "macro_f1")


def ensure_versions(cache, data_root, rows, log=sys.stderr):
    """Makes the white10 / babble10 copies of the listed files that the cache lacks; returns how
    many were made."""
    if all(os.path.isfile(A.wav_path(cache, v, r["path"]))
           for r in rows for v in A.TEST_NOISE_VERSIONS):
        return 0
    corpora = sorted({r["path"].split("/")[0] for r in rows})   # babble10: same corpus
    all_items = [it for c in corpora for it in D.load_corpus(c, data_root)]
    by_key = {D.item_key(it): it for it in all_items}
    unknown = sorted({r["path"] for r in rows} - set(by_key))
    if unknown:
        raise ValueError("held-out list names %d files the corpora do not have (first: %s)"
                         % (len(unknown), unknown[0]))
    items = [by_key[r["path"]] for r in rows]
    return sum(A.make_version(v, items, all_items, data_root, cache, log=log)
               for v in A.TEST_NOISE_VERSIONS)


def write_wav_list(rows, path):
    """The list with each path pointing at the version's WAV (relative to CACHE/wav/VERSION)."""
    with open(path, "w", newline="") as f:
        w = csv.writer(f, lineterminator="\n")
        w.writerow(["path", "label", "speaker"])
        for r in rows:
            w.writerow([os.path.splitext(r["path"])[0] + ".wav", r["label"], r["speaker"]])


def measure(emod, cache=FE.DEFAULT_CACHE, data_root=None, heldout=HELDOUT, clean=None):
    """{version: the eval's n, failed, accuracy, uar, macro_f1 (+ drop_points against clean, the
    clean held-out eval's JSON, when given)} for white10 and babble10."""
    data_root = D.data_dir(data_root)
    rows = D.read_list(heldout)
    ensure_versions(cache, data_root, rows)
    out = {}
    with tempfile.TemporaryDirectory() as tmp:
        lst = os.path.join(tmp, "heldout_wav.csv")
        write_wav_list(rows, lst)
        for v in A.TEST_NOISE_VERSIONS:
            try:   # `emotion eval` exits non-zero if any file fails, after naming it
                r = FE.c_eval(emod, lst, os.path.join(cache, "wav", v),
                              os.path.join(tmp, v + ".json"))
            except subprocess.CalledProcessError:
                raise RuntimeError("emotion eval failed on the %s copies under %s (see its "
                                   "message above)" % (v, os.path.join(cache, "wav", v)))
            out[v] = {k: r[k] for k in KEYS}
            if clean is not None:
                out[v]["drop_points"] = round(100 * (clean["accuracy"] - r["accuracy"]), 2)
    return out


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("model", help="MODEL.emod")
    ap.add_argument("--cache", default=FE.DEFAULT_CACHE)
    ap.add_argument("--data", default=None)
    ap.add_argument("--list", default=HELDOUT, help="held-out list (default models/heldout.txt)")
    ap.add_argument("--record", default=None, metavar="MODEL.json",
                    help="add the figures to this model JSON (written by ship.py)")
    a = ap.parse_args(argv)
    rec = None
    if a.record:
        with open(a.record) as f:
            rec = json.load(f)
    with tempfile.TemporaryDirectory() as tmp:
        clean = FE.c_eval(a.model, a.list, D.data_dir(a.data), os.path.join(tmp, "clean.json"))
    if rec is not None and rec["model_id"] != clean["model"]:
        sys.exit("heldout_noise.py: %s is %s, but %s records %s"
                 % (a.model, clean["model"], a.record, rec["model_id"]))
    noise = measure(a.model, a.cache, a.data, a.list, clean=clean)
    print("%s held-out clean %s" % (clean["model"], MX.fmt(clean)))
    for v, r in noise.items():
        print("  %-8s %s, drop %.1f points" % (v, MX.fmt(r), r["drop_points"]))
    if rec is not None:
        rec["heldout_c_noise"] = noise
        MX.save_json(a.record, rec)
        print("recorded in %s" % a.record)


if __name__ == "__main__":
    main()

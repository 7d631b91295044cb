"""Validation figures of a protocol run in clean and noisy conditions: a selection figure for
front-end and noise options that never looks at a test speaker.

    /usr/bin/python3 tools/train/valnoise.py runs/p2/VARIANT/CORPUS [--cache DIR] [--json OUT]

For each fold of the run (OUT/<fold>/checkpoint.pt and lists/val.csv, as protocols.py writes
them), evaluates the kept model on the fold's validation utterances: clean and mixed with white
and babble noise at 10 dB SNR (protocol 3's versions), reading the features of the front end the
checkpoint was trained with (its dsp_params["denoise_db"]) and normalising per speaker as in
training. Prints one line per fold and the mean accuracy over folds for each condition and
over the three.
"""

import one_blas_thread  # noqa: F401  (before numpy/torch)
import argparse
import json
import os
import sys

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import features as FE  # noqa: E402
import fold_runs as FR  # noqa: E402
import train as T  # noqa: E402

CONDITIONS = ("orig", "white10", "babble10")


def main(argv=None):
    ap = argparse.ArgumentParser(description="validation accuracy of a run's folds, clean and "
                                 "in 10 dB white / babble noise")
    ap.add_argument("run", help="protocol run directory (protocols.py --out)")
    ap.add_argument("--cache", default=FE.DEFAULT_CACHE)
    ap.add_argument("--data", default=None)
    ap.add_argument("--json", default=None, help="also write the figures here")
    a = ap.parse_args(argv)
    folds = FR.fold_dirs(a.run, "val")
    if not folds:
        raise SystemExit("valnoise.py: %s: no fold with checkpoint.pt and lists/val.csv" % a.run)
    reader = FR.FoldReader(CONDITIONS, a.cache, a.data)
    rows = {}
    for fd in folds:
        model, _, val, store, labels = reader.read(fd, "val")
        name = os.path.basename(fd)
        rows[name] = [T.evaluate(model, val, store, labels, v)[0]["accuracy"]
                      for v in CONDITIONS]
        print("%s %s" % (name, " ".join("%.1f" % (100 * x) for x in rows[name])), flush=True)
    mean = np.mean(list(rows.values()), 0)
    print("%s: %d folds, validation accuracy clean %.1f white10 %.1f babble10 %.1f, mean of the "
          "three %.1f" % (a.run, len(rows), *(100 * mean), 100 * mean.mean()))
    if a.json:
        with open(a.json, "w") as f:
            json.dump({"run": a.run, "folds": rows, "mean": dict(zip(CONDITIONS, mean.tolist())),
                       "mean_of_three": float(mean.mean())}, f, indent=1)


if __name__ == "__main__":
    main()

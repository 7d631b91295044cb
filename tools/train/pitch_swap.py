"""Where a pitch model's loss in noise comes from: each fold's model on the protocol-3 copies with
its input's bands and pitch columns taken from different versions.

    /usr/bin/python3 tools/train/pitch_swap.py RUNDIR [--folds 0,1] [--json OUT]

RUNDIR is a protocol run of a model with pitch columns (model key prosody; protocols.py writes
RUNDIR/<fold>/checkpoint.pt and lists/test.csv). For each noise (white10, babble10) every fold's
test list is evaluated four ways, named "bands version + pitch version":
  orig+orig     the clean file (protocol 2's figure),
  N+N           the noisy copy (protocol 3's figure),
  N+orig        the noisy copy's bands with the clean file's pitch: the loss the bands alone cause,
  orig+N        the clean bands with the noisy copy's pitch: the loss the tracker alone causes.
Each combination is normalised per speaker over its own frames, as protocol 3 is. Prints the
accuracy per fold and the means, and the drops against orig+orig.

Why: a pitch model lost more in noise than the same model without pitch (BENCHMARKS.md); this
says how much of that a better tracker could win back, without training anything.
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

NOISES = ("white10", "babble10")


class SwapStore:
    """A FeatureStore view whose version "B+P" is the bands of version B beside the pitch columns
    of version P (both have the log-mel's frames, so frame i is the same moment)."""

    def __init__(self, store):
        if not store.extra_columns:
            raise ValueError("pitch_swap: the run's model reads no pitch columns (prosody 0)")
        self.store = store
        self.extra_columns = store.extra_columns

    def get(self, key, version="orig"):
        bands, pitch = version.split("+") if "+" in version else (version, version)
        x, p = self.store.get(key, bands), self.store.get(key, pitch)
        m = x.shape[1] - self.extra_columns
        return np.hstack([x[:, :m], p[:, m:]])


def combinations(noise):
    return ("orig+orig", "%s+%s" % (noise, noise), "%s+orig" % noise, "orig+%s" % noise)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("run")
    ap.add_argument("--folds", default=None, help="comma-separated fold numbers (default: all)")
    ap.add_argument("--cache", default=FE.DEFAULT_CACHE)
    ap.add_argument("--data", default=None)
    ap.add_argument("--json", default=None)
    a = ap.parse_args(argv)
    wanted = {int(f) for f in a.folds.split(",")} if a.folds else None
    folds = FR.fold_dirs(a.run, "test", wanted)
    if not folds:
        raise SystemExit("pitch_swap.py: %s: no fold with checkpoint.pt and lists/test.csv" % a.run)
    reader = FR.FoldReader(("orig",) + NOISES, a.cache, a.data, wrap=SwapStore)
    names = ["orig+orig"] + [c for n in NOISES for c in combinations(n)[1:]]
    rows = {}
    for fd in folds:
        model, _, test, store, labels = reader.read(fd, "test")
        rows[os.path.basename(fd)] = [T.evaluate(model, test, store, labels, c)[0]["accuracy"]
                                      for c in names]
        print("%s %s" % (os.path.basename(fd), " ".join("%s %.1f" % (c, 100 * x) for c, x in
                                                           zip(names, rows[os.path.basename(fd)]))),
              flush=True)
    mean = 100 * np.mean(list(rows.values()), 0)
    print("%s, %d folds, accuracy %% (drop against orig+orig):" % (a.run, len(rows)))
    for c, x in zip(names, mean):
        print("  %-18s %.1f  (%.1f)" % (c, x, mean[0] - x))
    if a.json:
        with open(a.json, "w") as f:
            json.dump({"run": a.run, "combinations": names, "folds": rows,
                       "mean": dict(zip(names, mean.tolist()))}, f, indent=1)


if __name__ == "__main__":
    main()

"""How much speaker identity a trained network's embedding still carries: a linear probe.

    /usr/bin/python3 tools/train/speaker_probe.py RUNDIR [RUNDIR ...] [--folds 0,1,2]

RUNDIR is a protocol run (protocols.py: RUNDIR/<fold>/checkpoint.pt and lists/train.csv). Per
fold: the embedding the emotion head reads (the pooled readout after the first window of each
clean training file, model.pooled_all at its last step), then a logistic regression that
names the file's speaker from it (scikit-learn, standardised features), scored by 5-fold
stratified cross-validation over the files. Prints the probe's speaker accuracy per fold and
its mean, with chance (1 / speakers).

Why: the speaker adversary (adversary.py) reports its own accuracy while it trains against the
network, which says little about what a fresh classifier could still read from the embedding;
a probe fitted after training, on the same files for every run, measures that directly and
compares runs with and without the adversary.
"""

import one_blas_thread  # noqa: F401  (before numpy/torch)
import argparse
import os
import sys

import numpy as np
import torch
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import StratifiedKFold, cross_val_score
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import data as D  # noqa: E402
import features as FE  # noqa: E402
import fold_runs as FR  # noqa: E402


def embeddings(model, store, items):
    window = model.config["window"]
    out = []
    with torch.no_grad():
        for it in items:
            x = np.asarray(store.get(D.item_key(it), "orig")[:window], dtype=np.float32)
            n = x.shape[0] - x.shape[0] % model.config["time_pool"]
            out.append(model.pooled_all(torch.from_numpy(x[None, :n]))[0, -1].numpy())
    return np.stack(out)


def probe(emb, speakers, seed=0):
    clf = make_pipeline(StandardScaler(), LogisticRegression(max_iter=2000, C=1.0))
    cv = StratifiedKFold(n_splits=5, shuffle=True, random_state=seed)
    return float(np.mean(cross_val_score(clf, emb, speakers, cv=cv)))


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("runs", nargs="+")
    ap.add_argument("--folds", default=None,
                    help="fold numbers, as in the fold directories' names (fold3 / seed3 -> 3; "
                    "default: every fold with a model)")
    ap.add_argument("--data", default=None)
    ap.add_argument("--cache", default=FE.DEFAULT_CACHE)
    a = ap.parse_args(argv)
    torch.set_num_threads(1)
    reader = FR.FoldReader(["orig"], a.cache, a.data)
    for run in a.runs:
        want = None if a.folds is None else {int(k) for k in a.folds.split(",")}
        folds = FR.fold_dirs(run, "train", want)
        if not folds:
            sys.exit("speaker_probe: %s: no fold%s with checkpoint.pt and lists/train.csv"
                     % (run, "" if want is None else " of " + a.folds))
        scores = []
        for fd in folds:
            model, _, items, store, _ = reader.read(fd, "train")
            spk = [it["speaker"] for it in items]
            acc = probe(embeddings(model, store, items), spk)
            scores.append(acc)
            print("%s %s: speaker probe %.1f %% (%d files, %d speakers, chance %.1f %%)"
                  % (run, os.path.basename(fd), 100 * acc, len(items), len(set(spk)),
                     100 / len(set(spk))), flush=True)
        print("%s: mean speaker probe %.1f %% over %d folds" % (run, 100 * np.mean(scores),
                                                               len(scores)), flush=True)


if __name__ == "__main__":
    main()

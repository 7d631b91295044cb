#!/usr/bin/python3
"""Tests of training a per-corpus protocol model with the other corpus as extra training data
(train.py extra_corpora, data.extra_items) and of fold selection by name (fold_runs.fold_dirs,
speaker_probe.py --folds). No corpora needed: the tests make small fake ones.

    test_extra_corpus.py CASE      CASE: folds
"""

import contextlib
import csv
import io
import os
import sys
import tempfile

import numpy as np

SRC = os.environ.get("EMOTIOND_SRC") or os.path.join(os.path.dirname(__file__), "..", "..")
sys.path.insert(0, os.path.join(SRC, "tools", "train"))

import data as D  # noqa: E402

TINY_NET = {"c1": 2, "c2": 2, "c3": 2, "lstm_hidden": 4, "dense": 4}
QUIET = open(os.devnull, "w")


def check(cond, msg):
    if not cond:
        print("FAIL: " + msg)
        sys.exit(1)


def write_corpus(data, corpus, speakers, labels, per_label=1):
    """A labels.csv for corpus with one file per speaker, label and repetition; returns nothing
    (load with data.load_corpus / load_items, which read it)."""
    os.makedirs(os.path.join(data, corpus), exist_ok=True)
    with open(os.path.join(data, corpus, "labels.csv"), "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["path", "speaker", "label", "gender", "duration_s"])
        for k, s in enumerate(speakers):
            for lab in labels:
                for r in range(per_label):
                    w.writerow(["%s_%s_%d.flac" % (s, lab, r), s, lab,
                                "male" if k % 2 == 0 else "female", 3.0])


def t_folds():
    """fold_dirs / speaker_probe --folds select folds by the number in their name, so a run that
    lacks a fold still gets the folds asked for (position would pick fold2 for '1' here)."""
    import fold_runs as FR
    import speaker_probe as SP
    with tempfile.TemporaryDirectory() as run:
        for name in ("fold0", "fold2", "seed3", "notes"):
            os.makedirs(os.path.join(run, name, "lists"))
            open(os.path.join(run, name, "checkpoint.pt"), "w").close()
            open(os.path.join(run, name, "lists", "train.csv"), "w").close()
        names = lambda ds: [os.path.basename(d) for d in ds]  # noqa: E731
        check(names(FR.fold_dirs(run, "train")) == ["fold0", "fold2", "notes", "seed3"],
              "every directory with a model: %s" % names(FR.fold_dirs(run, "train")))
        check(names(FR.fold_dirs(run, "train", {2})) == ["fold2"], "fold 2 by name")
        check(names(FR.fold_dirs(run, "train", {3, 0})) == ["fold0", "seed3"], "folds 0 and 3")
        check(FR.fold_dirs(run, "train", {1}) == [], "fold 1 is missing: none")
        check(FR.fold_index("x/fold12/") == 12 and FR.fold_index("notes") is None, "fold_index")
        try:
            SP.main([run, "--folds", "1"])
        except SystemExit as e:
            check("no fold of 1" in str(e.code), "speaker_probe names the missing fold: %s" % e.code)
        else:
            check(False, "speaker_probe --folds 1 ran without a fold 1")


CASES = {"folds": t_folds}

if __name__ == "__main__":
    if len(sys.argv) != 2 or sys.argv[1] not in CASES:
        sys.exit("usage: test_extra_corpus.py %s" % "|".join(CASES))
    CASES[sys.argv[1]]()
    print("ok: %s" % sys.argv[1])

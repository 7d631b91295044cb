"""The evaluation protocols' folds, shared by the network driver (protocols.py) and the SVM
baseline (svm_baseline.py), so both see identical train / validation / test lists.

p1 (seeds' protocol): per corpus, random label-stratified 80/10/10 split (train/val/test), seeds
   0..4. Speakers overlap between the parts (that is the protocol; it is optimistic).
p2 (speaker-independent): RAVDESS 6 actor-disjoint folds (actors 1-4, 5-8, ...), EMO-DB
   leave-one-speaker-out (10 folds). Validation speakers (early stopping / SVM C) are 1 male +
   1 female TRAINING speaker per fold; the test speakers are never seen in training or selection.
"""

import data as D

P1_SEEDS = (0, 1, 2, 3, 4)


def folds(protocol, items):
    """Yields (fold_name, train, val, test)."""
    if protocol == "p1":
        for s in P1_SEEDS:
            tr, va, te = D.stratified_split(items, (0.8, 0.1, 0.1), seed=s)
            yield "seed%d" % s, tr, va, te
    elif protocol == "p2":
        corpora = {it["corpus"] for it in items}
        if len(corpora) != 1:
            raise ValueError("p2 runs per corpus")
        for k, test_spk in enumerate(D.speaker_folds(corpora.pop())):
            val_spk = D.validation_speakers(items, test_spk, seed=k)
            te = D.by_speakers(items, test_spk)
            va = D.by_speakers(items, val_spk)
            tr = D.without_speakers(items, list(test_spk) + list(val_spk))
            yield "fold%d" % k, tr, va, te
    else:
        raise ValueError("unknown protocol %r (p1 | p2)" % (protocol,))

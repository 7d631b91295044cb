#!/usr/bin/python3
"""Tests of training a per-corpus protocol model with the other corpus as extra training data
(train.py extra_corpora, data.extra_items) and of fold selection by name (fold_runs.fold_dirs,
speaker_probe.py --folds). No corpora needed: the tests make small fake ones.

    test_extra_corpus.py CASE      CASE: labels | config | epochs | protocol | folds
"""

import contextlib
import io
import os
import sys
import tempfile

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from test_train_py import TINY_NET, check, run_case, write_labels_csv  # noqa: E402

import data as D  # noqa: E402  (test_train_py put tools/train on the path)

QUIET = open(os.devnull, "w")


def write_corpus(data, corpus, speakers, labels, per_label=1):
    """A labels.csv for corpus with one file per speaker, label and repetition; returns nothing
    (load with data.load_corpus / load_items, which read it)."""
    write_labels_csv(data, [{"corpus": corpus, "path": "%s_%s_%d.flac" % (s, lab, r),
                             "speaker": "%s:%s" % (corpus, s), "native": lab,
                             "gender": "male" if k % 2 == 0 else "female"}
                            for k, s in enumerate(speakers) for lab in labels
                            for r in range(per_label)])


def fake_features(cache, data, corpora, rng):
    """Cached "orig" features (70 random frames of 128 bands) for every utterance of corpora."""
    import features as FE
    for c in corpora:
        for it in D.load_corpus(c, data):
            path = FE.feat_path(cache, "orig", D.item_key(it), 0)
            os.makedirs(os.path.dirname(path), exist_ok=True)
            np.save(path, rng.standard_normal((70, 128)).astype(np.float32))


def t_labels():
    """Only the classes both corpora name alike cross over, each to the target's own label
    name, and always to the same unified label as its source; calm, surprised and boredom stay
    out; the target corpus itself or an unknown corpus is refused."""
    for (src, dst), shared in D.SHARED_NATIVE.items():
        for a, b in shared.items():
            check(D.TO_UNIFIED[src][a] == D.TO_UNIFIED[dst][b],
                  "%s %s -> %s %s changes the unified label" % (src, a, dst, b))
    check(set(D.SHARED_NATIVE[("ravdess", "emodb")]) == set(D.RAVDESS_NATIVE) -
          {"calm", "surprised"}, "RAVDESS -> EMO-DB: every class but calm and surprised")
    check(set(D.SHARED_NATIVE[("emodb", "ravdess")]) == set(D.EMODB_NATIVE) - {"boredom"},
          "EMO-DB -> RAVDESS: every class but boredom")
    with tempfile.TemporaryDirectory() as data:
        write_corpus(data, "ravdess", ["01", "02"], D.RAVDESS_NATIVE)
        write_corpus(data, "emodb", ["03"], D.EMODB_NATIVE)
        labels = D.label_list("native", "emodb")
        got = D.extra_items(["ravdess"], "emodb", labels, data)
        check(len(got) == 2 * 6, "2 speakers x 6 shared classes, got %d" % len(got))
        check(not {it["native"] for it in got} & {"calm", "surprised"}, "calm / surprised left out")
        for it in got:
            check(it["corpus"] == "ravdess" and it["speaker"].startswith("ravdess:"),
                  "extra items keep their corpus and speaker: %r" % it)
            check(labels[it["label"]] == it["label_name"] ==
                  D.SHARED_NATIVE[("ravdess", "emodb")][it["native"]], "label: %r" % it)
        back = D.extra_items(["emodb"], "ravdess", D.label_list("native", "ravdess"), data)
        check(sorted(it["label_name"] for it in back) ==
              sorted(["neutral", "happy", "sad", "angry", "fearful", "disgust"]),
              "EMO-DB into RAVDESS labels: %s" % sorted(it["label_name"] for it in back))
        check(D.extra_items([], "emodb", labels, data) == [], "no extra corpora: nothing")
        for bad in (["emodb"], ["timit"]):
            try:
                D.extra_items(bad, "emodb", labels, data)
            except ValueError as e:
                check("extra corpus" in str(e) and bad[0] in str(e), "error: %s" % e)
            else:
                check(False, "extra corpus %r accepted for emodb" % bad)


def t_config():
    """extra_corpora / extra_ratio are checked when the config is read; train.py's shipped run
    (which trains on every corpus of "corpora" already) refuses extra corpora, protocols.py
    takes them."""
    import json
    import train as T
    bad = [({"extra_corpora": "ravdess"}, "extra_corpora"), ({"extra_corpora": ["timit"]},
           "extra_corpora"), ({"extra_ratio": 0}, "extra_ratio"), ({"extra_ratio": -1.0},
           "extra_ratio"), ({"extra_ratio": float("inf")}, "extra_ratio"),
           ({"extra_ratio": True}, "extra_ratio")]
    for cfg, word in bad:
        try:
            T.full_config(cfg)
        except ValueError as e:
            check(word in str(e), "error names %s: %s" % (word, e))
        else:
            check(False, "%r accepted" % (cfg,))
    full = T.full_config({"extra_corpora": ["ravdess"], "split": "p2", "corpora": ["emodb"]})
    check(full["extra_corpora"] == ["ravdess"] and full["extra_ratio"] == 1.0, "defaults: %r"
          % {k: full[k] for k in ("extra_corpora", "extra_ratio")})
    check(T.full_config({})["extra_corpora"] == [], "off by default")
    with tempfile.TemporaryDirectory() as d:
        cfg = os.path.join(d, "x.json")
        with open(cfg, "w") as f:
            json.dump({"extra_corpora": ["ravdess"]}, f)
        try:
            T.main(["--config", cfg, "--out", os.path.join(d, "run")])
        except SystemExit as e:
            check("extra_corpora" in str(e.code) and "protocols.py" in str(e.code),
                  "train.py names the key and where it belongs: %s" % e.code)
        else:
            check(False, "train.py trained the shipped split with extra corpora")
        check(not os.path.exists(os.path.join(d, "run")), "nothing written")


class RecordingStore:
    """Random frames per (utterance, version); records every (key, version) read."""

    def __init__(self):
        self.rng = np.random.default_rng(1)
        self.m = {}
        self.reads = []

    def check(self, *a):
        pass

    def get(self, key, v="orig"):
        self.reads.append((key, v))
        if (key, v) not in self.m:
            self.m[(key, v)] = self.rng.standard_normal((int(self.rng.integers(60, 120)), 128)
                                                        ).astype(np.float32)
        return self.m[(key, v)]


def fake_items(corpus, n_spk, labels):
    return [{"corpus": corpus, "path": "s%02d_%s.flac" % (s, lab),
             "speaker": "%s:%02d" % (corpus, s),
             "gender": "male", "native": lab, "label_name": lab, "label": li, "duration": 3.0}
            for s in range(n_spk) for li, lab in enumerate(labels)]


def t_epochs():
    """Each epoch reads every target-corpus training utterance once and a fresh draw of
    round(extra_ratio x as many) extra ones, each at most once (all of them when fewer); without
    extra corpora the epoch order is the one the harness drew before extra corpora existed
    (rng.permutation(n)), so earlier runs repeat step for step."""
    import torch
    import train as T
    torch.set_num_threads(1)
    labels = ["a", "b", "c", "d"]
    core = fake_items("emodb", 3, labels)            # 12 training utterances
    extra = fake_items("ravdess", 10, labels)        # 40 extra
    val = fake_items("emodb", 1, labels)
    for v in val:
        v["speaker"] = "emodb:99"
        v["path"] = "val_" + v["path"]
    for ratio, want_extra in ((0.5, 6), (1.0, 12), (10.0, 40)):
        store = RecordingStore()
        # p_orig 0: every training crop reads version "x", which nothing else reads.
        cfg = {"name": "unit", "epochs": 2, "batch": 4, "versions": ["orig", "x"], "p_orig": 0.0,
               "model": dict(TINY_NET), "crop_min": 40, "crop_max": 80, "split": "p2",
               "corpora": ["emodb"], "label_set": "native", "extra_corpora": ["ravdess"],
               "extra_ratio": ratio}
        with tempfile.TemporaryDirectory() as d:
            _, meta = T.train(cfg, core + extra, val, labels, store, d, log=QUIET)
        reads = [k for k, v in store.reads if v == "x"]
        check(len(reads) == 2 * (12 + want_extra), "ratio %g: %d training reads, want 2 x %d"
              % (ratio, len(reads), 12 + want_extra))
        epochs = [reads[:12 + want_extra], reads[12 + want_extra:]]
        for e, keys in enumerate(epochs):
            check(sorted(k for k in keys if k.startswith("emodb/")) ==
                  sorted(D.item_key(it) for it in core), "ratio %g epoch %d: every target "
                  "utterance once" % (ratio, e + 1))
            ex = [k for k in keys if k.startswith("ravdess/")]
            check(len(ex) == want_extra == len(set(ex)), "ratio %g epoch %d: %d extra reads, "
                  "%d distinct, want %d" % (ratio, e + 1, len(ex), len(set(ex)), want_extra))
        if want_extra < 40:
            check(set(k for k in epochs[0] if k.startswith("ravdess/")) !=
                  set(k for k in epochs[1] if k.startswith("ravdess/")),
                  "ratio %g: the extra draw changes between epochs" % ratio)
        check(meta["n_train"] == 12 + 40, "run.json counts the extra utterances too")
    c, x = T.epoch_pools(core, {"corpora": ["emodb"], "extra_corpora": []})
    check(len(x) == 0 and np.array_equal(c, np.arange(12)), "no extra: pool = arange(n)")
    check(np.array_equal(np.random.default_rng(5).permutation(c),
                         np.random.default_rng(5).permutation(12)),
          "permutation of the pool = the former permutation(n)")
    try:
        T.epoch_pools(core + extra, {"corpora": ["emodb"], "extra_corpora": []})
    except ValueError as e:
        check("ravdess" in str(e), "error names the stray corpus: %s" % e)
    else:
        check(False, "utterances of another corpus trained without extra_corpora")


def t_protocol():
    """protocols.run with extra_corpora on fake corpora and cached random features: the extra
    corpus reaches the training part only (its own list, lists/extra.csv); the train, validation
    and test lists hold the target corpus alone, and the speaker normaliser has statistics for
    the extra speakers."""
    import torch
    import protocols as P
    torch.set_num_threads(1)
    emodb_spk = [s.split(":")[1] for f in D.speaker_folds("emodb") for s in f]
    rng = np.random.default_rng(2)
    with tempfile.TemporaryDirectory() as tmp:
        data, cache, out = (os.path.join(tmp, x) for x in ("data", "cache", "run"))
        write_corpus(data, "emodb", emodb_spk, D.EMODB_NATIVE)
        write_corpus(data, "ravdess", ["01", "02", "03", "04"], D.RAVDESS_NATIVE)
        fake_features(cache, data, ("emodb", "ravdess"), rng)
        cfg = {"epochs": 1, "batch": 8, "versions": ["orig"], "crop_min": 40, "crop_max": 60,
               "model": dict(TINY_NET, cmvn="speaker"), "extra_corpora": ["ravdess"]}
        log = io.StringIO()
        with contextlib.redirect_stdout(io.StringIO()):
            P.run("p2", "emodb", cfg, out, {0}, data, cache, noise=False, log=log)
        fold = os.path.join(out, "fold0")
        lists = {p: D.read_list(os.path.join(fold, "lists", p + ".csv"))
                 for p in ("train", "val", "test", "extra")}
        for p in ("train", "val", "test"):
            check(lists[p] and all(r["path"].startswith("emodb/") for r in lists[p]),
                  "%s list: target corpus only" % p)
        check(len(lists["extra"]) == 4 * 6 and
              all(r["path"].startswith("ravdess/") for r in lists["extra"]) and
              not {r["label"] for r in lists["extra"]} - set(D.EMODB_NATIVE),
              "extra list: RAVDESS's shared classes in EMO-DB labels")
        # 24 extra, fewer than the target's training utterances: all of them every epoch.
        check("%d train (24 extra, 24 per epoch)" % (len(lists["train"]) + 24) in log.getvalue(),
              "the run reports its extra utterances: %s" % log.getvalue().splitlines()[0])
        check(not os.path.exists(os.path.join(out, "fold1")), "only the fold asked for")


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
            check("no fold of 1" in str(e.code),
                  "speaker_probe names the missing fold: %s" % e.code)
        else:
            check(False, "speaker_probe --folds 1 ran without a fold 1")


CASES = {"labels": t_labels, "config": t_config, "epochs": t_epochs, "protocol": t_protocol,
         "folds": t_folds}

if __name__ == "__main__":
    run_case(CASES)

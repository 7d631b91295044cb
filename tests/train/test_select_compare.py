#!/usr/bin/python3
"""A paired test of two epoch-selection rules (train.py select_compare, compare_select.py)
without corpora: the config's refusals, a run that keeps both rules' picks from one history
(each the very weights a run with that rule alone keeps), and compare_select.py reading them
back on a small fake corpus and front-end cache the test writes.

    test_select_compare.py CASE      CASE: config | run | compare
"""

import contextlib
import io
import json
import os
import sys
import tempfile

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from test_train_py import (SyntheticStore, check, check_refused, fake_items,  # noqa: E402
                           run_case, tiny_run_config, write_labels_csv)

import data as D  # noqa: E402  (test_train_py put tools/train on the path)

LABELS = ["a", "b", "c"]
DEVNULL = open(os.devnull, "w")


def t_config():
    import train as T
    check(T.full_config({})["select_compare"] == [], "off by default")
    check(T.full_config({"select_window": 3, "select_compare": [1, 2]})["select_compare"]
          == [1, 2], "accepted")
    check_refused("select_compare", 1, "1", [0], [1.5], [True], [2, 2], [1])
    try:
        T.full_config({"select_window": 3, "select_compare": [3]})
    except ValueError as e:
        check("select_compare" in str(e) and "select_window (3)" in str(e), "error: %s" % e)
    else:
        check(False, "select_compare naming select_window accepted")


def train_tiny(root, name, **keys):
    import torch
    import train as T
    torch.set_num_threads(1)
    items = fake_items("emodb", 4, 2, LABELS)
    out = os.path.join(root, name)
    _, meta = T.train(tiny_run_config(epochs=6, lr=0.02, **keys), items[:16], items[16:], LABELS,
                      SyntheticStore(), out, log=DEVNULL)
    return out, meta


def t_run():
    """select_window 3 with select_compare [1]: checkpoint.pt is what a run without the key
    keeps, checkpoint_select1.pt is what a select_window 1 run keeps, weight for weight, and
    run.json names both epochs."""
    import torch

    def weights(path):
        return torch.load(path, weights_only=False)["state_dict"]

    def same(a, b):
        return sorted(a) == sorted(b) and all(torch.equal(a[k], b[k]) for k in a)

    with tempfile.TemporaryDirectory() as root:
        both, meta = train_tiny(root, "both", select_window=3, select_compare=[1])
        k3, meta3 = train_tiny(root, "k3", select_window=3)
        k1, meta1 = train_tiny(root, "k1", select_window=1)
        u = [h["val_uar"] for h in meta["history"]]
        check(u == [h["val_uar"] for h in meta3["history"]], "select_compare changed the history")
        check(same(weights(os.path.join(both, "checkpoint.pt")),
                   weights(os.path.join(k3, "checkpoint.pt"))), "main pick = the k3 run's")
        alt = os.path.join(both, "checkpoint_select1.pt")
        check(same(weights(alt), weights(os.path.join(k1, "checkpoint.pt"))),
              "checkpoint_select1.pt = the k1 run's checkpoint")
        rec = meta["select_compare"]["1"]
        want1 = max(range(1, 7), key=lambda e: (u[e - 1], -e))
        check(rec["epoch"] == meta1["best_epoch"] == want1 and rec["checkpoint"] ==
              "checkpoint_select1.pt", "run.json: %r, k1 run kept %d" % (rec, meta1["best_epoch"]))
        check(meta["best_epoch"] == meta3["best_epoch"], "main epoch recorded")
        check(want1 != meta["best_epoch"], "the two rules keep different epochs here (else the "
              "weight checks above could not tell the picks apart)")
        ck = torch.load(alt, weights_only=False)
        check(ck["meta"]["best_epoch"] == want1 and ck["meta"]["select_window"] == 1,
              "the alternative checkpoint's meta names its epoch and rule")
        with open(os.path.join(both, "run.json")) as f:
            check(json.load(f)["select_compare"]["1"]["epoch"] == want1, "run.json on disk")


def t_compare():
    """compare_select.py on a fold whose test list is its validation list: each rule's test
    accuracy is what training measured on those files at that rule's epoch; a run without
    select_compare is refused by name."""
    import features as FE
    import train as T
    import compare_select as CS
    labels = D.label_list("native", "emodb")
    rng = np.random.default_rng(5)
    with tempfile.TemporaryDirectory() as tmp:
        data, cache, run = (os.path.join(tmp, x) for x in ("data", "cache", "run"))
        write_labels_csv(data, fake_items("emodb", 4, 4, labels))
        items, labels = D.load_items(["emodb"], "native", data)
        for it in items:
            path = FE.feat_path(cache, "orig", D.item_key(it))
            os.makedirs(os.path.dirname(path), exist_ok=True)
            x = rng.standard_normal((int(rng.integers(60, 120)), 128)).astype(np.float32)
            x[:, 16 * it["label"]:16 * it["label"] + 16] += 1.0   # a weak label cue
            np.save(path, x)
        val_spk = [items[-1]["speaker"]]
        tr, va = D.without_speakers(items, val_spk), D.by_speakers(items, val_spk)
        cfg = tiny_run_config(epochs=8, lr=0.02, corpora=["emodb"], label_set="native",
                              select_window=3, select_compare=[1])
        fdir = os.path.join(run, "fold0")
        store = FE.FeatureStore(cache, ["orig"])
        D.write_list(os.path.join(fdir, "lists", "test.csv"), va)
        _, meta = T.train(cfg, tr, va, labels, store, fdir, log=DEVNULL)
        buf = io.StringIO()
        res = CS.compare(run, cache=cache, data=data, log=buf)
        check(res["rules"] == ["k3", "k1"], "rules %r" % res["rules"])
        hist = {h["epoch"]: h["val_acc"] for h in meta["history"]}
        for rule, epoch in (("k3", meta["best_epoch"]),
                            ("k1", meta["select_compare"]["1"]["epoch"])):
            got = res["folds"]["fold0"][rule]
            check(got["epoch"] == epoch and abs(got["orig"][0] - hist[epoch]) < 1e-9,
                  "%s: epoch %d test %.4f, training measured %.4f at epoch %d"
                  % (rule, got["epoch"], got["orig"][0], hist[epoch], epoch))
        check(res["folds"]["fold0"]["k3"]["epoch"] != res["folds"]["fold0"]["k1"]["epoch"],
              "the rules keep different epochs here")
        d = 100 * (res["folds"]["fold0"]["k3"]["orig"][0] - res["folds"]["fold0"]["k1"]["orig"][0])
        check("mean %+.2f points" % d in buf.getvalue(), "paired difference printed: %s"
              % buf.getvalue())
        with open(os.path.join(fdir, "run.json")) as f:
            meta = json.load(f)
        del meta["select_compare"]
        with open(os.path.join(fdir, "run.json"), "w") as f:
            json.dump(meta, f)
        with contextlib.redirect_stdout(io.StringIO()):
            try:
                CS.main([run, "--cache", cache, "--data", data])
            except SystemExit as e:
                check("no select_compare" in str(e), "refusal names the key: %s" % e)
            else:
                check(False, "a run without select_compare compared")


CASES = {"config": t_config, "run": t_run, "compare": t_compare}

if __name__ == "__main__":
    run_case(CASES)

#!/usr/bin/python3
"""Tests of "validation": "train" (train.py): the validation part joins training and the final
epoch is kept, with nothing picked on any fold's voices. No corpora needed.

    test_validation_train.py CASE      CASE: config | final | protocol
"""

import contextlib
import json
import io
import os
import sys
import tempfile

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from test_train_py import (SyntheticStore, TINY_NET, check, check_refused, fake_items,  # noqa: E402
                           run_case, tiny_run_config)
from test_extra_corpus import fake_features, write_corpus  # noqa: E402

import data as D  # noqa: E402  (test_train_py put tools/train on the path)

QUIET = open(os.devnull, "w")
LABELS = ["a", "b", "c"]


def t_config():
    """Only "select" and "train"; "train" refuses the settings that pick an epoch on validation
    figures (and distill, whose teachers name a validation part); train() refuses parts that do
    not match the setting; training_parts moves the validation part into training, and on the
    shipped split (train.py) never the held-out speakers."""
    import train as T
    check(T.full_config({})["validation"] == "select", "default: early stopping on validation")
    check_refused("validation", "none", "", True, None)
    for keys in ({"select_window": 3}, {"select_compare": [3]},
                 {"distill": {"teachers": ["x"], "weight": 0.5, "temperature": 2.0}}):
        try:
            T.full_config(dict(keys, validation="train"))
        except ValueError as e:
            check("validation" in str(e), "error names validation: %s" % e)
        else:
            check(False, "validation train with %r accepted" % keys)
    corpora = fake_items("ravdess", 24, 1, LABELS) + fake_items("emodb", 16, 1, LABELS)
    tr, va, held = T.shipped_parts({}, corpora)
    check(len(va) == 12 and len(held) == 12 and len(tr) == len(corpora) - 24,
          "select: shipped parts %d / %d / %d" % (len(tr), len(va), len(held)))
    tr2, va2, held2 = T.shipped_parts({"validation": "train"}, corpora)
    check(tr2 == tr + va and va2 == [] and held2 == held,
          "train: the shipped validation speakers join training, the held-out ones stay out")
    check(not set(D.speakers(tr2)) & set(D.HELDOUT_SPEAKERS), "a held-out speaker trains")
    items = fake_items("emodb", 4, 2, LABELS)
    tr, va = items[:16], items[16:]
    check(T.training_parts({}, tr, va) == (tr, va), "select: parts unchanged")
    got_tr, got_va = T.training_parts({"validation": "train"}, tr, va)
    check(got_tr == tr + va and got_va == [], "train: validation joins training")
    for cfg, parts in ((tiny_run_config(validation="train"), (tr, va)),
                       (tiny_run_config(), (items, []))):
        with tempfile.TemporaryDirectory() as d:
            try:
                T.train(cfg, parts[0], parts[1], LABELS, SyntheticStore(), d, log=QUIET)
            except ValueError as e:
                check("training_parts" in str(e), "error says where the parts come from: %s" % e)
            else:
                check(False, "validation %s trained with %d validation utterances"
                      % (cfg.get("validation", "select"), len(parts[1])))


def t_final():
    """The final epoch's weights are kept: a run with validation "train" equals, weight for
    weight, a run on the same training utterances whose select_window spans every epoch (that
    rule can only judge, so keep, the final epoch). Its history has no validation figures and
    its run.json names the final epoch."""
    import torch
    import train as T
    torch.set_num_threads(1)
    items = fake_items("emodb", 4, 2, LABELS)
    tr, va = items[:16], items[16:]
    nets = {}
    for mode in ("train", "select"):
        cfg = tiny_run_config(epochs=3, validation=mode, **({} if mode == "train" else
                                                            {"select_window": 3}))
        with tempfile.TemporaryDirectory() as d:
            model, meta = T.train(cfg, tr, [] if mode == "train" else va, LABELS,
                                  SyntheticStore(), d, log=QUIET)
            saved = torch.load(os.path.join(d, "checkpoint.pt"), map_location="cpu")
        nets[mode] = model.state_dict()
        if mode == "train":
            check(meta["best_epoch"] == 3 == meta["epochs_run"], "kept epoch %d of %d"
                  % (meta["best_epoch"], meta["epochs_run"]))
            check(meta["n_val"] == 0 and meta["val_speakers"] == [] and meta["val_uar"] is None,
                  "no validation part recorded")
            check(all(h["val_uar"] is None and h["val_acc"] is None for h in meta["history"]),
                  "history without validation figures")
            check(saved["meta"]["best_epoch"] == 3, "the checkpoint names the final epoch")
    for k, v in nets["train"].items():
        check(torch.equal(v, nets["select"][k]), "%s differs from the final epoch's" % k)
    # The check can fail: an earlier epoch's weights differ from the final ones.
    cfg = tiny_run_config(epochs=2, validation="train")
    with tempfile.TemporaryDirectory() as d:
        model, _ = T.train(cfg, tr, [], LABELS, SyntheticStore(), d, log=QUIET)
    check(any(not torch.equal(v, nets["train"][k]) for k, v in model.state_dict().items()
              if v.dtype.is_floating_point), "two epochs' weights equal three's")


def fake_emodb_run(tmp):
    """A fake EMO-DB (every speaker of the p2 folds) with cached random features, and a run
    directory: (data, cache, out)."""
    emodb_spk = [s.split(":")[1] for f in D.speaker_folds("emodb") for s in f]
    data, cache, out = (os.path.join(tmp, x) for x in ("data", "cache", "run"))
    write_corpus(data, "emodb", emodb_spk, D.EMODB_NATIVE)
    fake_features(cache, data, ("emodb",), np.random.default_rng(3))
    return data, cache, out


def t_protocol():
    """protocols.run with validation "train" on a fake EMO-DB: the fold's validation speakers
    are in its training list, its validation list is empty, the test speaker stays out of
    training, and the fold kept its final epoch."""
    import torch
    import protocols as P
    import splits as S
    torch.set_num_threads(1)
    with tempfile.TemporaryDirectory() as tmp:
        data, cache, out = fake_emodb_run(tmp)
        cfg = {"epochs": 2, "batch": 8, "versions": ["orig"], "crop_min": 40, "crop_max": 60,
               "model": dict(TINY_NET, cmvn="speaker"), "validation": "train"}
        with contextlib.redirect_stdout(io.StringIO()):
            P.run("p2", "emodb", cfg, out, {0}, data, cache, noise=False, log=QUIET)
        items, _ = D.load_items(["emodb"], "native", data)
        _, tr0, va0, te0 = next(S.folds("p2", items))
        fold = os.path.join(out, "fold0")
        lists = {p: D.read_list(os.path.join(fold, "lists", p + ".csv"))
                 for p in ("train", "val", "test")}
        spk = {p: {r["speaker"] for r in rows} for p, rows in lists.items()}
        check(lists["val"] == [], "validation list empty")
        check(spk["train"] == set(D.speakers(tr0)) | set(D.speakers(va0)),
              "training speakers = the split's training + validation speakers: %s" % spk["train"])
        check(spk["test"] == set(D.speakers(te0)) and not spk["test"] & spk["train"],
              "test speaker apart: %s" % spk["test"])
        with open(os.path.join(fold, "test.json")) as f:
            res = json.load(f)
        check(res["best_epoch"] == 2 == res["epochs_run"] and res["val_speakers"] == [],
              "fold result: final epoch, no validation speakers: %r" % res)


def t_lanes():
    """Two lanes of protocols.run on one OUT: a fold another lane finishes while this one trains
    (after this lane passed it) is in this lane's summary.json, in fold order."""
    import shutil
    import torch
    import protocols as P
    torch.set_num_threads(1)
    with tempfile.TemporaryDirectory() as tmp:
        data, cache, out = fake_emodb_run(tmp)
        cfg = {"epochs": 1, "batch": 8, "versions": ["orig"], "crop_min": 40, "crop_max": 60,
               "model": dict(TINY_NET, cmvn="speaker")}
        with contextlib.redirect_stdout(io.StringIO()):
            P.run("p2", "emodb", cfg, out, {0}, data, cache, noise=False, log=QUIET)
        train = P.T.train

        def other_lane_finishes_fold1(*args, **kw):
            # fold1 was passed (not wanted, no test.json yet) before fold2 trains
            shutil.copytree(os.path.join(out, "fold0"), os.path.join(out, "fold1"))
            with open(os.path.join(out, "fold1", "test.json")) as f:
                res = json.load(f)
            res["fold"] = "fold1"
            with open(os.path.join(out, "fold1", "test.json"), "w") as f:
                json.dump(res, f)
            return train(*args, **kw)
        P.T.train = other_lane_finishes_fold1
        try:
            with contextlib.redirect_stdout(io.StringIO()):
                P.run("p2", "emodb", cfg, out, {2}, data, cache, noise=False, log=QUIET)
        finally:
            P.T.train = train
        with open(os.path.join(out, "summary.json")) as f:
            done = json.load(f)["folds_done"]
        check(done == ["fold0", "fold1", "fold2"], "summary folds %r" % done)


CASES = {"config": t_config, "final": t_final, "protocol": t_protocol, "lanes": t_lanes}

if __name__ == "__main__":
    run_case(CASES)

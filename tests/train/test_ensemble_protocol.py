#!/usr/bin/python3
"""`ensemble.py protocol` end to end on a corpus the test makes (always runs, no corpora needed):
63 short WAV utterances of 3 speakers, their features from the real C front end (`emotion
features`), two protocol-1 member runs of random networks on the same split (their lists,
checkpoints, exported models and summaries, as protocols.py --c-eval leaves them). The ensemble's
C figures must agree with the mean of the members' PyTorch posteriors, its per-file C posteriors
with the mean of the members' own C posteriors, the noise versions (here the clean frames again)
with the clean figure; members of different splits are refused.

    test_ensemble_protocol.py EMOTION_BIN
"""

import json
import os
import sys
import tempfile
import wave

import numpy as np
import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import test_train_py as TT  # noqa: E402  (check, fake_items, tiny_run_config; puts tools/train
                            # on the path)

import data as D  # noqa: E402
import ensemble as E  # noqa: E402
import export  # noqa: E402
import features as FE  # noqa: E402
import make_tiny_model  # noqa: E402
import metrics as MX  # noqa: E402
import model as model_lib  # noqa: E402
import protocols as P  # noqa: E402
import splits as S  # noqa: E402
import train as T  # noqa: E402

check = TT.check   # exits on the first failure


def write_corpus(data, items, rng):
    """Labels file and one 1.2 s, 16 kHz WAV per item: a label-dependent tone in noise."""
    os.makedirs(os.path.join(data, "emodb"))
    with open(os.path.join(data, "emodb", "labels.csv"), "w") as f:
        f.write("path,speaker,label,gender,duration_s\n")
        for it in items:
            f.write("%s,%s,%s,%s,1.2\n" % (it["path"], it["speaker"].split(":")[1], it["native"],
                                            it["gender"]))
            t = np.arange(19200) / 16000.0
            x = (0.3 * np.sin(2 * np.pi * (150 + 40 * it["label"]) * t)
                 + 0.05 * rng.standard_normal(t.size))
            with wave.open(os.path.join(data, "emodb", it["path"]), "wb") as w:
                w.setnchannels(1)
                w.setsampwidth(2)
                w.setframerate(16000)
                w.writeframes((np.clip(x, -1, 1) * 32767).astype("<i2").tobytes())


def member_run(run, fold, tr, va, te, cfg, net, labels):
    fdir = os.path.join(run, fold)
    for part, its in (("train", tr), ("val", va), ("test", te)):
        D.write_list(os.path.join(fdir, "lists", part + ".csv"), its)
    model_lib.save_checkpoint(os.path.join(fdir, "checkpoint.pt"), net, labels, None, "m", {})
    export.model_to_emod(net, labels, None, "m", {}, os.path.join(fdir, "model.emod"))
    MX.save_json(os.path.join(fdir, "run.json"), {"train_config": cfg})
    MX.save_json(os.path.join(run, "summary.json"), {
        "protocol": "p1", "corpus": "emodb", "folds_done": [fold], "folds_total": 5,
        "config": {"name": os.path.basename(run)}})
    return fdir


def main():
    os.environ["EMOTION_BIN"] = sys.argv[1]
    torch.set_num_threads(1)
    labels = D.label_list("native", "emodb")
    rng = np.random.default_rng(5)
    with tempfile.TemporaryDirectory() as tmp:
        data, cache = os.path.join(tmp, "data"), os.path.join(tmp, "cache")
        items = [dict(it, path=it["path"].replace(".flac", ".wav"))
                 for it in TT.fake_items("emodb", 3, 3, labels)]
        write_corpus(data, items, rng)
        FE.extract("orig", cache, data, log=open(os.devnull, "w"))
        for v in P.NOISE_VERSIONS:   # the noise versions: the clean frames again
            os.symlink(FE.feat_dir(cache, "orig"), FE.feat_dir(cache, v))
        items, labels = D.load_items(["emodb"], "native", data)
        fold, tr, va, te = next(S.folds("p1", items))
        cfg = T.full_config(TT.tiny_run_config(corpora=["emodb"], label_set="native",
                                               model=dict(TT.TINY_NET, cmvn="speaker")))
        store = T.speaker_store(FE.FeatureStore(cache, ["orig"]), cfg, items)
        nets = []
        for seed in (1, 2):
            net = make_tiny_model.random_model(dict(cfg["model"]), labels, seed)
            net.set_speaker_prior(*store.prior(D.speakers(tr)))
            nets.append(net)
        runs = [os.path.join(tmp, "m%d" % j) for j in range(2)]
        fdirs = [member_run(r, fold, tr, va, te, cfg, n, labels) for r, n in zip(runs, nets)]
        member_c = [P.c_eval_file(os.path.join(d, "model.emod"), d, data) for d in fdirs]

        out = os.path.join(tmp, "x2")
        s = E.protocol(runs, out, data, cache, log=open(os.devnull, "w"))
        with open(os.path.join(out, fold, "test.json")) as f:
            res = json.load(f)
        c = res["c_runtime"]
        check(c["n"] == len(te) and c["failed"] == 0,
              "C evaluated %d of %d files" % (c["n"], len(te)))
        check(abs(c["accuracy"] - res["orig"]["accuracy"]) < 1e-6,   # C writes 6 digits
              "C accuracy %.4f, mean of the members' PyTorch posteriors %.4f"
              % (c["accuracy"], res["orig"]["accuracy"]))
        probs = {f["path"]: np.array(f["probs"]) for f in c["files"]}
        mean = {f["path"]: np.mean([np.array(g["probs"]) for g in gs], 0)
                for f, *gs in zip(c["files"], *[m["files"] for m in member_c])}
        d = max(np.abs(probs[k] - mean[k]).max() for k in probs)
        check(d <= 2e-5, "ensemble C posteriors vs the mean of the members' C posteriors %.3g" % d)
        spread = max(np.abs(np.array(a["probs"]) - np.array(b["probs"])).max()
                     for a, b in zip(*[m["files"] for m in member_c]))
        check(spread > 0.05, "members too alike for a meaningful test (%.3g)" % spread)
        for v in P.NOISE_VERSIONS:
            check(res[v]["accuracy"] == res["orig"]["accuracy"],
                  "%s (= the clean frames) %.4f vs %.4f" % (v, res[v]["accuracy"],
                                                            res["orig"]["accuracy"]))
        check(s["folds_done"] == [fold] and s["c_runtime"]["folds"] == 1
              and s["c_runtime"]["max_abs_diff_accuracy_vs_pytorch"] < 1e-6,
              "summary: %r" % {k: s.get(k) for k in ("folds_done", "c_runtime")})
        check(os.path.exists(os.path.join(out, fold, "model.emod")), "no ensemble model kept")

        # Members without model files (pitch models have none): the same PyTorch figures, no C
        # evaluation, no ensemble file.
        os.remove(os.path.join(fdirs[1], "model.emod"))
        out_py = os.path.join(tmp, "x2_py")
        s_py = E.protocol(runs, out_py, data, cache, log=open(os.devnull, "w"))
        with open(os.path.join(out_py, fold, "test.json")) as f:
            res_py = json.load(f)
        check("c_runtime" not in res_py and "c_runtime" not in s_py
              and not os.path.exists(os.path.join(out_py, fold, "model.emod"))
              and all(res_py[v] == res[v] for v in ("orig",) + P.NOISE_VERSIONS),
              "PyTorch-only ensemble: %r" % {k: res_py.get(k) for k in ("c_runtime", "orig")})

        # A member trained on another split is refused.
        other = os.path.join(tmp, "m_other")
        _, tr2, va2, te2 = list(S.folds("p1", items))[1]
        member_run(other, fold, tr2, va2, te2, cfg, nets[0], labels)
        try:
            E.protocol([runs[0], other], os.path.join(tmp, "bad"), data, cache,
                       log=open(os.devnull, "w"))
            check(False, "members of different splits accepted")
        except ValueError as e:
            check("list differs" in str(e), "refusal message: %s" % e)
        print("ensemble protocol: %d test files, accuracy %.3f (C) = %.3f (PyTorch mean), per-file "
              "C vs mean of members %.1e" % (c["n"], c["accuracy"], res["orig"]["accuracy"], d))
    print("ok: ensemble protocol")
    return 0


if __name__ == "__main__":
    sys.exit(main())

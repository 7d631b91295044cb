"""Evaluation protocols for the networks: trains one model per fold, evaluates it on the fold's
test speakers/utterances (clean, and the 10 dB white / babble versions = protocol 3), writes the
figures, and summarises mean ± std over folds plus the pooled confusion matrix.

    /usr/bin/python3 tools/train/protocols.py --protocol p2 --corpus emodb \
        --config tools/train/configs/stream.json --out runs/p2/stream/emodb [--folds 0,3] [--epochs N]

Per fold: OUT/<fold>/{checkpoint.pt, run.json, test.json, lists/*.csv}; OUT/summary.json and
OUT/confusion.png. Folds whose test.json exists are skipped (resume after a stop), so a long
protocol can run in pieces. Model selection (early stopping) only ever sees the fold's validation
speakers (splits.py); the test part is touched once, after training. A config with "validation":
"train" trains on the validation speakers too and keeps the final epoch (lists/val.csv is empty).

--c-eval: also exports each fold's checkpoint (export.py) and evaluates it with the C runtime
(`emotion eval`), recording both figures (folds done earlier are measured then; bidirectional
models cannot be exported: not for the bilstm variant). The per-corpus protocol models use the corpus' native
labels (RAVDESS 8 classes, EMO-DB 7), as the literature reports them.
"""

import one_blas_thread  # noqa: F401  (before numpy/torch)
import same_kernels  # noqa: F401  (before numpy/torch)
import argparse
import json
import os
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import data as D  # noqa: E402
import distill as DI  # noqa: E402
import features as FE  # noqa: E402
import metrics as MX  # noqa: E402
import splits as S  # noqa: E402
import train as T  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
NOISE_VERSIONS = ("white10", "babble10")


def c_eval(ckpt, out_dir, test_items, data_root):
    """Export + `emotion eval` over the test list; returns the C figures (dict) or raises."""
    emod = os.path.join(out_dir, "model.emod")
    subprocess.run([sys.executable, os.path.join(HERE, "export.py"), ckpt, emod], check=True,
                   stdout=subprocess.DEVNULL)
    return c_eval_file(emod, out_dir, data_root)


def c_eval_file(emod, out_dir, data_root):
    """`emotion eval` of the model file emod over out_dir/lists/test.csv (test_c.json)."""
    lst = os.path.join(out_dir, "lists", "test.csv")
    res = os.path.join(out_dir, "test_c.json")
    # Speaker statistics as in training: from every file of the speaker in the fold (protocol 1's
    # test speakers also speak in its training part; in protocol 2 this adds nothing).
    every = os.path.join(out_dir, "lists", "all.csv")
    with open(every, "w") as f:
        for k, part in enumerate(("train", "val", "test")):
            with open(os.path.join(out_dir, "lists", part + ".csv")) as g:
                lines = g.readlines()
            f.writelines(lines if k == 0 else lines[1:])
    return FE.c_eval(emod, lst, D.data_dir(data_root), res, "--speaker-files", every)


def run(protocol, corpus, cfg, out, folds_wanted=None, data_root=None, cache=FE.DEFAULT_CACHE,
        noise=True, with_c=False, log=sys.stderr):
    items, labels = D.load_items([corpus], "native", data_root)
    cfg = dict(cfg)
    cfg["corpora"] = [corpus]
    cfg["label_set"] = "native"
    cfg["split"] = protocol
    full = T.full_config(cfg)
    # Extra corpora only ever join the training part (train.py: extra_corpora).
    extra = D.extra_items(full["extra_corpora"], corpus, labels, data_root)
    store = T.speaker_store(T.feature_store(cache, full), full, items + extra)
    folds = list(S.folds(protocol, items))
    for k, (name, tr, va, te) in enumerate(folds):
        tr, va = T.training_parts(full, tr, va)
        fdir = os.path.join(out, name)
        tfile = os.path.join(fdir, "test.json")
        if os.path.exists(tfile):
            with open(tfile) as f:
                res = json.load(f)
            if with_c and "c_runtime" not in res:
                # A fold trained earlier without --c-eval: measure its model in C now.
                res["c_runtime"] = c_eval(os.path.join(fdir, "checkpoint.pt"), fdir, te, data_root)
                MX.save_json(tfile, res)
            continue
        if folds_wanted is not None and k not in folds_wanted:
            continue
        os.makedirs(os.path.join(fdir, "lists"), exist_ok=True)
        for part, its in (("train", tr), ("val", va), ("test", te)):
            D.write_list(os.path.join(fdir, "lists", part + ".csv"), its)
        if extra:
            D.write_list(os.path.join(fdir, "lists", "extra.csv"), extra)
        fcfg = dict(cfg)
        fcfg["name"] = "%s-%s-%s" % (protocol, corpus, name)
        # Per-split versions (augment.SPLIT_VERSIONS) leave this fold's validation and test files
        # out of their pools.
        fcfg = FE.prepare_split_versions(fcfg, items + extra, va + te, full["denoise_db"],
                                         data_root, cache, log, FE.run_pitch(full))
        if full["distill"]:
            fcfg["distill"] = DI.resolve(full["distill"], name)
            DI.check_lists(fcfg["distill"]["teachers"], fdir)
        model, meta = T.train(fcfg, tr + extra, va, labels, store, fdir, log=log)
        res = {"fold": name, "test_speakers": D.speakers(te), "val_speakers": meta["val_speakers"],
               "best_epoch": meta["best_epoch"], "epochs_run": meta["epochs_run"],
               "train_seconds": meta["train_seconds"]}
        res["orig"], _ = T.evaluate(model, te, store, labels, "orig")
        if noise:
            for v in NOISE_VERSIONS:
                res[v], _ = T.evaluate(model, te, store, labels, v)
        if with_c:
            res["c_runtime"] = c_eval(os.path.join(fdir, "checkpoint.pt"), fdir, te, data_root)
        MX.save_json(tfile, res)
        print("%s %s %s: %s%s" % (protocol, corpus, name, MX.fmt(res["orig"]),
              "".join("  %s acc %.1f %%" % (v, 100 * res[v]["accuracy"]) for v in NOISE_VERSIONS
                      if v in res)), file=log, flush=True)
    # The summary reads every fold's result back when the run ends, not only this run's: another
    # lane on the same OUT may have finished a fold while this one trained.
    results = []
    for name, _, _, _ in folds:
        tfile = os.path.join(out, name, "test.json")
        if os.path.exists(tfile):
            with open(tfile) as f:
                results.append(json.load(f))
    summary = summarise(results, labels)
    summary.update({"protocol": protocol, "corpus": corpus, "config": cfg,
                    "folds_total": len(folds)})
    MX.save_json(os.path.join(out, "summary.json"), summary)
    if results:
        MX.plot_confusion(summary["orig"]["pooled"], os.path.join(out, "confusion.png"),
                          "%s %s (%d folds pooled): acc %.1f %%, UAR %.1f %%" % (
                              protocol, corpus, len(results),
                              100 * summary["orig"]["pooled"]["accuracy"],
                              100 * summary["orig"]["pooled"]["uar"]))
    return summary


def summarise(results, labels):
    s = {"folds_done": [r["fold"] for r in results]}
    for v in ("orig",) + NOISE_VERSIONS:
        rs = [r[v] for r in results if v in r]
        if not rs:
            continue
        s[v] = {"accuracy": MX.mean_std([r["accuracy"] for r in rs]),
                "uar": MX.mean_std([r["uar"] for r in rs]),
                "macro_f1": MX.mean_std([r["macro_f1"] for r in rs]),
                "pooled": MX.pooled(rs, labels)}
    for v in NOISE_VERSIONS:
        if v in s:
            s["drop_" + v] = {
                "accuracy_points": 100 * (s["orig"]["accuracy"]["mean"] - s[v]["accuracy"]["mean"]),
                "uar_points": 100 * (s["orig"]["uar"]["mean"] - s[v]["uar"]["mean"])}
    cs = [r["c_runtime"] for r in results if "c_runtime" in r]
    if cs:
        s["c_runtime"] = {"folds": len(cs),
                          "accuracy": MX.mean_std([c["accuracy"] for c in cs]),
                          "uar": MX.mean_std([c["uar"] for c in cs]),
                          "max_abs_diff_accuracy_vs_pytorch": max(
                              abs(r["c_runtime"]["accuracy"] - r["orig"]["accuracy"])
                              for r in results if "c_runtime" in r)}
    s["train_seconds_total"] = sum(r.get("train_seconds", 0) for r in results)
    return s


def main(argv=None):
    ap = argparse.ArgumentParser(description="run an evaluation protocol (trains per fold)")
    ap.add_argument("--protocol", choices=["p1", "p2"], required=True,
                    help="p1 random 80/10/10 x 5 seeds; p2 speaker-independent (noise p3 is "
                    "evaluated on every fold's model unless --no-noise)")
    ap.add_argument("--corpus", choices=list(D.CORPORA), required=True)
    ap.add_argument("--config", required=True)
    ap.add_argument("--out", required=True)
    ap.add_argument("--folds", default=None, help="comma-separated fold indices to run now")
    ap.add_argument("--epochs", type=int, default=None)
    ap.add_argument("--no-noise", action="store_true")
    ap.add_argument("--c-eval", action="store_true", help="also evaluate with the C runtime")
    ap.add_argument("--cache", default=FE.DEFAULT_CACHE)
    ap.add_argument("--data", default=None)
    a = ap.parse_args(argv)
    cfg = T.load_config(a.config)
    if a.epochs:
        cfg["epochs"] = a.epochs
    folds = None if a.folds is None else {int(x) for x in a.folds.split(",")}
    t0 = time.time()
    s = run(a.protocol, a.corpus, cfg, a.out, folds, a.data, a.cache, not a.no_noise, a.c_eval)
    for v in ("orig",) + NOISE_VERSIONS:
        if v in s:
            print("%s %s [%s] %d/%d folds: acc %.1f ± %.1f %%  UAR %.1f ± %.1f %%  F1 %.3f" % (
                a.protocol, a.corpus, v, len(s["folds_done"]), s["folds_total"],
                100 * s[v]["accuracy"]["mean"], 100 * s[v]["accuracy"]["std"],
                100 * s[v]["uar"]["mean"], 100 * s[v]["uar"]["std"], s[v]["macro_f1"]["mean"]))
    print("wall %.0f s" % (time.time() - t0))


if __name__ == "__main__":
    main()

#!/usr/bin/python3
"""Ensembles: several trained networks in one model file, whose posteriors nn/ averages
(format version 2, export.py write_ensemble; docs/nn.md).

    ensemble.py build OUT.emod MEMBER.emod... [--name NAME]
        one ensemble file of version-1 member files (the loader checks that they share labels,
        features, window and speaker normaliser; `emotion` and the daemon load it as any model)

    ensemble.py protocol --members RUN_DIR... --out OUT_DIR
        a protocol ensemble from protocol runs (protocols.py --c-eval) of the same protocol and
        corpus: per fold, the members' model.emod files made into one ensemble, evaluated on the
        fold's test list by the C runtime (`emotion eval`, as protocols.py does), plus the mean
        of the members' PyTorch posteriors on the clean and the 10 dB noise versions (protocol 3)
        and their agreement with C. Writes OUT/<fold>/{model.emod, test.json} and OUT/summary.json
        like protocols.py, so report.py lists it. Nothing is chosen: every member of every fold.
        Members without model.emod files (runs without --c-eval) give the PyTorch figures alone,
        and no model file.
"""

import one_blas_thread  # noqa: F401  (before numpy/torch)
import argparse
import json
import os
import shutil
import sys

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import data as D  # noqa: E402
import export  # noqa: E402
import features as FE  # noqa: E402
import metrics as MX  # noqa: E402
import model as M  # noqa: E402
import protocols as P  # noqa: E402
import splits as S  # noqa: E402
import train as T  # noqa: E402


def build(out, members, name=None, meta=None):
    """Writes the ensemble of the member .emod files; returns its id. meta["members"] defaults to
    the files' names with their directory."""
    blobs = []
    for p in members:
        with open(p, "rb") as f:
            b = f.read()
        if export.ensemble_members(b, p)[1] is not None:
            raise ValueError("%s is itself an ensemble: give its members" % p)
        blobs.append(b)
    if not 2 <= len(blobs) <= export.MAX_MEMBERS:
        raise ValueError("%d members, an ensemble has 2..%d" % (len(blobs), export.MAX_MEMBERS))
    if name is None:
        name = export.read_emod_keys(members[0], blobs[0])["general.name"] + "-x%d" % len(blobs)
    meta = dict({"members": [os.path.basename(os.path.dirname(os.path.abspath(p))) + "/"
                             + os.path.basename(p) for p in members]}, **(meta or {}))
    digest = export.write_ensemble(out, blobs, name, meta)
    return "%s@sha256:%s" % (name, digest[:16])


def protocol(member_runs, out, data_root=None, cache=FE.DEFAULT_CACHE, log=sys.stderr):
    sums = []
    for r in member_runs:
        with open(os.path.join(r, "summary.json")) as f:
            sums.append(json.load(f))
    proto, corpus = sums[0]["protocol"], sums[0]["corpus"]
    if any((s["protocol"], s["corpus"]) != (proto, corpus) for s in sums):
        raise ValueError("the member runs are of different protocols or corpora")
    folds = sorted(set.intersection(*[set(s["folds_done"]) for s in sums]))
    items, labels = D.load_items([corpus], "native", data_root)
    test_items = {name: te for name, _, _, te in S.folds(proto, items)}
    stores = {}   # one per front end and normaliser, across folds (its speaker statistics too)
    results = []
    for fold in folds:
        fdirs = [os.path.join(r, fold) for r in member_runs]
        odir = os.path.join(out, fold)
        tfile = os.path.join(odir, "test.json")
        if os.path.exists(tfile):
            with open(tfile) as f:
                results.append(json.load(f))
            continue
        os.makedirs(odir, exist_ok=True)
        shutil.copytree(os.path.join(fdirs[0], "lists"), os.path.join(odir, "lists"),
                        dirs_exist_ok=True)
        for d in fdirs[1:]:   # same split in every member run
            for part in ("train", "val", "test"):
                with open(os.path.join(d, "lists", part + ".csv")) as f, \
                        open(os.path.join(odir, "lists", part + ".csv")) as g:
                    if f.read() != g.read():
                        raise ValueError("%s: %s list differs from %s's" % (d, part, fdirs[0]))
        emods = [os.path.join(d, "model.emod") for d in fdirs]
        te = test_items[fold]
        res = {"fold": fold, "members": member_runs}
        c = None
        if all(os.path.exists(e) for e in emods):
            emod = os.path.join(odir, "model.emod")
            build(emod, emods, "%s-%s-%s-x%d" % (proto, corpus, fold, len(fdirs)))
            c = res["c_runtime"] = P.c_eval_file(emod, odir, data_root)
        probs = {}
        for d in fdirs:
            model, _ = M.load_checkpoint(os.path.join(d, "checkpoint.pt"))
            with open(os.path.join(d, "run.json")) as f:
                cfg = json.load(f)["train_config"]
            denoise_db = cfg.get("denoise_db", 0)   # runs older than the key lack it
            key = json.dumps([cfg["versions"], denoise_db, cfg["model"]], sort_keys=True)
            if key not in stores:
                stores[key] = T.speaker_store(
                    FE.FeatureStore(cache, cfg["versions"], denoise_db, pitch=FE.run_pitch(cfg)),
                    cfg, items)
            store = stores[key]
            for v in ("orig",) + P.NOISE_VERSIONS:
                probs.setdefault(v, []).append(T.evaluate(model, te, store, labels, v)[1])
        for v, ps in probs.items():
            pred = np.mean(ps, 0).argmax(1)
            res[v] = MX.figures([it["label"] for it in te], pred, labels)
        MX.save_json(tfile, res)
        results.append(res)
        print("%s %s %s x%d: C %s  torch %s%s" % (
            proto, corpus, fold, len(fdirs), MX.fmt(c) if c else "-", MX.fmt(res["orig"]),
            "".join("  %s acc %.1f %%" % (v, 100 * res[v]["accuracy"]) for v in P.NOISE_VERSIONS)),
            file=log, flush=True)
    summary = P.summarise(results, labels)
    summary.update({"protocol": proto, "corpus": corpus, "members": member_runs,
                    "config": {"name": "ensemble of " + " + ".join(
                        s["config"].get("name", "?") for s in sums)},
                    "folds_total": sums[0]["folds_total"]})
    MX.save_json(os.path.join(out, "summary.json"), summary)
    return summary


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    sub = ap.add_subparsers(dest="cmd", required=True)
    b = sub.add_parser("build", help="one ensemble file from member .emod files")
    b.add_argument("out")
    b.add_argument("members", nargs="+")
    b.add_argument("--name", default=None)
    p = sub.add_parser("protocol", help="evaluate protocol runs' fold models as ensembles")
    p.add_argument("--members", nargs="+", required=True, help="protocols.py output dirs")
    p.add_argument("--out", required=True)
    p.add_argument("--data", default=None)
    p.add_argument("--cache", default=FE.DEFAULT_CACHE)
    a = ap.parse_args(argv)
    try:
        if a.cmd == "build":
            print("%s: %s, %d bytes" % (a.out, build(a.out, a.members, a.name),
                                        os.path.getsize(a.out)))
            return 0
        s = protocol(a.members, a.out, a.data, a.cache)
    except (ValueError, OSError) as e:
        print("ensemble.py: %s" % e, file=sys.stderr)
        return 1
    for v in ("orig",) + P.NOISE_VERSIONS:
        if v in s:
            print("%s %s [%s] %d folds: acc %.1f ± %.1f %%  UAR %.1f ± %.1f %%" % (
                s["protocol"], s["corpus"], v, len(s["folds_done"]),
                100 * s[v]["accuracy"]["mean"], 100 * s[v]["accuracy"]["std"],
                100 * s[v]["uar"]["mean"], 100 * s[v]["uar"]["std"]))
    if "c_runtime" in s:
        c = s["c_runtime"]
        print("C runtime: acc %.1f %%, max |C - torch| accuracy %.2g" % (
            100 * c["accuracy"]["mean"], c["max_abs_diff_accuracy_vs_pytorch"]))
    return 0


if __name__ == "__main__":
    sys.exit(main())

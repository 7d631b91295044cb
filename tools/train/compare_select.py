"""Two epoch-selection rules on the same training runs: a paired test.

    /usr/bin/python3 tools/train/compare_select.py runs/P/VARIANT/CORPUS [--noise] [--json OUT]

A protocol run trained with train.py's select_compare [k'] holds, per fold, checkpoint.pt (the
epoch select_window k kept) and checkpoint_select<k'>.pt (the epoch k' would have kept from the
same history). This evaluates both on the fold's test list (PyTorch, the file-level rule, as
protocols.py does; the C runtime matches it to <= 1e-4) and prints per fold the two kept epochs
and test accuracy / UAR, then the means and the mean paired difference. Why paired: two rules
measured on separate runs differ by run-to-run spread too (BENCHMARKS.md "The epoch rule at
150 epochs"); on one history they differ only where the kept epoch does.
--noise adds protocol 3's white10 / babble10 test versions.
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


def compare(run, noise=False, cache=FE.DEFAULT_CACHE, data=None, log=sys.stdout):
    """{"rules": [k, k'...], "folds": {fold: {rule: {"epoch", "orig": [acc, uar], ...}}},
    "mean": {rule: {condition: [acc, uar]}}}; rule names "k3", "k1"."""
    conditions = ["orig"] + (["white10", "babble10"] if noise else [])
    folds = FR.fold_dirs(run, "test")
    if not folds:
        raise ValueError("%s: no fold with checkpoint.pt and lists/test.csv" % run)
    reader = FR.FoldReader(conditions, cache, data)
    out, rules = {}, None
    for fd in folds:
        with open(os.path.join(fd, "run.json")) as f:
            meta = json.load(f)
        alts = meta.get("select_compare")
        if not alts:
            raise ValueError("%s: run.json has no select_compare (train with select_compare "
                             "[k] to keep another rule's pick)" % fd)
        fold_rules = [("k%d" % meta["train_config"]["select_window"], "checkpoint.pt")] + \
            [("k%s" % k, v["checkpoint"]) for k, v in sorted(alts.items())]
        if rules is None:
            rules = [r for r, _ in fold_rules]
        elif rules != [r for r, _ in fold_rules]:
            raise ValueError("%s: rules %s, the run's other folds %s"
                             % (fd, [r for r, _ in fold_rules], rules))
        row = {}
        for rule, ck_name in fold_rules:
            model, ck, test, store, labels = reader.read(fd, "test", ck_name)
            rec = {"epoch": ck["meta"]["best_epoch"]}
            for v in conditions:
                fig = T.evaluate(model, test, store, labels, v)[0]
                rec[v] = [fig["accuracy"], fig["uar"]]
            row[rule] = rec
        out[os.path.basename(fd)] = row
        print("%s  %s" % (os.path.basename(fd), "   ".join(
            "%s epoch %3d %s" % (r, row[r]["epoch"], " ".join(
                "%s %.1f/%.1f" % (v, 100 * row[r][v][0], 100 * row[r][v][1]) for v in conditions))
            for r in rules)), file=log, flush=True)
    mean = {r: {v: np.mean([out[f][r][v] for f in out], 0).tolist() for v in conditions}
            for r in rules}
    for r in rules:
        print("%s mean over %d folds: %s" % (r, len(out), " ".join(
            "%s %.1f/%.1f" % (v, 100 * mean[r][v][0], 100 * mean[r][v][1]) for v in conditions)),
            file=log)
    base = rules[0]
    for r in rules[1:]:
        d = [100 * (out[f][base]["orig"][0] - out[f][r]["orig"][0]) for f in out]
        same = sum(out[f][base]["epoch"] == out[f][r]["epoch"] for f in out)
        print("%s - %s, clean accuracy per fold: %s; mean %+.2f points (%d of %d folds kept the "
              "same epoch)" % (base, r, " ".join("%+.1f" % x for x in d), float(np.mean(d)),
                               same, len(out)), file=log)
    return {"run": run, "rules": rules, "folds": out, "mean": mean}


def main(argv=None):
    ap = argparse.ArgumentParser(description="test figures of two epoch-selection rules kept "
                                 "from the same training runs (train.py select_compare)")
    ap.add_argument("run", help="protocol run directory (protocols.py --out)")
    ap.add_argument("--noise", action="store_true", help="also the white10 / babble10 versions")
    ap.add_argument("--cache", default=FE.DEFAULT_CACHE)
    ap.add_argument("--data", default=None)
    ap.add_argument("--json", default=None, help="also write the figures here")
    a = ap.parse_args(argv)
    try:
        res = compare(a.run, a.noise, a.cache, a.data)
    except ValueError as e:
        raise SystemExit("compare_select.py: %s" % e)
    if a.json:
        with open(a.json, "w") as f:
            json.dump(res, f, indent=1)


if __name__ == "__main__":
    main()

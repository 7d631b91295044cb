"""Protocol runs compared fold by fold: the A/B tables of BENCHMARKS.md.

    /usr/bin/python3 tools/train/paired.py COLUMN COLUMN [COLUMN...] [--against previous]
                                           [--json OUT]

A COLUMN is [NAME=]SOURCE, where SOURCE is a protocol run directory (protocols.py --out; its
<fold>/test.json), a compare_select.py --json file with one of its rules (FILE.json#k60: the
epoch that rule kept, from the same training histories), or shipped-split models: ship.py's
measurement files (models/emotiond-default.json and the like) joined by commas, one per seed,
where the seeds take the folds' place ("seed1", "seed2"; an ensemble "seed1+2") and the
held-out rows the conditions' (orig = speaker statistics from all files; running, prior, file =
the other normaliser states). Only the folds every column holds are compared, and they are
named in the output. Per column: mean accuracy / UAR per condition (those every column has) and
the noise drops (clean accuracy minus white10 / babble10 accuracy, points). Per later column:
its difference from the first column (or, with --against previous, from the one before it),
with the folds better and worse.
Why: two recipes differ by run-to-run spread as well; the same folds side by side, and how many
of them move each way, say more than two means recorded apart.
"""

import argparse
import glob
import json
import os
import sys

CONDITIONS = ("orig", "running", "prior", "file", "white10", "babble10")
NOISE = ("white10", "babble10")


def load_json(path):
    try:
        with open(path) as f:
            return json.load(f)
    except OSError as e:
        raise ValueError("%s: %s" % (path, e.strerror))
    except ValueError as e:
        raise ValueError("%s: not JSON (%s)" % (path, e))


def shipped_column(docs):
    """{seedN: {condition: (accuracy, uar)}} from ship.py measurements [(path, JSON)], one per
    seed."""
    out = {}
    for path, res in docs:
        if not isinstance(res, dict) or "heldout_c" not in res or "seed" not in res:
            raise ValueError("%s: not a ship.py measurement (no heldout_c / seed)" % path)
        # An ensemble's unit is its seed set, so a new ensemble pairs with the old one.
        seeds = res["seed"] if isinstance(res["seed"], list) else [res["seed"]]
        fold = "seed" + "+".join(str(s) for s in seeds)
        if fold in out:
            raise ValueError("%s: %s given twice in one column" % (path, fold))
        rows = {"orig": res["heldout_c"]}
        rows.update(res.get("heldout_c_speaker_stats") or {})
        for v in NOISE:
            if v in (res.get("heldout_c_noise") or {}):
                rows[v] = res["heldout_c_noise"][v]
        out[fold] = {v: (rows[v]["accuracy"], rows[v]["uar"]) for v in CONDITIONS if v in rows}
    return out


def read_column(source):
    """{fold: {condition: (accuracy, uar)}} from a run directory or FILE.json#rule."""
    if "," in source:
        return shipped_column([(p, load_json(p)) for p in source.split(",") if p])
    path, _, rule = source.partition("#")
    if os.path.isdir(path):
        if rule:
            raise ValueError("%s: a run directory takes no #rule" % source)
        out = {}
        for tfile in sorted(glob.glob(os.path.join(path, "*", "test.json"))):
            with open(tfile) as f:
                res = json.load(f)
            out[os.path.basename(os.path.dirname(tfile))] = {
                v: (res[v]["accuracy"], res[v]["uar"]) for v in CONDITIONS if v in res}
        if not out:
            raise ValueError("%s: no <fold>/test.json (a protocols.py --out directory?)" % path)
        return out
    if not os.path.isfile(path):
        raise ValueError("%s: neither a run directory nor a file" % path)
    res = load_json(path)
    if isinstance(res, dict) and "heldout_c" in res and not rule:
        return shipped_column([(path, res)])
    if not isinstance(res, dict) or "rules" not in res or "folds" not in res:
        raise ValueError("%s: neither compare_select.py --json output (no rules / folds) nor a "
                         "ship.py measurement (no heldout_c)" % path)
    if rule not in res["rules"]:
        raise ValueError("%s: name one of its rules as %s#RULE (%s)"
                         % (path, path, ", ".join(res["rules"])))
    return {fold: {v: tuple(row[rule][v]) for v in CONDITIONS if v in row[rule]}
            for fold, row in res["folds"].items()}


def mean(xs):
    return sum(xs) / len(xs)


def compare(columns, against="first"):
    """columns: [(name, {fold: {condition: (acc, uar)}})]. Returns the figures in points."""
    folds = sorted(set.intersection(*(set(c) for _, c in columns)))
    if not folds:
        raise ValueError("the columns share no fold")
    conds = [v for v in CONDITIONS
             if all(v in c[f] for _, c in columns for f in folds)]
    if "orig" not in conds:
        raise ValueError("a column lacks the clean figures (orig) on a shared fold")
    out = {"folds": folds, "conditions": conds, "against": against, "columns": [], "diff": []}
    for name, col in columns:
        m = {v: [100 * mean([col[f][v][i] for f in folds]) for i in (0, 1)] for v in conds}
        drops = {v: m["orig"][0] - m[v][0] for v in conds if v in NOISE}
        out["columns"].append({"name": name, "mean": m, "drops": drops})
    for k in range(1, len(columns)):
        base_name, base = columns[0 if against == "first" else k - 1]
        name, col = columns[k]
        d = {"name": name, "base": base_name}
        for v in conds:
            per = [[100 * (col[f][v][i] - base[f][v][i]) for f in folds] for i in (0, 1)]
            d[v] = {"acc": mean(per[0]), "uar": mean(per[1]),
                    "better": [sum(x > 1e-9 for x in p) for p in per],
                    "worse": [sum(x < -1e-9 for x in p) for p in per]}
        out["diff"].append(d)
    return out


def render(res, log=sys.stdout):
    conds = res["conditions"]
    print("%d folds: %s" % (len(res["folds"]), " ".join(res["folds"])), file=log)
    width = max(len(c["name"]) for c in res["columns"])
    for c in res["columns"]:
        print("%-*s  %s%s" % (width, c["name"], "  ".join(
            "%s %.1f / %.1f" % (v, *c["mean"][v]) for v in conds),
            "".join("  drop %s %.1f" % (v, c["drops"][v]) for v in conds if v in NOISE)),
            file=log)
    for d in res["diff"]:
        print("%s - %s: %s" % (d["name"], d["base"], "  ".join(
            "%s acc %+.1f (%d up, %d down) UAR %+.1f (%d up, %d down)"
            % (v, d[v]["acc"], d[v]["better"][0], d[v]["worse"][0],
               d[v]["uar"], d[v]["better"][1], d[v]["worse"][1]) for v in conds)), file=log)


def main(argv=None):
    ap = argparse.ArgumentParser(description="protocol runs compared fold by fold")
    ap.add_argument("columns", nargs="+", metavar="[NAME=]SOURCE",
                    help="a protocols.py --out directory, compare_select.py JSON#rule, or "
                         "ship.py measurement files joined by commas (one per seed)")
    ap.add_argument("--against", choices=("first", "previous"), default="first",
                    help="each later column's difference from the first column (default) or "
                         "from the column before it")
    ap.add_argument("--json", default=None, help="also write the figures here")
    a = ap.parse_args(argv)
    if len(a.columns) < 2:
        ap.error("give at least two columns to compare")
    try:
        cols = []
        for spec in a.columns:
            name, eq, source = spec.partition("=")
            if not eq:
                name, source = spec, spec
            cols.append((name, read_column(source)))
        res = compare(cols, a.against)
    except ValueError as e:
        raise SystemExit("paired.py: %s" % e)
    render(res)
    if a.json:
        with open(a.json, "w") as f:
            json.dump(res, f, indent=1)


if __name__ == "__main__":
    main()

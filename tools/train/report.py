"""Collects the protocol results under a runs directory into one Markdown table (what
BENCHMARKS.md "## Accuracy" and models/README.md quote).

    /usr/bin/python3 tools/train/report.py [--runs runs]

Reads runs/svm/<protocol>-<corpus>[-spknorm].json (svm_baseline.py) and
runs/<protocol>/<variant>/<corpus>/summary.json (protocols.py).
"""

import argparse
import glob
import json
import os


def pct(ms):
    if not ms or ms.get("mean") is None:
        return "-"
    return "%.1f ± %.1f" % (100 * ms["mean"], 100 * ms["std"])


def drop(s, v):
    d = s.get("drop_" + v)
    return "-" if not d else "%.1f" % d["accuracy_points"]


def c_runtime(s):
    """How the C runtime (`emotion eval` on the exported fold models) compares with PyTorch."""
    c = (s or {}).get("c_runtime")
    if not c:
        return "-"
    return "%d folds, acc diff <= %.1g" % (c["folds"], c["max_abs_diff_accuracy_vs_pytorch"])


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", default="runs")
    a = ap.parse_args()
    rows = []
    for f in sorted(glob.glob(os.path.join(a.runs, "svm", "p*-*.json"))):
        r = json.load(open(f))
        name = "SVM MFCC stats" + (" + speaker norm" if r["spknorm"] else "")
        n = len(r["folds"])
        rows.append((r["protocol"], r["corpus"], name, "%d/%d" % (n, n), r["orig"],
                     {"drop_white10": {"accuracy_points": 100 * (r["orig"]["accuracy"]["mean"] -
                                                                 r["white10"]["accuracy"]["mean"])}
                      if "white10" in r else None,
                      "drop_babble10": {"accuracy_points": 100 * (r["orig"]["accuracy"]["mean"] -
                                                                  r["babble10"]["accuracy"]["mean"])}
                      if "babble10" in r else None}))
    for f in sorted(glob.glob(os.path.join(a.runs, "p*", "*", "*", "summary.json"))):
        s = json.load(open(f))
        if "orig" not in s:
            continue
        variant = f.split(os.sep)[-3]
        rows.append((s["protocol"], s["corpus"], variant,
                     "%d/%d" % (len(s["folds_done"]), s["folds_total"]), s["orig"], s))
    print("| protocol | corpus | model | folds | accuracy % | UAR % | macro-F1 | drop white 10 dB "
          "| drop babble 10 dB | C runtime |")
    print("|---|---|---|---|---|---|---|---|---|---|")
    for p, c, name, folds, o, s in sorted(rows, key=lambda r: (r[0], r[1], r[2])):
        print("| %s | %s | %s | %s | %s | %s | %.3f | %s | %s | %s |" % (
            p, c, name, folds, pct(o["accuracy"]), pct(o["uar"]), o["macro_f1"]["mean"],
            drop(s, "white10"), drop(s, "babble10"), c_runtime(s)))


if __name__ == "__main__":
    main()

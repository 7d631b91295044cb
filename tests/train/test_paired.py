#!/usr/bin/python3
"""paired.py (protocol runs compared fold by fold) on run directories and a compare_select.py
JSON the test writes with known figures: the means, differences and fold counts it must print,
only the folds every column holds, and a clear error for each bad column.

    test_paired.py CASE      CASE: runs | select | shipped | refusals
"""

import json
import os
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from test_train_py import check, run_case  # noqa: E402

PAIRED = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "tools", "train",
                      "paired.py")


def fig(acc, uar):
    return {"accuracy": acc, "uar": uar, "n": 10}


def write_run(root, name, folds):
    """folds: {fold: (clean acc, clean uar, white acc, babble acc)}; noisy UAR = acc - 0.05."""
    run = os.path.join(root, name)
    for fold, (ca, cu, wa, ba) in folds.items():
        os.makedirs(os.path.join(run, fold))
        with open(os.path.join(run, fold, "test.json"), "w") as f:
            json.dump({"fold": fold, "orig": fig(ca, cu), "white10": fig(wa, wa - 0.05),
                       "babble10": fig(ba, ba - 0.05)}, f)
    return run


def paired(*args):
    p = subprocess.run([sys.executable, PAIRED] + list(args), capture_output=True, text=True)
    return p.returncode, p.stdout, p.stderr


def t_runs():
    with tempfile.TemporaryDirectory() as tmp:
        a = write_run(tmp, "a", {"fold0": (0.50, 0.40, 0.40, 0.30), "fold1": (0.70, 0.60, 0.60, 0.50),
                                 "fold2": (0.90, 0.90, 0.90, 0.90)})
        b = write_run(tmp, "b", {"fold0": (0.60, 0.40, 0.50, 0.50), "fold1": (0.60, 0.70, 0.60, 0.60)})
        c = write_run(tmp, "c", {"fold0": (0.70, 0.50, 0.70, 0.70), "fold1": (0.70, 0.70, 0.60, 0.60)})
        out_json = os.path.join(tmp, "res.json")
        rc, out, err = paired("A=" + a, "B=" + b, "C=" + c, "--json", out_json)
        check(rc == 0, "exit %d: %s" % (rc, err))
        # fold2 is only in A: left out, and said so.
        check(out.startswith("2 folds: fold0 fold1\n"), "shared folds named:\n" + out)
        check("A  orig 60.0 / 50.0  white10 50.0 / 45.0  babble10 40.0 / 35.0  "
              "drop white10 10.0  drop babble10 20.0" in out, "A's means and drops:\n" + out)
        check("B - A: orig acc +0.0 (1 up, 1 down) UAR +5.0 (1 up, 0 down)  "
              "white10 acc +5.0 (1 up, 0 down)" in out, "B against A:\n" + out)
        check("C - A: orig acc +10.0 (1 up, 0 down)" in out, "C against the first column:\n" + out)
        res = json.load(open(out_json))
        check(res["folds"] == ["fold0", "fold1"] and res["diff"][1]["base"] == "A",
              "JSON folds and base: %s" % res["diff"])
        check(abs(res["columns"][2]["drops"]["babble10"] - 5.0) < 1e-9,
              "C's babble drop: %s" % res["columns"][2])
        rc, out, err = paired("A=" + a, "B=" + b, "C=" + c, "--against", "previous")
        check(rc == 0 and "C - B: orig acc +10.0 (2 up, 0 down) UAR +5.0 (1 up, 0 down)" in out,
              "C against the column before it:\n" + out + err)
        # A name defaults to the source as given.
        rc, out, _ = paired(a, b)
        check(rc == 0 and ("%s - %s:" % (b, a)) in out, "default names:\n" + out)


def t_select():
    with tempfile.TemporaryDirectory() as tmp:
        a = write_run(tmp, "a", {"fold0": (0.50, 0.40, 0.40, 0.30), "fold1": (0.70, 0.60, 0.60, 0.50)})
        sel = {"run": a, "rules": ["k1", "k60"], "folds": {
            f: {"k1": {"epoch": 30, "orig": [0.5, 0.5]},
                "k60": {"epoch": 60, "orig": [0.8 if f == "fold0" else 0.6, 0.7]}}
            for f in ("fold0", "fold1")}}
        sj = os.path.join(tmp, "sel.json")
        with open(sj, "w") as f:
            json.dump(sel, f)
        rc, out, err = paired("run=" + a, "final=%s#k60" % sj)
        check(rc == 0, "exit %d: %s" % (rc, err))
        # Noise figures only where every column has them: the JSON holds clean ones only.
        check("white10" not in out and "final  orig 70.0 / 70.0" in out, "clean only:\n" + out)
        check("final - run: orig acc +10.0 (1 up, 1 down) UAR +20.0 (2 up, 0 down)" in out,
              "rule column against the run:\n" + out)
        rc, _, err = paired("run=" + a, "x=%s#k3" % sj)
        check(rc != 0 and "k1, k60" in err, "an unknown rule names the rules: " + err)


def write_ship(root, name, seed, clean, running, white, babble):
    """A ship.py measurement file; UAR = accuracy - 0.1, prior / file rows fixed."""
    def row(acc):
        return {"accuracy": acc, "uar": acc - 0.1, "macro_f1": acc, "n": 247, "failed": 0}
    path = os.path.join(root, name + ".json")
    with open(path, "w") as f:
        json.dump({"seed": seed, "heldout_c": dict(row(clean), labels=["a"], confusion=[[1]]),
                   "heldout_c_speaker_stats": {"running": row(running), "prior": row(0.4),
                                               "file": row(0.3)},
                   "heldout_c_noise": {"white10": row(white), "babble10": row(babble)}}, f)
    return path


def t_shipped():
    with tempfile.TemporaryDirectory() as tmp:
        r1 = write_ship(tmp, "r1", 1, 0.70, 0.70, 0.60, 0.50)
        r2 = write_ship(tmp, "r2", 2, 0.60, 0.70, 0.50, 0.50)
        n1 = write_ship(tmp, "n1", 1, 0.80, 0.70, 0.60, 0.60)
        n2 = write_ship(tmp, "n2", 2, 0.50, 0.80, 0.50, 0.60)
        rc, out, err = paired("R=%s,%s" % (r1, r2), "N=%s,%s" % (n1, n2))
        check(rc == 0, "exit %d: %s" % (rc, err))
        check(out.startswith("2 folds: seed1 seed2\n"), "seeds as folds:\n" + out)
        check("R  orig 65.0 / 55.0  running 70.0 / 60.0  prior 40.0 / 30.0  file 30.0 / 20.0  "
              "white10 55.0 / 45.0  babble10 50.0 / 40.0  drop white10 10.0  drop babble10 15.0"
              in out, "R's held-out rows, drops from noise only:\n" + out)
        check("N - R: orig acc +0.0 (1 up, 1 down)" in out and
              "running acc +5.0 (1 up, 0 down)" in out and "babble10 acc +10.0 (2 up, 0 down)" in out,
              "N against R, seed by seed:\n" + out)
        # An ensemble pairs with an ensemble of the same seeds, not with a network.
        for name, seeds in (("e_old", [1, 2]), ("e_new", [1, 2])):
            path = write_ship(tmp, name, 1, 0.7 if name == "e_old" else 0.75, 0.7, 0.6, 0.5)
            with open(path) as f:
                res = json.load(f)
            res["seed"] = seeds
            with open(path, "w") as f:
                json.dump(res, f)
        rc, out, err = paired("old=" + os.path.join(tmp, "e_old.json"),
                              "new=" + os.path.join(tmp, "e_new.json"))
        check(rc == 0 and out.startswith("1 folds: seed1+2\n") and
              "new - old: orig acc +5.0 (1 up, 0 down)" in out, "ensembles:\n" + out + err)
        rc, _, err = paired("R=%s,%s" % (r1, r1), "N=%s,%s" % (n1, n2))
        check(rc != 0 and "seed1 given twice" in err, "a seed twice in a column: " + err)


def t_refusals():
    with tempfile.TemporaryDirectory() as tmp:
        a = write_run(tmp, "a", {"fold0": (0.5, 0.4, 0.4, 0.3)})
        b = write_run(tmp, "b", {"fold1": (0.5, 0.4, 0.4, 0.3)})
        empty = os.path.join(tmp, "empty")
        os.makedirs(empty)
        junk = os.path.join(tmp, "junk.json")
        with open(junk, "w") as f:
            f.write("{not json")
        cases = [((a, b), "share no fold"), ((a, empty), "no <fold>/test.json"),
                 ((a, junk + "#k1"), "not JSON"), ((a, os.path.join(tmp, "nope")), "neither"),
                 ((a, a + "#k1"), "takes no #rule"),
                 ((a, junk + "," + junk), "not JSON"),
                 ((a, os.path.join(tmp, "gone.json") + ","), "No such file"),
                 ((a, os.path.join(tmp, "a", "fold0", "test.json")), "nor a ship.py measurement"),
                 ((a, os.path.join(tmp, "a", "fold0", "test.json") + ","),
                  "not a ship.py measurement")]
        for args, want in cases:
            rc, _, err = paired(*args)
            check(rc != 0 and "paired.py: " in err and want in err,
                  "%s: exit %d, %r" % (args, rc, err))
        rc, _, err = paired(a)
        check(rc == 2 and "at least two columns" in err, "one column: %d %r" % (rc, err))


CASES = {"runs": t_runs, "select": t_select, "shipped": t_shipped, "refusals": t_refusals}

if __name__ == "__main__":
    run_case(CASES)

#!/usr/bin/python3
"""ship.py end to end on the real corpora (skips with 77 without them): two training runs of
random networks (checkpoint.pt + run.json as train.py leaves them) shipped alone and as an
ensemble into a temporary models dir. The model's JSON must record what `emotion eval` measures
on the validation and held-out lists, every normaliser state, and the held-out noise figures
(checked against an independent eval of the noisy copies); the commands must name the runs.
The ensemble's second member trained on the validation speakers (validation "train"), so the
ensemble records no validation figure and names that member.

    test_ship.py EMOTION_BIN
"""

import json
import os
import subprocess
import sys
import tempfile

import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import test_train_py as TT  # noqa: E402  (check; puts tools/train on the path)
import test_heldout as TH  # noqa: E402  (has_noise_copies)

import augment as A  # noqa: E402
import data as D  # noqa: E402
import features as FE  # noqa: E402
import heldout_noise as HN  # noqa: E402
import make_tiny_model  # noqa: E402
import metrics as MX  # noqa: E402
import model as model_lib  # noqa: E402
import train as T  # noqa: E402

check = TT.check   # exits on the first failure
SHIP = os.path.join(FE.REPO, "tools", "train", "ship.py")


def fake_run(run_dir, labels, seed, validation="select"):
    """A run dir as train.py leaves it, of a random network of the shipped shape (seeds 1 and 2:
    their decisions vary from file to file, where the tiny test network's do not); validation
    "train" as a run that trained on the validation speakers records it."""
    with open(os.path.join(FE.REPO, "tools", "train", "configs", "default.json")) as f:
        shape = json.load(f)["model"]
    net = make_tiny_model.random_model(shape, labels, seed)
    g = torch.Generator().manual_seed(0)   # one prior for all runs, as training gives them
    M = net.config["n_mels"]
    net.set_speaker_prior(-6.0 + torch.randn(M, generator=g), 2.0 + torch.rand(M, generator=g))
    os.makedirs(run_dir)
    model_lib.save_checkpoint(os.path.join(run_dir, "checkpoint.pt"), net, labels, None,
                              "emotiond-test", {})
    MX.save_json(os.path.join(run_dir, "run.json"), {
        "train_config": {"corpora": list(D.CORPORA), "label_set": "unified7", "seed": seed,
                         "validation": validation},
        "config_file": "tools/train/configs/default.json", "epochs_run": 1, "best_epoch": 1,
        "train_seconds": 1.0, "val_acc": 0.0, "val_uar": 0.0, "history": [], "n_train": 0,
        "n_val": 0, "train_speakers": [], "val_speakers": []})


def ship(runs, models, name, cache, data):
    cmd = [sys.executable, SHIP, "--models", models, "--name", name, "--cache", cache,
           "--data", data]
    for r in runs:
        cmd += ["--run", r]
    r = subprocess.run(cmd, capture_output=True, text=True, timeout=280)
    check(r.returncode == 0, "ship.py exited %d: %s" % (r.returncode, r.stderr[-2000:]))
    with open(os.path.join(models, name + ".json")) as f:
        return json.load(f), r.stdout


def check_record(rec, emod, runs, cache, heldout_rows, n_val):
    name = os.path.splitext(os.path.basename(emod))[0]
    check(os.path.isfile(emod) and rec["file_bytes"] == os.path.getsize(emod),
          "model file %s: %r bytes recorded" % (emod, rec.get("file_bytes")))
    check(rec["members"] == len(runs) and len(rec["member_runs"]) == len(runs),
          "members %r for %d runs" % (rec["members"], len(runs)))
    check(rec["heldout_c"]["n"] == len(heldout_rows)
          and rec["heldout_c"]["failed"] == 0, "held-out clean %r" % rec["heldout_c"])
    check(sorted(rec["heldout_c_speaker_stats"]) == ["file", "prior", "running"],
          "normaliser states %r" % sorted(rec["heldout_c_speaker_stats"]))
    # The noise figures are what `emotion eval` says of the noisy copies, model for model.
    with tempfile.TemporaryDirectory() as tmp:
        lst = os.path.join(tmp, "wav.csv")
        HN.write_wav_list(heldout_rows, lst)
        for v in A.TEST_NOISE_VERSIONS:
            got = FE.c_eval(emod, lst, os.path.join(cache, "wav", v), os.path.join(tmp, v))
            r = rec["heldout_c_noise"][v]
            check(got["model"] == rec["model_id"], "%s is %s, the record says %s"
                  % (emod, got["model"], rec["model_id"]))
            check(r["n"] == got["n"] == len(heldout_rows) and r["accuracy"] == got["accuracy"]
                  and r["uar"] == got["uar"], "%s: recorded %r, eval says %r" % (v, r, {k: got[k] for k in HN.KEYS}))
            check(got["confusion"] != rec["heldout_c"]["confusion"],
                  "%s: the same decisions as on clean speech" % v)
            want = round(100 * (rec["heldout_c"]["accuracy"] - got["accuracy"]), 2)
            check(r["drop_points"] == want, "%s drop %r, want %r" % (v, r["drop_points"], want))
    # The recorded command must rebuild this file, not overwrite the default model.
    check(rec["commands"][-1] == "/usr/bin/python3 tools/train/ship.py " + " ".join(
        "--run " + os.path.relpath(r, FE.REPO) for r in runs) + " --name " + name,
        "command %r" % rec["commands"][-1])
    if n_val is None:   # a member trained on the validation speakers: no validation figure
        check(rec["val"] is None and rec["val_trained_by"] == [os.path.relpath(runs[-1], FE.REPO)],
              "validation %r, trained by %r" % (rec["val"], rec["val_trained_by"]))
        return
    check(rec["val"] is not None and rec["val_trained_by"] == [], "validation %r" % rec["val"])
    with open(os.path.join(runs[0], "val_c.json")) as f:
        val = json.load(f)
    check(val["n"] == n_val and val["accuracy"] == rec["val"]["accuracy"],
          "validation: %d files, accuracy %r; want %d files, recorded %r"
          % (val["n"], val["accuracy"], n_val, rec["val"]["accuracy"]))


def main():
    os.environ["EMOTION_BIN"] = sys.argv[1]
    torch.set_num_threads(1)
    data = os.environ.get("EMOTIOND_DATA", "")
    if not data or not all(os.path.isfile(os.path.join(data, c, "labels.csv"))
                           for c in D.CORPORA):
        print("SKIP: corpora not found (EMOTIOND_DATA=%r needs ravdess/ and emodb/ with "
              "labels.csv); ship.py measures on their validation and held-out speakers" % data)
        return 77
    labels = D.label_list("unified7")
    items, _ = D.load_items(D.CORPORA, "unified7", data)
    n_val = len(T.shipped_split(items)[1])
    rows = D.read_list(HN.HELDOUT)
    with tempfile.TemporaryDirectory() as tmp:
        cache = FE.DEFAULT_CACHE if TH.has_noise_copies(FE.DEFAULT_CACHE, HN.HELDOUT) else tmp
        runs = [os.path.join(tmp, "run%d" % s) for s in (1, 2)]
        fake_run(runs[0], labels, 1)
        fake_run(runs[1], labels, 2, validation="train")
        models = os.path.join(tmp, "models")
        one, out = ship(runs[:1], models, "single", cache, data)
        check("white10" in out and "babble10" in out, "ship.py output lacks noise: %s" % out)
        check_record(one, os.path.join(models, "single.emod"), runs[:1], cache, rows, n_val)
        check(os.path.isfile(os.path.join(models, "single-heldout.png")), "no confusion PNG")
        two, out = ship(runs, models, "pair", cache, data)
        check("validation (C runtime) none: the validation speakers trained" in out,
              "ship.py output on a member trained on them: %s" % out)
        check_record(two, os.path.join(models, "pair.emod"), runs, cache, rows, None)
        check(two["model_id"] != one["model_id"], "the ensemble has the single model's id")
        print("ship: %s and %s, held-out clean %.3f / %.3f, white10 %.3f / %.3f"
              % (one["model_id"], two["model_id"], one["heldout_c"]["accuracy"],
                 two["heldout_c"]["accuracy"], one["heldout_c_noise"]["white10"]["accuracy"],
                 two["heldout_c_noise"]["white10"]["accuracy"]))
    print("ok: ship")
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Ships trained runs as the default model: exports the checkpoint (export.py), or with several
runs an ensemble of their checkpoints (one file whose posteriors are the mean of the networks':
ensemble.py), measures it on the validation and the held-out speakers with the C runtime
(`emotion eval`), and writes the figures next to the model.

    /usr/bin/python3 tools/train/ship.py --run runs/default_s1 [--run runs/default_s2 ...] \
        [--models models] [--name emotiond-default]

Writes MODELS/emotiond-default.emod, MODELS/emotiond-default.json (config, seeds, epochs, training
times, validation figures (none when a run trained on the validation speakers: train.py
validation "train") and held-out figures, clean and at 10 dB white / babble noise
(heldout_noise.py), model id, and per member for an ensemble) and
MODELS/emotiond-default-heldout.png. The held-out list is always the repository's
models/heldout.txt.
"""

import one_blas_thread  # noqa: F401  (before numpy/torch)
import argparse
import json
import os
import subprocess
import sys
import tempfile

import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import data as D  # noqa: E402
import ensemble as E  # noqa: E402
import features as FE  # noqa: E402
import heldout_noise as HN  # noqa: E402
import metrics as MX  # noqa: E402
import model as M  # noqa: E402
import train as T  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
HELDOUT = HN.HELDOUT   # models/heldout.txt


def member_record(run_dir):
    """(run.json, checkpoint, the member's entry in the model's JSON)."""
    with open(os.path.join(run_dir, "run.json")) as f:
        run = json.load(f)
    model, ck = M.load_checkpoint(os.path.join(run_dir, "checkpoint.pt"))
    return run, ck, {
        "run": os.path.relpath(os.path.abspath(run_dir), FE.REPO),
        "seed": run["train_config"]["seed"],
        "config_file": run.get("config_file", "tools/train/configs/default.json"),
        "parameters": M.count_parameters(model),
        "epochs_run": run["epochs_run"],
        "best_epoch": run["best_epoch"],
        "train_seconds": round(run["train_seconds"], 1),
        "val_pytorch": {"accuracy": run["val_acc"], "uar": run["val_uar"]},
        "heldout_pytorch": {k: run["heldout_pytorch"][k] for k in ("n", "accuracy", "uar",
                                                                   "macro_f1")}
        if "heldout_pytorch" in run else None,
    }


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--run", required=True, action="append",
                    help="training run dir (checkpoint.pt, run.json); repeat for an ensemble")
    ap.add_argument("--models", default=os.path.join(FE.REPO, "models"))
    ap.add_argument("--name", default="emotiond-default")
    ap.add_argument("--data", default=None)
    ap.add_argument("--cache", default=FE.DEFAULT_CACHE,
                    help="augment.py's cache: held-out files in white10 / babble10 (made if absent)")
    a = ap.parse_args(argv)
    os.makedirs(a.models, exist_ok=True)
    emod = os.path.join(a.models, a.name + ".emod")
    with tempfile.TemporaryDirectory() as tmp:
        parts = []
        for j, r in enumerate(a.run):
            parts.append(emod if len(a.run) == 1 else os.path.join(tmp, "member%d.emod" % j))
            subprocess.run([sys.executable, os.path.join(HERE, "export.py"),
                            os.path.join(r, "checkpoint.pt"), parts[-1]], check=True,
                           stdout=subprocess.DEVNULL)
        if len(a.run) > 1:   # the runs, not the temporary files, so that the id is reproducible
            E.build(emod, parts, a.name, {"members": [
                os.path.relpath(os.path.abspath(r), FE.REPO) for r in a.run]})
    runs, cks, members = zip(*[member_record(r) for r in a.run])
    ck = cks[0]
    first = a.run[0]
    # Validation speakers (they chose each member's epoch) and held-out speakers, in C; the
    # held-out speakers also in the other states of the speaker normaliser (docs/nn.md): causal
    # (each file judged with the speaker's earlier files only, from the prior, as the daemon
    # runs), one file's statistics, and none (the prior: a voice not heard yet). A member
    # trained on the validation speakers (validation "train") leaves no validation figure.
    tc = runs[0]["train_config"]
    data_root = D.data_dir(a.data)
    trained_on_val = [m["run"] for r, m in zip(runs, members)
                      if r["train_config"].get("validation", "select") == "train"]
    val = None
    if not trained_on_val:
        items, _ = D.load_items(tc["corpora"], tc["label_set"], a.data)
        val_list = os.path.join(first, "val.csv")
        D.write_list(val_list, T.shipped_split(items)[1])
        val = FE.c_eval(emod, val_list, data_root, os.path.join(first, "val_c.json"))
    png = os.path.join(a.models, a.name + "-heldout.png")
    c = FE.c_eval(emod, HELDOUT, data_root, os.path.join(first, "heldout_c.json"),
                  "--png", png)
    states = {m: FE.c_eval(emod, HELDOUT, data_root,
                           os.path.join(first, "heldout_c_%s.json" % m), "--speaker-stats", m)
              for m in ("running", "file", "prior")}
    noise = HN.measure(emod, a.cache, a.data, clean=c)   # protocol 3 on the held-out speakers
    rel = os.path.relpath
    runs_rel = " ".join("--run %s" % rel(os.path.abspath(r), FE.REPO) for r in a.run)
    train_cmds = ["/usr/bin/python3 tools/train/train.py --config %s --seed %d --out %s%s"
                  % (m["config_file"], m["seed"], m["run"], " &" if len(a.run) > 1 else "")
                  for m in members]
    if len(a.run) > 1:
        train_cmds.append("wait   # the members train side by side, one job per core")
    out = {
        "model_id": c["model"],
        "file": rel(os.path.abspath(emod), FE.REPO),
        "file_bytes": os.path.getsize(emod),
        "members": len(a.run),
        "parameters": sum(m["parameters"] for m in members),
        "labels": ck["labels"],
        "architecture": ck["config"],
        "dsp_params": ck["dsp_params"],
        "train_config": runs[0]["train_config"],
        "seed": [m["seed"] for m in members] if len(a.run) > 1 else members[0]["seed"],
        "epochs_run": runs[0]["epochs_run"],
        "best_epoch": ([m["best_epoch"] for m in members] if len(a.run) > 1
                       else members[0]["best_epoch"]),
        "train_seconds": max(m["train_seconds"] for m in members),
        "n_train": runs[0]["n_train"],
        "n_val": runs[0]["n_val"],
        "train_speakers": runs[0]["train_speakers"],
        "val_speakers": runs[0]["val_speakers"],
        "heldout_speakers": list(D.HELDOUT_SPEAKERS),
        "val": {"accuracy": val["accuracy"], "uar": val["uar"]} if val else None,
        "val_trained_by": trained_on_val,
        "heldout_c": {k: c[k] for k in HN.KEYS + ("labels", "confusion")},
        "heldout_c_speaker_stats": {m: {k: s[k] for k in HN.KEYS}
                                    for m, s in states.items()},
        "heldout_c_noise": noise,
        "member_runs": list(members),
        "history": [r["history"] for r in runs] if len(a.run) > 1 else runs[0]["history"],
        "commands": [
            "/usr/bin/python3 tools/train/augment.py --cache /var/tmp/emotiond-cache",
            "/usr/bin/python3 tools/train/features.py",
        ] + train_cmds + ["/usr/bin/python3 tools/train/ship.py %s%s" % (
            runs_rel, "" if a.name == "emotiond-default" else " --name " + a.name)],
        "torch": torch.__version__,
    }
    MX.save_json(os.path.join(a.models, a.name + ".json"), out)
    print("shipped %s (%d member%s): validation (C runtime) %s" % (
        c["model"], len(a.run), "s" if len(a.run) > 1 else "",
        MX.fmt(val) if val else "none: the validation speakers trained %s"
        % ", ".join(trained_on_val)))
    print("  held-out (C runtime) %s" % MX.fmt(c))
    for m, s in states.items():
        print("  --speaker-stats %-7s %s" % (m, MX.fmt(s)))
    for v, r in noise.items():
        print("  %-23s %s, drop %.1f points" % (v, MX.fmt(r), r["drop_points"]))


if __name__ == "__main__":
    main()

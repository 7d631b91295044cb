"""Ships a trained run as the default model: exports the checkpoint (export.py), measures it on
the held-out list with the C runtime (`emotion eval`), and writes the figures next to the model.

    /usr/bin/python3 tools/train/ship.py --run runs/default [--models models]

Writes models/emotiond-default.emod, models/emotiond-default.json (config, seed, epochs, training
time, validation and held-out figures, model id) and models/emotiond-default-heldout.png.
"""

import one_blas_thread  # noqa: F401  (before numpy/torch)
import argparse
import json
import os
import subprocess
import sys

import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import data as D  # noqa: E402
import features as FE  # noqa: E402
import metrics as MX  # noqa: E402
import model as M  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--run", required=True, help="training run dir (checkpoint.pt, run.json)")
    ap.add_argument("--models", default=os.path.join(FE.REPO, "models"))
    ap.add_argument("--name", default="emotiond-default")
    ap.add_argument("--data", default=None)
    a = ap.parse_args(argv)
    ckpt = os.path.join(a.run, "checkpoint.pt")
    emod = os.path.join(a.models, a.name + ".emod")
    subprocess.run([sys.executable, os.path.join(HERE, "export.py"), ckpt, emod], check=True)
    heldout = os.path.join(a.models, "heldout.txt")
    res = os.path.join(a.run, "heldout_c.json")
    png = os.path.join(a.models, a.name + "-heldout.png")
    env = dict(os.environ, OPENBLAS_NUM_THREADS="1")
    subprocess.run([FE.emotion_bin(), "eval", "--model", emod, "--list", heldout, "--data",
                    D.data_dir(a.data), "--json", res, "--png", png, "--quiet"], check=True,
                   env=env)
    with open(res) as f:
        c = json.load(f)
    # The other states of the speaker normaliser (docs/nn.md): causal (each file judged with the
    # speaker's earlier files only, from the prior, as the daemon runs), one file's statistics,
    # and none (the prior: a voice not heard yet).
    states = {}
    for mode in ("running", "file", "prior"):
        r = os.path.join(a.run, "heldout_c_%s.json" % mode)
        subprocess.run([FE.emotion_bin(), "eval", "--model", emod, "--list", heldout, "--data",
                        D.data_dir(a.data), "--json", r, "--quiet", "--speaker-stats", mode],
                       check=True, env=env, stdout=subprocess.DEVNULL)
        with open(r) as f:
            states[mode] = json.load(f)
    with open(os.path.join(a.run, "run.json")) as f:
        run = json.load(f)
    model, ck = M.load_checkpoint(ckpt)
    rel = os.path.relpath
    out = {
        "model_id": c["model"],
        "file": rel(emod, FE.REPO),
        "file_bytes": os.path.getsize(emod),
        "parameters": M.count_parameters(model),
        "labels": ck["labels"],
        "architecture": ck["config"],
        "dsp_params": ck["dsp_params"],
        "train_config": run["train_config"],
        "seed": run["train_config"]["seed"],
        "epochs_run": run["epochs_run"],
        "best_epoch": run["best_epoch"],
        "train_seconds": round(run["train_seconds"], 1),
        "n_train": run["n_train"],
        "n_val": run["n_val"],
        "train_speakers": run["train_speakers"],
        "val_speakers": run["val_speakers"],
        "heldout_speakers": list(D.HELDOUT_SPEAKERS),
        "val": {"accuracy": run["val_acc"], "uar": run["val_uar"]},
        "heldout_c": {k: c[k] for k in ("n", "failed", "accuracy", "uar", "macro_f1", "labels",
                                        "confusion")},
        "heldout_c_speaker_stats": {m: {k: s[k] for k in ("n", "failed", "accuracy", "uar", "macro_f1")}
                                    for m, s in states.items()},
        "heldout_pytorch": {k: run["heldout_pytorch"][k] for k in ("n", "accuracy", "uar",
                                                                   "macro_f1")}
        if "heldout_pytorch" in run else None,
        "history": run["history"],
        "commands": [
            "/usr/bin/python3 tools/train/augment.py --cache /var/tmp/emotiond-cache",
            "/usr/bin/python3 tools/train/features.py",
            "/usr/bin/python3 tools/train/train.py --config %s --out %s"
            % (run.get("config_file", "tools/train/configs/default.json"), rel(a.run, FE.REPO)),
            "/usr/bin/python3 tools/train/ship.py --run %s" % rel(a.run, FE.REPO),
        ],
        "torch": torch.__version__,
    }
    MX.save_json(os.path.join(a.models, a.name + ".json"), out)
    print("shipped %s: held-out (C runtime) %s" % (c["model"], MX.fmt(c)))
    for m, s in states.items():
        print("  --speaker-stats %-7s %s" % (m, MX.fmt(s)))


if __name__ == "__main__":
    main()

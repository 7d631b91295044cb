"""Distillation: soft targets from trained teachers for one streaming student (train.py).

Config key "distill" (run_config.DEFAULTS; {} = off):
    {"teachers": ["runs/p1/end_e150/ravdess/{fold}", ...], "weight": 0.5, "temperature": 2.0}
Each teacher is a run directory holding checkpoint.pt; protocols.py replaces "{fold}" with the
fold's directory name (seed0, a01, ...) and refuses a teacher whose train/val/test lists differ
from the student's fold (a teacher that saw a test file would leak it into the student).

Why: an ensemble of streaming networks beats each of them by 3-5 points (BENCHMARKS.md,
"Ensembles"), but costs one network's CPU per member in the daemon. A student of one network's
size trained on the ensemble's posteriors (Hinton et al. 2015) may keep part of that gain.

Target of a crop: the teachers' mean of softmax(logits / T) over the whole file it was cut from,
in the crop's version (eval_file's windows, the file-level rule), computed once per (file,
version) and kept. Loss per supervised step: (1 - weight) x the class-weighted cross-entropy
with the label + weight x T^2 x KL(target || softmax(student logits / T)).
"""

import os

import numpy as np
import torch
import torch.nn.functional as F

import data as D
import model as M

# Model-config keys that decide what a teacher's input features are: they must equal the
# student's, since both read the same store.
SAME_INPUT_KEYS = ("n_mels", "cmvn", "cmvn_eps", "level_floor")


def check_config(d):
    """Validates a "distill" config dict; returns it with defaults filled ({} stays {})."""
    if not d:
        return {}
    unknown = set(d) - {"teachers", "weight", "temperature"}
    if unknown:
        raise ValueError("distill: unknown key(s) %s (known: teachers, weight, temperature)"
                         % ", ".join(sorted(unknown)))
    out = {"weight": 0.5, "temperature": 2.0}
    out.update(d)
    if not (isinstance(out.get("teachers"), list) and out["teachers"]
            and all(isinstance(t, str) for t in out["teachers"])):
        raise ValueError("distill.teachers must be a non-empty list of run directories")
    if not 0.0 < out["weight"] <= 1.0:
        raise ValueError("distill.weight must be in (0, 1], got %r" % (out["weight"],))
    if not out["temperature"] > 0.0:
        raise ValueError("distill.temperature must be > 0, got %r" % (out["temperature"],))
    return out


def resolve(d, fold):
    """The config with "{fold}" in the teacher paths replaced by the fold's directory name."""
    out = dict(d)
    out["teachers"] = [t.replace("{fold}", fold) for t in d["teachers"]]
    return out


def check_lists(teacher_dirs, fold_dir):
    """Raises unless every teacher's lists/{train,val,test}.csv equal the student fold's."""
    for t in teacher_dirs:
        for part in ("train", "val", "test"):
            mine = os.path.join(fold_dir, "lists", part + ".csv")
            theirs = os.path.join(t, "lists", part + ".csv")
            if not os.path.exists(theirs):
                raise ValueError("distill: teacher %s has no lists/%s.csv to compare with" % (t, part))
            with open(mine) as f, open(theirs) as g:
                if f.read() != g.read():
                    raise ValueError("distill: teacher %s was trained on another %s list than %s"
                                     % (t, part, fold_dir))


class Teachers:
    """The teachers of one run and their soft targets, computed once per (file, version)."""

    def __init__(self, d, labels, student_config, store, train_items, val_items, file_posteriors,
                 denoise_db=0):
        """file_posteriors(model, x [T, M], temperature) -> numpy [K]: the file-level rule;
        denoise_db: the student's front end (the store's features), which teachers must share."""
        self.file_posteriors = file_posteriors
        self.weight = float(d["weight"])
        self.temperature = float(d["temperature"])
        self.store = store
        self.models = []
        want_speakers = (D.speakers(train_items), D.speakers(val_items))
        for t in d["teachers"]:
            if "{fold}" in t:
                raise ValueError("distill: teacher %s still holds {fold}: protocols.py fills it in "
                                 "per fold" % t)
            path = os.path.join(t, "checkpoint.pt")
            with torch.random.fork_rng():   # building a network draws initial weights: keep
                model, ck = M.load_checkpoint(path)   # the student's random stream unchanged
            if list(ck["labels"]) != list(labels):
                raise ValueError("distill: %s has labels %s, the student %s"
                                 % (path, ",".join(ck["labels"]), ",".join(labels)))
            for k in SAME_INPUT_KEYS:
                if model.config[k] != student_config[k]:
                    raise ValueError("distill: %s has %s = %r, the student %r"
                                     % (path, k, model.config[k], student_config[k]))
            theirs = ck.get("dsp_params", {}).get("denoise_db", 0)
            if theirs != denoise_db:
                raise ValueError("distill: %s was trained on features with denoise_db %r, the "
                                 "student reads %r" % (path, theirs, denoise_db))
            meta = ck.get("meta", {})
            got = (meta.get("train_speakers"), meta.get("val_speakers"))
            if got != want_speakers or (meta.get("n_train"), meta.get("n_val")) != (
                    len(train_items), len(val_items)):
                raise ValueError("distill: %s was trained on other speakers or utterances "
                                 "(train/val %s/%s utterances) than the student (%d/%d)"
                                 % (path, meta.get("n_train"), meta.get("n_val"),
                                    len(train_items), len(val_items)))
            self.models.append(model)
        self._cache = {}

    def _target(self, key, version):
        k = (key, version)
        if k not in self._cache:
            x = np.asarray(self.store.get(key, version), dtype=np.float32)
            p = sum(self.file_posteriors(m, x, self.temperature) for m in self.models)
            self._cache[k] = (p / len(self.models)).astype(np.float32)
        return self._cache[k]

    def targets(self, chosen):
        """chosen: [(item key, version)] of a batch -> float tensor [B, K]."""
        return torch.from_numpy(np.stack([self._target(k, v) for k, v in chosen]))

    def summary(self):
        """What the run used, for run.json: the mean entropy of its targets says how soft they were."""
        ps = np.stack(list(self._cache.values())) if self._cache else np.zeros((0, 1))
        ent = float(-(ps * np.log(np.clip(ps, 1e-30, None))).sum(1).mean()) if len(ps) else 0.0
        return {"teachers": len(self.models), "weight": self.weight,
                "temperature": self.temperature, "targets": len(ps), "mean_entropy_nats": ent}


def soft_cross_entropy(logits, target, temperature):
    """T^2 x KL(target || softmax(logits / T)) per row of logits [..., K]; target [..., K]."""
    logq = F.log_softmax(logits / temperature, dim=-1)
    plogp = torch.where(target > 0, target * torch.log(target.clamp_min(1e-30)),
                        torch.zeros_like(target))
    return temperature ** 2 * (plogp - target * logq).sum(-1)

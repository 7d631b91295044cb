"""A training run's config: the keys and their defaults (DEFAULTS; train.py's docstring says what
each does and why), configs built on a base (load_config), the checks every key passes before a
run starts (full_config), and the model config a run trains (model_config).
"""

import copy
import json
import math
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import adversary as AD  # noqa: E402
import batches as B  # noqa: E402
import data as D  # noqa: E402
import distill as DI  # noqa: E402
import features as FE  # noqa: E402

DEFAULTS = {
    "name": "emotiond",
    "corpora": ["ravdess", "emodb"],
    "label_set": "unified7",
    "split": "shipped",
    "model": {},
    "seed": 1,
    "epochs": 30,
    "patience": 8,
    "batch": 32,
    "lr": 1e-3,
    "weight_decay": 1e-4,
    "crop_min": 150,
    "crop_max": 300,
    "p_orig": 0.4,
    "versions": ["orig", "sp09", "sp11", "pu", "pd", "white", "babble"],
    "version_weights": {},
    "specaug": {"freq_masks": 2, "freq_width": 12, "time_masks": 2, "time_width": 20},
    "class_weights": True,
    "supervise_from": 50,
    "end_weight": 0.0,
    "label_smoothing": 0.05,
    "gain_db": 0.0,
    "crop_speech": False,
    "mixup": 0.0,
    "ema": 0.0,
    "select_window": 1,
    "select_compare": [],
    "denoise_db": 0,
    "pitch_input": "raw",
    "distill": {},
    "speaker_adversary": {},
    "extra_corpora": [],
    "extra_ratio": 1.0,
    "noise_pairs": {},
    "partial_speaker_stats": 0.0,
    "vtlp": {},
    "validation": "select",
    "threads": 1,
}


def load_config(path, _seen=()):
    """A run config from its JSON file. `"base": "OTHER.json"` (relative to the file) starts from
    another config: its keys are taken, then this file's override them, dicts ("model",
    "specaug") key by key. A variant thus states only what it changes."""
    path = os.path.abspath(path)
    if path in _seen:
        raise ValueError("%s: config bases loop back to it" % path)
    with open(path) as f:
        cfg = json.load(f)
    base = cfg.pop("base", None)
    if base is None:
        return cfg
    out = load_config(os.path.join(os.path.dirname(path), base), _seen + (path,))
    for k, v in cfg.items():
        if isinstance(v, dict) and isinstance(out.get(k), dict):
            out[k] = dict(out[k], **v)
        else:
            out[k] = v
    return out


def full_config(cfg):
    out = copy.deepcopy(DEFAULTS)
    for k, v in (cfg or {}).items():
        if k not in out:
            raise ValueError("unknown training config key %r (known: %s)" % (k, ", ".join(sorted(out))))
        out[k] = v
    if not 2 <= out["crop_min"] <= out["crop_max"]:
        raise ValueError("need 2 <= crop_min <= crop_max")
    if not 0.0 <= out["ema"] < 1.0:
        raise ValueError("ema must be in [0, 1) (0 = off), got %r" % out["ema"])
    if not 0.0 <= out["end_weight"] <= 1.0:
        raise ValueError("end_weight must be in [0, 1] (0 = every step alike), got %r"
                         % out["end_weight"])
    w = out["version_weights"]
    if not isinstance(w, dict):
        raise ValueError("version_weights must map augmented versions to weights, got %r" % (w,))
    for v, x in w.items():
        if v not in out["versions"][1:]:
            raise ValueError("version_weights: %r is not one of the augmented versions %s"
                             % (v, out["versions"][1:]))
        if not (isinstance(x, (int, float)) and not isinstance(x, bool) and 0 < x < math.inf):
            raise ValueError("version_weights: the weight of %r must be a finite number > 0, got %r"
                             % (v, x))
    if not (isinstance(out["select_window"], int) and out["select_window"] >= 1):
        raise ValueError("select_window must be an integer >= 1 (1 = each epoch alone), got %r"
                         % out["select_window"])
    sc = out["select_compare"]
    if not (isinstance(sc, list) and all(isinstance(k, int) and not isinstance(k, bool) and k >= 1
                                         for k in sc)
            and len(set(sc)) == len(sc) and out["select_window"] not in sc):
        raise ValueError("select_compare must be a list of distinct integers >= 1 other than "
                         "select_window (%d), got %r" % (out["select_window"], sc))
    if out["validation"] not in ("select", "train"):
        raise ValueError("validation must be \"select\" (early stopping on the validation part) "
                         "or \"train\" (it joins training; the final epoch is kept), got %r"
                         % (out["validation"],))
    if out["validation"] == "train" and (out["select_window"] != 1 or sc or out["distill"]):
        raise ValueError("validation \"train\" keeps the final epoch: select_window, "
                         "select_compare and distill (whose teachers name a validation part) "
                         "do not apply")
    if out["mixup"] < 0.0:
        raise ValueError("mixup must be >= 0 (0 = off), got %r" % out["mixup"])
    if not (isinstance(out["denoise_db"], int) and -90 <= out["denoise_db"] <= 0):
        raise ValueError("denoise_db must be an integer in -90..0 (0 = off), got %r"
                         % out["denoise_db"])
    if out["pitch_input"] not in FE.PITCH_INPUTS:
        raise ValueError("pitch_input must be one of %s, got %r"
                         % (", ".join(FE.PITCH_INPUTS), out["pitch_input"]))
    if "pitch_input" in out["model"]:
        raise ValueError("pitch_input is a run key (top level), not a model key: the run sets "
                         "the model's from it")
    if out["pitch_input"] == "suppressed" and not out["denoise_db"]:
        raise ValueError("pitch_input \"suppressed\" reads the noise suppressor's output: it needs "
                         "denoise_db")
    if not (isinstance(out["extra_corpora"], list)
            and all(c in D.CORPORA for c in out["extra_corpora"])):
        raise ValueError("extra_corpora must be a list of corpora (%s), got %r"
                         % (", ".join(D.CORPORA), out["extra_corpora"]))
    x = out["extra_ratio"]
    if not (isinstance(x, (int, float)) and not isinstance(x, bool) and 0 < x < math.inf):
        raise ValueError("extra_ratio must be a finite number > 0, got %r" % (x,))
    out["distill"] = DI.check_config(out["distill"])
    if out["distill"] and out["mixup"]:
        raise ValueError("distill and mixup together are not supported (one target per crop)")
    out["speaker_adversary"] = AD.check_config(out["speaker_adversary"])
    out["noise_pairs"] = B.check_noise_pairs(out["noise_pairs"], out["versions"])
    if out["noise_pairs"] and out["mixup"]:
        raise ValueError("noise_pairs and mixup together are not supported (a mixed row is no "
                         "longer its twin's clean crop)")
    x = out["partial_speaker_stats"]
    if not (isinstance(x, (int, float)) and not isinstance(x, bool) and 0.0 <= x <= 1.0):
        raise ValueError("partial_speaker_stats must be a probability in [0, 1] (0 = off), got %r"
                         % (x,))
    out["vtlp"] = B.check_vtlp(out["vtlp"])
    if out["speaker_adversary"] and out["mixup"]:
        raise ValueError("speaker_adversary and mixup together are not supported (a mixed crop "
                         "has two speakers)")
    return out


def model_config(cfg):
    """The model's config of a run: its "model" section, and for a model that reads pitch the
    tracker it is trained on (run key pitch_input), which export.py writes into the model file."""
    mc = dict(cfg["model"])
    if mc.get("prosody"):
        mc["pitch_input"] = cfg["pitch_input"]
    return mc

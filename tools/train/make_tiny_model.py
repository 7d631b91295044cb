#!/usr/bin/python3
"""Makes a small random (untrained) emotiond model file, for tests that need a model before the
trained one exists, and for benchmarks of the default-size architecture.

    make_tiny_model.py OUT.emod [--size tiny|default] [--seed S] [--checkpoint OUT.pt]
                       [--members N]

tiny (the committed tests/fixtures/tiny.emod): channels 4/8/8, LSTM 16, dense 16, the default
7 labels, default dsp params, window 300, min_frames 50. default: the full DEFAULT_CONFIG
architecture with random weights (what the benchmarks time). The weights, batch-norm statistics
and normalisation statistics are random but deterministic (seeded), scaled so that posteriors
move visibly with the input: the parity tests need outputs that are not flat. --members N: an
ensemble file (format 2) of N such models, seeds S, S+1, ..., member j's LSTM and dense layer
8*j units wider than the first's (members may differ in their networks), all with the first's
normalisation statistics and speaker prior (which members must share);
tests/fixtures/tiny-ensemble.emod is --cmvn speaker --members 2.
"""

import argparse
import os
import sys
import tempfile

import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import export  # noqa: E402
import model as model_lib  # noqa: E402

TINY = {"c1": 4, "c2": 8, "c3": 8, "lstm_hidden": 16, "dense": 16}


def random_model(config=None, labels=None, seed=0):
    """An EmotionNet in eval mode with random weights and non-trivial BN / normalisation stats."""
    torch.manual_seed(seed)
    m = model_lib.make_model(config, labels)
    g = torch.Generator().manual_seed(seed + 1)
    with torch.no_grad():
        for bn in (m.bn1, m.bn2, m.bn3):
            n = bn.num_features
            bn.weight.copy_(0.5 + torch.rand(n, generator=g))
            bn.bias.copy_(0.2 * torch.randn(n, generator=g))
            bn.running_mean.copy_(0.1 * torch.randn(n, generator=g))
            bn.running_var.copy_(0.5 + torch.rand(n, generator=g))
        if m.att is not None:
            m.att.weight.mul_(4.0)
        m.fc2.weight.mul_(4.0)
        M = m.in_dim
        mean = 0.1 * torch.randn(M, generator=g)
        std = 0.8 + 0.4 * torch.rand(M, generator=g)
        if m.config["cmvn"] == "none":
            mean = mean - 6.0   # raw log-mel levels
            std = std * 3.0
        m.set_normalisation(mean, std)
        if m.config["cmvn"] in model_lib.SPEAKER_CMVN:
            level = -6.0 if m.config["level_floor"] else None
            m.set_speaker_prior(-6.0 + torch.randn(M, generator=g),
                                2.0 + torch.rand(M, generator=g), level)
    m.eval()
    return m


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("out")
    ap.add_argument("--size", choices=("tiny", "default"), default="tiny")
    ap.add_argument("--seed", type=int, default=1234)
    ap.add_argument("--checkpoint", help="also save the PyTorch checkpoint here")
    ap.add_argument("--cmvn", choices=("cumulative", "none") + model_lib.SPEAKER_CMVN, default=None,
                    help="input normalisation (default: model.py's; tests/fixtures/tiny-speaker.emod "
                    "is --cmvn speaker)")
    ap.add_argument("--members", type=int, default=1, help="an ensemble of this many models")
    ap.add_argument("--n-mels", type=int, default=None,
                    help="mel bands of the front end and the model (default 128; "
                    "tests/fixtures/tiny-speaker-64.emod is --cmvn speaker --n-mels 64: a model of "
                    "other features)")
    ap.add_argument("--pitch", choices=("raw", "suppressed"), default=None,
                    help="a model reading the pitch tracker's columns (prosody 2) of that input; "
                    "suppressed also sets the front end's denoise_db to -15")
    ap.add_argument("--denoise-db", type=int, default=None,
                    help="the front end's noise suppression (dsp_params denoise_db, -90..0)")
    a = ap.parse_args(argv)
    cfg = dict(TINY) if a.size == "tiny" else {}
    if a.cmvn:
        cfg["cmvn"] = a.cmvn
    dsp = dict(model_lib.DEFAULT_DSP_PARAMS)
    if a.pitch:
        cfg["prosody"], cfg["pitch_input"] = 2, a.pitch
        if a.pitch == "suppressed":
            dsp["denoise_db"] = -15
    if a.denoise_db is not None:
        dsp["denoise_db"] = a.denoise_db
    if a.n_mels:
        cfg["n_mels"] = dsp["n_mels"] = a.n_mels
    m = random_model(cfg, model_lib.DEFAULT_LABELS, a.seed)
    name = "emotiond-tiny-random" if a.size == "tiny" else "emotiond-default-random"
    meta = {"note": "random weights, for tests and benchmarks only; not a trained model",
            "seed": a.seed, "size": a.size}
    if a.checkpoint:
        model_lib.save_checkpoint(a.checkpoint, m, model_lib.DEFAULT_LABELS, dsp, name, meta)
    if a.members > 1:
        return write_members(a, m, cfg, dsp, name, meta)
    digest = export.model_to_emod(m, model_lib.DEFAULT_LABELS, dsp, name, meta, a.out)
    print("%s: %s@sha256:%s, %d parameters, %d bytes"
          % (a.out, name, digest[:16], model_lib.count_parameters(m), os.path.getsize(a.out)))
    return 0


def share_normalisation(m, like):
    """m takes like's input normalisation and speaker prior (what an ensemble's members share)."""
    with torch.no_grad():
        for n in ("norm_mean", "norm_std", "spk_prior_mean", "spk_prior_var", "spk_prior_level"):
            if hasattr(like, n) and hasattr(m, n):
                getattr(m, n).copy_(getattr(like, n))
    return m


def write_members(a, first, cfg, dsp, name, meta):
    blobs, params = [], 0
    with tempfile.TemporaryDirectory() as tmp:
        for j in range(a.members):
            mc = dict(cfg)
            mc["lstm_hidden"] = first.config["lstm_hidden"] + 8 * j
            mc["dense"] = first.config["dense"] + 8 * j
            m = first if j == 0 else share_normalisation(
                random_model(mc, model_lib.DEFAULT_LABELS, a.seed + j), first)
            path = os.path.join(tmp, "m%d.emod" % j)
            export.model_to_emod(m, model_lib.DEFAULT_LABELS, dsp, "%s-m%d" % (name, j), meta, path)
            with open(path, "rb") as f:
                blobs.append(f.read())
            params += model_lib.count_parameters(m)
    digest = export.write_ensemble(a.out, blobs, name + "-x%d" % a.members, meta)
    print("%s: %s-x%d@sha256:%s, %d members, %d parameters, %d bytes"
          % (a.out, name, a.members, digest[:16], a.members, params, os.path.getsize(a.out)))
    return 0


if __name__ == "__main__":
    sys.exit(main())

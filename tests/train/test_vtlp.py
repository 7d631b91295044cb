#!/usr/bin/python3
"""Vocal tract length perturbation (train config "vtlp", batches.vtlp_sources / warp_bands):
the config's refusals, the warp against our C front end (a tone at f, warped by alpha, peaks
where the front end puts a tone at the frequency the warp maps to f), batches that warp with the
probability asked and give a twin its clean row's warp, and a run that trains with it.

    test_vtlp.py EMOTION CASE      CASE: config | warp | batch | run
"""

import math
import os
import subprocess
import sys
import tempfile
import wave

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from test_train_py import (SyntheticStore, TINY_NET, check, check_refused,  # noqa: E402
                           fake_items, run_case, tiny_run_config)
from test_noise_pairs import TwinStore  # noqa: E402  ("n1" = clean + 1: noise that keeps time)

import batches as B  # noqa: E402  (test_train_py put tools/train on the path)
import data as D  # noqa: E402
import model as M  # noqa: E402

LABELS = ["a", "b", "c"]
DEVNULL = open(os.devnull, "w")
DSP = M.DEFAULT_DSP_PARAMS
EMOTION = None


def sources(alpha, n_mels=128):
    return B.vtlp_sources(alpha, n_mels, DSP["f_min"], DSP["f_max"], DSP["mel_scale"])


def t_config():
    """Off by default; checked; refused naming the key; an unknown key inside refused."""
    import train as T
    check(T.full_config({})["vtlp"] == {}, "off by default")
    got = T.full_config({"vtlp": {"p": 1, "alpha": 0.1}})["vtlp"]
    check(got == {"p": 1.0, "alpha": 0.1}, "checked config: %r" % got)
    check_refused("vtlp", 0.5, [0.5], {"p": 0.5}, {"alpha": 0.1}, {"p": 0, "alpha": 0.1},
                  {"p": 1.5, "alpha": 0.1}, {"p": 0.5, "alpha": 0}, {"p": 0.5, "alpha": 0.5},
                  {"p": 0.5, "alpha": math.nan}, {"p": True, "alpha": 0.1},
                  {"p": 0.5, "alpha": 0.1, "beta": 1})


def tone_logmel(freq, tmp):
    """Our C front end's frames of 1 s of a sine at freq Hz (16 kHz, 16-bit WAV)."""
    path = os.path.join(tmp, "tone%.1f.wav" % freq)
    n = np.arange(16000)
    pcm = (0.5 * 32767 * np.sin(2 * np.pi * freq * n / 16000.0)).astype("<i2")
    with wave.open(path, "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(16000)
        w.writeframes(pcm.tobytes())
    out = path + ".npy"
    subprocess.run([EMOTION, "features", path, "-o", out], check=True)
    return np.load(out)


def warped_to(f, alpha):
    """The frequency whose band the warp by alpha reads from f's band's neighbourhood: g(h) = f
    solved for h (Jaitly & Hinton's piecewise-linear warp, knee at batches.VTLP_F_HI)."""
    knee = B.VTLP_F_HI * min(alpha, 1.0)
    if f <= knee:
        return f / alpha
    top = DSP["f_max"]
    return top - (top - f) * (top - knee / alpha) / (top - knee)


def t_warp():
    """alpha = 1 reads every band from itself; the warp is monotone and keeps the ends; a tone's
    warped peak lands in the band where the C front end puts the tone the warp maps onto it,
    below the knee and above it, for a shorter and a longer tract."""
    check(np.allclose(sources(1.0), np.arange(128), atol=1e-9), "alpha 1: identity")
    x = np.random.default_rng(0).standard_normal((5, 128)).astype(np.float32)
    check(np.array_equal(B.warp_bands(x, sources(1.0)), x), "alpha 1: frames unchanged")
    for a in (0.8, 0.9, 1.1, 1.2):
        s = sources(a)
        check(np.all(np.diff(s) >= 0) and s[0] >= 0 and s[-1] <= 127, "alpha %g: monotone" % a)
        check(abs(s[-1] - 127) < 0.6, "alpha %g: the top band stays near the top (%.2f)" % (a, s[-1]))
    with tempfile.TemporaryDirectory() as tmp:
        # Below ~1 kHz the FFT's 31 Hz bins are wider than the mel bands (23 Hz apart), so a
        # tone's peak there moves in steps of more than a band: the low tone gets a large warp.
        for f, a in ((600.0, 0.8), (1500.0, 0.9), (1500.0, 1.1), (3000.0, 0.9), (6000.0, 1.1),
                     (6000.0, 0.9)):
            src = tone_logmel(f, tmp).mean(0)
            want = tone_logmel(warped_to(f, a), tmp).mean(0)
            got = B.warp_bands(src[None, :], sources(a))[0]
            peak_src, peak_want, peak_got = int(src.argmax()), int(want.argmax()), int(got.argmax())
            check(abs(peak_want - peak_src) >= 2,
                  "%g Hz, alpha %g: the test moves the peak (%d -> %d)" % (f, a, peak_src, peak_want))
            check(abs(peak_got - peak_want) <= 1,
                  "%g Hz, alpha %g: warped peak in band %d, the front end's tone at %.0f Hz in %d"
                  % (f, a, peak_got, warped_to(f, a), peak_want))


def best_warp(clean, row, alphas):
    """(max error, alpha) of the alpha in alphas whose warp of clean comes closest to row."""
    return min((float(np.abs(B.warp_bands(clean, sources(a)) - row).max()), float(a))
               for a in alphas if 0.9 <= a <= 1.1)


def t_batch():
    """p = 1: every training row is its clean frames warped by one alpha within the range, and
    its twin the twin's frames warped alike (the twin - clean difference stays the noise, +1);
    p = 0.5 warps about half the rows; evaluation batches never warp."""
    items = fake_items("emodb", 4, 6, LABELS)
    store = TwinStore()
    cfg = {"crop_min": 300, "crop_max": 300, "p_orig": 1.0, "version_weights": {},
           "gain_db": 0.0, "specaug": {}, "crop_speech": False,
           "noise_pairs": {"versions": ["n1"], "weight": 1.0, "twin_ce": True},
           "vtlp": {"p": 1.0, "alpha": 0.1}}
    rng = np.random.default_rng(3)
    chosen, twins = [], []
    x, lengths = B.make_batch(items, store, cfg, rng, ["orig", "n1"], 1, chosen=chosen,
                              twins=twins, dsp=DSP)
    check(len(twins) == len(items), "a twin per clean row")
    for i, it in enumerate(items):
        clean = store.get(D.item_key(it))
        row = x[i, :lengths[i]].numpy()
        err, alpha = best_warp(clean, row, np.linspace(0.9, 1.1, 201))
        err, alpha = best_warp(clean, row, np.linspace(alpha - 0.001, alpha + 0.001, 201))
        check(err < 0.01, "row %d: a warp within 0.9..1.1 (off by %.3g at %.4f)" % (i, err, alpha))
        check(float(np.abs(row - clean).max()) > 0.1, "row %d is warped" % i)
    for a, b in twins:
        d = (x[b, :lengths[b]] - x[a, :lengths[a]]).numpy()
        check(np.allclose(d, 1.0, atol=1e-5), "twin %d has its clean row's warp" % b)
    try:
        B.make_batch(items, store, cfg, rng, ["orig", "n1"], 1, twins=[])
    except ValueError as e:
        check("vtlp" in str(e), "without dsp parameters: refused naming vtlp: %s" % e)
    else:
        check(False, "vtlp without dsp parameters accepted")
    half = dict(cfg, noise_pairs={}, vtlp={"p": 0.5, "alpha": 0.1})
    many = fake_items("emodb", 8, 25, LABELS)
    x, lengths = B.make_batch(many, store, half, rng, ["orig"], 1, dsp=DSP)
    warped = sum(not np.array_equal(x[i, :lengths[i]].numpy(), store.get(D.item_key(it)))
                 for i, it in enumerate(many))
    check(abs(warped / len(many) - 0.5) < 0.1, "p 0.5: %d of %d rows warped" % (warped, len(many)))
    x, lengths = B.make_batch(many, store, half, rng, ["orig"], 1, train=False, dsp=DSP)
    check(all(np.array_equal(x[i, :lengths[i]].numpy(), store.get(D.item_key(it)))
              for i, it in enumerate(many)), "evaluation batches are not warped")


def t_run():
    """A run with the key trains, records it and ends elsewhere than without it."""
    import torch
    import train as T
    torch.set_num_threads(1)
    items = fake_items("emodb", 4, 2, LABELS)
    runs = {}
    with tempfile.TemporaryDirectory() as root:
        for name, v in (("off", {}), ("on", {"p": 0.5, "alpha": 0.1})):
            model, meta = T.train(tiny_run_config(epochs=2, vtlp=v, model=dict(TINY_NET)),
                                  items[:16], items[16:], LABELS, SyntheticStore(),
                                  os.path.join(root, name), log=DEVNULL)
            runs[name] = (model.state_dict(), meta)
    a, b = runs["off"][0], runs["on"][0]
    check(max(float((a[k].float() - b[k].float()).abs().max()) for k in a) > 1e-4,
          "the warp changes the weights")
    check(runs["on"][1]["train_config"]["vtlp"] == {"p": 0.5, "alpha": 0.1},
          "run.json records the key")
    check(all(math.isfinite(h["loss"]) for n in runs for h in runs[n][1]["history"]),
          "finite losses")


CASES = {"config": t_config, "warp": t_warp, "batch": t_batch, "run": t_run}

if __name__ == "__main__":
    if len(sys.argv) != 3:
        sys.exit("usage: %s EMOTION %s" % (os.path.basename(sys.argv[0]), "|".join(CASES)))
    EMOTION = sys.argv[1]
    run_case(CASES, [sys.argv[0], sys.argv[2]])

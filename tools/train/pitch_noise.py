"""How the pitch tracker holds up in the protocol-3 noises: its cached columns of the noisy copies
against those of the raw tracker on the clean file.

    /usr/bin/python3 tools/train/pitch_noise.py [--corpus emodb] [--denoise-db -15]
        [--cache CACHE] [--noises white10,babble10]

Reads the pitch caches features.py makes (`--pitch` for the raw samples, `--pitch-suppressed`
for the suppressor's output), frame for frame: both have the log-mel's frames, so frame i of a
noisy copy describes the moment of frame i of the clean file. Per corpus, tracker input and
noise it prints, over all files: the share of the clean voiced frames (periodicity > 0.65, the
tracker's own threshold) still voiced, the share of those whose F0 is off by more than 20 %
(gross errors), and the share of clean unvoiced frames read as voiced. The reference is always
the raw tracker on the clean file; "clean" rows compare each input on the clean file with it.

Why: a model reading pitch can only be as robust as the tracker; this measures the tracker
alone, without training anything (docs/dsp.md has the figures).
"""

import argparse
import os
import sys

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import data as D  # noqa: E402
import features as FE  # noqa: E402

VOICED = 0.65      # dsp/pitch.c: normalised difference under 0.35
GROSS = np.log(1.2)


def agreement(ref, other):
    """Counts over frames: (clean voiced, still voiced, gross among those, clean unvoiced,
    unvoiced read as voiced)."""
    n = min(len(ref), len(other))
    ref, other = ref[:n], other[:n]
    rv, ov = ref[:, 1] > VOICED, other[:, 1] > VOICED
    both = rv & ov
    gross = both & (np.abs(ref[:, 0] - other[:, 0]) > GROSS)
    return np.array([rv.sum(), both.sum(), gross.sum(), (~rv).sum(), (~rv & ov).sum()], np.int64)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--corpus", default="emodb", choices=D.CORPORA)
    ap.add_argument("--denoise-db", type=int, default=-15)
    ap.add_argument("--cache", default=FE.DEFAULT_CACHE)
    ap.add_argument("--data", default=None)
    ap.add_argument("--noises", default="white10,babble10")
    a = ap.parse_args(argv)
    items = D.load_corpus(a.corpus, a.data)
    inputs = ["raw"] + (["suppressed"] if a.denoise_db else [])
    print("%s, %d files, denoise_db %d; reference: the raw tracker on the clean file"
          % (a.corpus, len(items), a.denoise_db))
    print("| noise | tracker input | clean voiced frames still voiced | gross errors among them "
          "| unvoiced frames read as voiced |")
    print("|---|---|---|---|---|")
    for noise in ["orig"] + a.noises.split(","):
        for pitch in inputs:
            if noise == "orig" and pitch == "raw":
                continue
            tot = np.zeros(5, np.int64)
            for it in items:
                key = D.item_key(it)
                ref = np.load(FE.pitch_path(a.cache, "orig", key, a.denoise_db, "raw"))
                other = np.load(FE.pitch_path(a.cache, noise, key, a.denoise_db, pitch))
                tot += agreement(ref, other)
            print("| %s | %s | %.1f %% | %.1f %% | %.1f %% |"
                  % ("clean" if noise == "orig" else noise, pitch, 100.0 * tot[1] / tot[0],
                     100.0 * tot[2] / max(tot[1], 1), 100.0 * tot[4] / max(tot[3], 1)))


if __name__ == "__main__":
    main()

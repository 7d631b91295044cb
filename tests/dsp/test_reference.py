#!/usr/bin/python3
"""Log-mel of known signals vs an independent numpy reference written from the formulas.

The reference shares nothing with dsp/: its own periodic Hamming window, np.fft.rfft in float64,
its own Slaney/HTK mel scale and triangular filterbank. The C output comes from dsp-dump (batch
and streaming). Energetic bands (within 60 dB of the frame's strongest band, and 20 dB above the
log floor) must agree to 1e-4 relative in mel energy; every value must be finite.

usage: test_reference.py PATH/TO/dsp-dump
"""
import os
import subprocess
import sys
import tempfile

import numpy as np

REL_TOL = 1e-4
DYN_RANGE_DB = 60.0


def hz_to_mel(f, scale):
    f = np.asarray(f, dtype=np.float64)
    if scale == "htk":
        return 2595.0 * np.log10(1.0 + f / 700.0)
    # Slaney: linear (3 mels per 200 Hz) below 1 kHz, then 27 mels per factor 6.4
    lin = f * 3.0 / 200.0
    log = 15.0 + np.log(np.maximum(f, 1e-12) / 1000.0) * 27.0 / np.log(6.4)
    return np.where(f < 1000.0, lin, log)


def mel_to_hz(m, scale):
    m = np.asarray(m, dtype=np.float64)
    if scale == "htk":
        return 700.0 * (10.0 ** (m / 2595.0) - 1.0)
    lin = m * 200.0 / 3.0
    log = 1000.0 * np.exp((m - 15.0) * np.log(6.4) / 27.0)
    return np.where(m < 15.0, lin, log)


def mel_filterbank(rate, n_fft, n_mels, fmin, fmax, scale):
    edges = mel_to_hz(np.linspace(hz_to_mel(fmin, scale), hz_to_mel(fmax, scale), n_mels + 2),
                      scale)
    freqs = np.arange(n_fft // 2 + 1) * rate / n_fft
    fb = np.zeros((n_mels, freqs.size))
    for b in range(n_mels):
        lo, mid, hi = edges[b], edges[b + 1], edges[b + 2]
        rise = (freqs - lo) / (mid - lo)
        fall = (hi - freqs) / (hi - mid)
        fb[b] = np.maximum(0.0, np.minimum(rise, fall))
        if scale == "slaney":
            fb[b] *= 2.0 / (hi - lo)  # equal area per triangle
    return fb


def reference_logmel(x, cfg):
    win, hop, n_fft = cfg["win"], cfg["hop"], cfg["nfft"]
    n = 1 + (len(x) - win) // hop if len(x) >= win else 0
    window = 0.54 - 0.46 * np.cos(2.0 * np.pi * np.arange(win) / win)  # periodic Hamming
    idx = np.arange(win)[None, :] + hop * np.arange(n)[:, None]
    frames = x.astype(np.float64)[idx] * window
    power = np.abs(np.fft.rfft(frames, n=n_fft, axis=1)) ** 2
    energy = power @ mel_filterbank(cfg["rate"], n_fft, cfg["mels"], cfg["fmin"], cfg["fmax"],
                                    cfg["scale"]).T
    return energy


def signals(rate, seconds, rng):
    t = np.arange(int(rate * seconds)) / rate
    # voiced-speech-like: harmonics of a gliding F0 under formant bumps, syllabic envelope
    f0 = 130 + 30 * np.sin(2 * np.pi * 0.8 * t)
    phase = 2 * np.pi * np.cumsum(f0) / rate
    v = np.zeros_like(t)
    for h in range(1, 40):
        fh = h * f0
        env = (np.exp(-((fh - 600) / 250) ** 2) + 0.5 * np.exp(-((fh - 1700) / 350) ** 2)
               + 0.2 * np.exp(-((fh - 2800) / 500) ** 2) + 0.02)
        v += np.where(fh < rate / 2 - 200, env * np.sin(h * phase) / h, 0.0)
    v *= 0.25 * (1.2 + np.sin(2 * np.pi * 2.7 * t)) + 0.05 * rng.standard_normal(t.size) * 0.01
    noise = 0.3 * rng.standard_normal(t.size)
    chirp = 0.5 * np.sin(2 * np.pi * (50 * t + (rate / 2 - 300) / (2 * seconds) * t ** 2))
    return {"speechlike": v, "noise": noise, "chirp": chirp}


CONFIGS = [
    dict(name="default", rate=16000, win=400, hop=160, nfft=512, mels=128, fmin=0.0,
         fmax=8000.0, scale="slaney", floor=1e-10),
    dict(name="htk40", rate=16000, win=400, hop=160, nfft=512, mels=40, fmin=20.0,
         fmax=7600.0, scale="htk", floor=1e-10),
    dict(name="8k", rate=8000, win=200, hop=80, nfft=256, mels=40, fmin=0.0, fmax=4000.0,
         scale="slaney", floor=1e-10),
    dict(name="nfft1024", rate=16000, win=400, hop=100, nfft=1024, mels=80, fmin=50.0,
         fmax=8000.0, scale="slaney", floor=1e-8),
]


def run_dump(dump, x, cfg, chunk, tmp):
    src = os.path.join(tmp, "in.f32")
    dst = os.path.join(tmp, "out.f32")
    x.astype(np.float32).tofile(src)
    args = [dump, src, dst, f"rate={cfg['rate']}", f"win={cfg['win']}", f"hop={cfg['hop']}",
            f"nfft={cfg['nfft']}", f"mels={cfg['mels']}", f"fmin={cfg['fmin']}",
            f"fmax={cfg['fmax']}", f"floor={cfg['floor']}", f"scale={cfg['scale']}",
            f"chunk={chunk}"]
    subprocess.run(args, check=True)
    return np.fromfile(dst, dtype=np.float32).reshape(-1, cfg["mels"])


def main():
    if len(sys.argv) != 2:
        print(__doc__, file=sys.stderr)
        return 2
    dump = sys.argv[1]
    rng = np.random.default_rng(1234)
    failures = 0
    with tempfile.TemporaryDirectory() as tmp:
        for cfg in CONFIGS:
            for sname, sig in signals(cfg["rate"], 2.0, rng).items():
                x = sig.astype(np.float32)
                ref = reference_logmel(x, cfg)
                for chunk in (0, 97):
                    got = run_dump(dump, x, cfg, chunk, tmp)
                    tag = f"{cfg['name']}/{sname}/{'batch' if chunk == 0 else 'stream'}"
                    if got.shape != ref.shape:
                        print(f"FAIL {tag}: shape {got.shape}, reference {ref.shape}")
                        failures += 1
                        continue
                    if not np.all(np.isfinite(got)):
                        print(f"FAIL {tag}: non-finite output")
                        failures += 1
                        continue
                    peak = ref.max(axis=1, keepdims=True)
                    mask = (ref >= peak * 10 ** (-DYN_RANGE_DB / 10)) & (ref >= cfg["floor"] * 100)
                    rel = np.abs(np.exp(got.astype(np.float64)) - ref) / np.where(mask, ref, 1.0)
                    worst = rel[mask].max()
                    # outside the energetic set only the floor convention is checked
                    floor_ok = np.all(got[ref < cfg["floor"] * 1e-3]
                                      == np.float32(np.log(np.float32(cfg["floor"]))))
                    ok = worst <= REL_TOL and floor_ok
                    failures += not ok
                    print(f"{'ok  ' if ok else 'FAIL'} {tag}: {mask.sum()} energetic values "
                          f"of {mask.size}, max relative error {worst:.2e}"
                          f"{'' if floor_ok else ', floor convention broken'}")
    if failures:
        print(f"{failures} comparison(s) failed")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())

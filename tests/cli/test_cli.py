#!/usr/bin/python3
"""Tests of the `emotion` CLI (suite 'cli'): test_cli.py EMOTION_BINARY CASE.

Every fixture is made here, in a temporary directory: sox for encoded formats (FLAC, Ogg), the
wave module and hand-built RIFF bytes for the bad inputs (NaN samples, absurd rates, lying
headers). Each bad input must give exit status 1 (or 2 for usage), exactly one stderr line
naming the file and the problem (an ASan/UBSan report would add lines and fail the check), and
no output or temporary file left behind.
"""
import json
import os
import shutil
import struct
import subprocess
import sys
import tempfile
import wave

import numpy as np

EMOTION = os.path.abspath(sys.argv[1])
CASE = sys.argv[2]
FAILS = []


def check(cond, what):
    if not cond:
        FAILS.append(what)
        print("FAIL:", what, flush=True)


def run(args, env=None):
    p = subprocess.run([EMOTION] + [str(a) for a in args], capture_output=True, text=True,
                       env=env, timeout=60)
    if p.returncode < 0:
        raise AssertionError(f"emotion {args} died of signal {-p.returncode}: {p.stderr}")
    return p


def expect_error(args, rc, *needles, what=None):
    """Exit status rc, exactly one stderr line containing every needle (case-insensitive)."""
    p = run(args)
    lines = p.stderr.splitlines()
    label = what or " ".join(str(a) for a in args)
    check(p.returncode == rc, f"{label}: exit {p.returncode}, expected {rc}; stderr={p.stderr!r}")
    check(len(lines) == 1, f"{label}: expected one stderr line, got {lines!r}")
    for n in needles:
        check(n.lower() in p.stderr.lower(), f"{label}: stderr lacks {n!r}: {p.stderr!r}")
    return p


def sox(*args):
    subprocess.run(["sox"] + [str(a) for a in args], check=True, capture_output=True)


def write_wav16(path, x, rate, channels=1):
    """x: float array in [-1, 1), shape [n] or [n, channels] -> PCM_16 WAV (values k/32768)."""
    q = np.clip(np.round(np.asarray(x) * 32768.0), -32768, 32767).astype("<i2")
    with wave.open(str(path), "wb") as w:
        w.setnchannels(channels)
        w.setsampwidth(2)
        w.setframerate(rate)
        w.writeframes(q.tobytes())
    return q.astype(np.float32) / 32768.0


def riff_wav(rate, channels, fmt_tag, bits, data, declared_data_len=None):
    """Hand-built WAV: lets a test lie about the rate or the data length."""
    block = channels * bits // 8
    fmt = struct.pack("<HHIIHH", fmt_tag, channels, rate, rate * block, block, bits)
    dlen = len(data) if declared_data_len is None else declared_data_len
    body = b"WAVE" + b"fmt " + struct.pack("<I", len(fmt)) + fmt + b"data" + struct.pack("<I", dlen) + data
    return b"RIFF" + struct.pack("<I", 4 + len(body) - 4 + (dlen - len(data))) + body


def speechlike(rate, seconds, seed=1):
    """Harmonic tone with a moving pitch and syllable-like envelope plus a little noise."""
    rng = np.random.default_rng(seed)
    t = np.arange(int(rate * seconds)) / rate
    f0 = 140 + 40 * np.sin(2 * np.pi * 0.7 * t)
    phase = 2 * np.pi * np.cumsum(f0) / rate
    x = sum(np.sin(k * phase) / k for k in range(1, 12))
    env = 0.5 + 0.5 * np.sin(2 * np.pi * 3.0 * t) ** 2
    x = 0.25 * x * env / np.max(np.abs(x)) + 0.003 * rng.standard_normal(t.size)
    return x.astype(np.float64)


def ref_logmel(x, sr=16000, win=400, hop=160, n_fft=512, n_mels=128, fmin=0.0, fmax=8000.0,
               floor=1e-10):
    """Independent numpy log-mel from the formulas dsp.h documents: periodic Hamming, no padding,
    |rfft|^2, Slaney mel scale with area-normalised triangles, ln(max(e, floor))."""
    def hz_to_mel(f):
        f = np.asarray(f, dtype=np.float64)
        lin = f / (200.0 / 3)
        logstep = np.log(6.4) / 27.0
        return np.where(f >= 1000.0, 15.0 + np.log(np.maximum(f, 1e-9) / 1000.0) / logstep, lin)

    def mel_to_hz(m):
        m = np.asarray(m, dtype=np.float64)
        logstep = np.log(6.4) / 27.0
        return np.where(m >= 15.0, 1000.0 * np.exp(logstep * (m - 15.0)), m * (200.0 / 3))

    edges = mel_to_hz(np.linspace(hz_to_mel(fmin), hz_to_mel(fmax), n_mels + 2))
    freqs = np.arange(n_fft // 2 + 1) * sr / n_fft
    fb = np.zeros((n_mels, freqs.size))
    for b in range(n_mels):
        lo, c, hi = edges[b], edges[b + 1], edges[b + 2]
        w = np.maximum(0, np.minimum((freqs - lo) / (c - lo), (hi - freqs) / (hi - c)))
        fb[b] = w * 2.0 / (hi - lo)
    window = 0.54 - 0.46 * np.cos(2 * np.pi * np.arange(win) / win)
    n_frames = 1 + (len(x) - win) // hop
    frames = np.stack([x[i * hop:i * hop + win] * window for i in range(n_frames)])
    power = np.abs(np.fft.rfft(frames, n=n_fft, axis=1)) ** 2
    return np.log(np.maximum(power @ fb.T, floor))


def no_leftovers(d, what):
    left = [f for f in os.listdir(d) if ".tmp." in f]
    check(not left, f"{what}: temporary files left in {d}: {left}")


# ---------------------------------------------------------------------------------------------
def case_usage(tmp):
    p = run([])
    check(p.returncode == 2 and "usage" in p.stderr, "no arguments: exit 2 with usage")
    p = run(["--help"])
    check(p.returncode == 0 and "Exit status" in p.stdout and "features" in p.stdout
          and "info" in p.stdout, "emotion --help lists commands and exit codes")
    p = run(["--version"])
    check(p.returncode == 0 and p.stdout.startswith("emotion "), "--version")
    for cmd in ("features", "info"):
        p = run([cmd, "--help"])
        check(p.returncode == 0 and "usage: emotion " + cmd in p.stdout and "Exit status" in p.stdout,
              f"{cmd} --help")
    p = run(["help", "features"])
    check(p.returncode == 0 and "--batch" in p.stdout, "emotion help features")
    expect_error(["frobnicate"], 2, "unknown command", "frobnicate")
    expect_error(["--frobnicate"], 2, "unknown option")

    wav = tmp / "a.wav"
    write_wav16(wav, speechlike(16000, 0.5), 16000)
    out = tmp / "o.npy"
    bad_values = [
        (["--n-mels", "0"], ["--n-mels", "1..1024"]),
        (["--n-mels", "abc"], ["--n-mels", "not an integer"]),
        (["--n-mels", "12x"], ["--n-mels"]),
        (["--n-mels", "99999999999999999999999"], ["--n-mels", "out of range"]),
        (["--sample-rate", "1000"], ["--sample-rate", "8000..192000"]),
        (["--sample-rate", ""], ["--sample-rate"]),
        (["--fmin", "-5"], ["--fmin", "out of range"]),
        (["--fmax", "nan"], ["--fmax"]),
        (["--fmax", "9000"], ["--fmax", "8000"]),
        (["--log-floor", "0"], ["--log-floor", "out of range"]),
        (["--log-floor", "1e999"], ["--log-floor"]),
        (["--denoise-db", "5"], ["--denoise-db", "-90..0"]),
        (["--denoise-db", "-15.5"], ["--denoise-db", "not an integer"]),
        (["--win-ms", "inf"], ["--win-ms"]),
        (["--hop-length", "1.5"], ["--hop-length", "not an integer"]),
        (["--hop-length", "500"], ["--hop-length"]),
        (["--n-fft", "256"], ["--n-fft", "--win-length"]),
        (["--n-mels", "300"], ["--n-mels", "too many"]),
        (["--mel-scale", "bark"], ["--mel-scale", "slaney, htk"]),
        (["--win-ms", "25", "--win-length", "400"], ["exclude"]),
        (["--hop-ms", "10", "--hop-length", "160"], ["exclude"]),
        (["--bogus"], ["unknown option", "--bogus"]),
        (["-z"], ["unknown option", "-z"]),
        (["--quiet=yes"], ["--quiet=yes"]),
        (["--pitch", "--pitch-only"], ["--pitch", "--pitch-only", "exclude"]),
        (["--pitch=1"], ["--pitch=1"]),
        (["--pitch-suppressed", "--denoise-db", "-15"], ["--pitch-suppressed", "--pitch"]),
        (["--pitch-only", "--pitch-suppressed"], ["--pitch-suppressed", "--denoise-db"]),
    ]
    for opts, needles in bad_values:
        expect_error(["features", *opts, wav, "-o", out], 2, *needles,
                     what=f"features {' '.join(opts)}")
        check(not out.exists(), f"features {opts}: output written despite a usage error")
    expect_error(["features", wav, "-o"], 2, "-o", "needs a value")
    expect_error(["features", wav], 2, "missing -o")
    expect_error(["features", "-o", out], 2, "missing input")
    expect_error(["features", wav, wav, "-o", out], 2, "more than one input")
    expect_error(["features", wav, "-o", out, "--skip-existing"], 2, "--batch")
    expect_error(["features", "--batch", tmp, "-o", tmp / "x", wav], 2, "unexpected argument")
    expect_error(["info"], 2, "missing input")
    expect_error(["info", "--yaml", wav], 2, "--yaml")
    check(not out.exists(), "usage errors wrote no output")


def case_features(tmp):
    x16 = speechlike(16000, 1.5)
    wav = tmp / "s16.wav"
    xq = write_wav16(wav, x16, 16000)
    out = tmp / "s16.npy"
    p = run(["features", wav, "-o", out])
    check(p.returncode == 0 and p.stderr == "", f"features 16k: rc {p.returncode} {p.stderr!r}")
    a = np.load(out)
    n_exp = 1 + (len(xq) - 400) // 160
    check(a.dtype == np.float32 and a.shape == (n_exp, 128) and a.flags.c_contiguous,
          f"shape/dtype {a.shape} {a.dtype}, expected ({n_exp}, 128) float32")
    check(np.all(np.isfinite(a)), "features finite")
    with open(out, "rb") as f:
        head = f.read(10)
    hlen = struct.unpack("<H", head[8:10])[0]
    check(head[:8] == b"\x93NUMPY\x01\x00" and (10 + hlen) % 64 == 0, "npy v1.0 header, 64-aligned")
    check(os.stat(out).st_size == 10 + hlen + a.size * 4, "npy size = header + data")

    # values: an independent numpy log-mel of the same PCM samples (16 kHz: no resampling)
    ref = ref_logmel(xq.astype(np.float64))
    energetic = ref > ref.max() - 12.0  # within ~50 dB of the peak band
    rel = np.abs(np.exp(a.astype(np.float64)[energetic] - ref[energetic]) - 1.0)
    check(energetic.sum() > 1000 and rel.max() < 1e-3,
          f"CLI vs numpy reference: max relative energy error {rel.max():.2e} over {energetic.sum()} cells")

    # identical channels: the downmix must give exactly the mono features
    st = tmp / "stereo.wav"
    write_wav16(st, np.stack([x16, x16], axis=1), 16000, channels=2)
    run(["features", st, "-o", tmp / "st.npy"])
    check(np.array_equal(np.load(tmp / "st.npy"), a), "stereo (L == R) equals mono bit for bit")
    # opposite channels cancel: silence gives the floor, not -inf
    write_wav16(st, np.stack([x16, -x16], axis=1), 16000, channels=2)
    run(["features", st, "-o", tmp / "st0.npy"])
    z = np.load(tmp / "st0.npy")
    check(np.allclose(z, np.log(np.float32(1e-10))), f"L == -R gives ln(floor) everywhere: {z.min()} {z.max()}")

    # lossless FLAC of the same samples: exactly the same frames
    sox(wav, tmp / "s16.flac")
    run(["features", tmp / "s16.flac", "-o", tmp / "flac.npy"])
    check(np.array_equal(np.load(tmp / "flac.npy"), a), "FLAC == WAV bit for bit")

    # the same sound at 48 kHz stereo (resampled by our soxr path) lands close to the 16 kHz one
    x48 = speechlike(48000, 1.5)
    write_wav16(tmp / "s48.wav", np.stack([x48, x48], axis=1), 48000, channels=2)
    run(["features", tmp / "s48.wav", "-o", tmp / "s48.npy"])
    b = np.load(tmp / "s48.npy")
    check(b.shape == a.shape and np.all(np.isfinite(b)), f"48 kHz shape {b.shape} vs {a.shape}")
    if b.shape == a.shape:
        hot = a > a.max() - 8.0
        d = np.median(np.abs(a[hot] - b[hot]))
        check(d < 0.2, f"48 kHz vs 16 kHz: median |dlog| on strong cells {d:.3f}")
    # Ogg/Vorbis at 44.1 kHz: readable, right length
    sox(tmp / "s48.wav", "-r", "44100", tmp / "s44.ogg")
    p = run(["features", tmp / "s44.ogg", "-o", tmp / "ogg.npy"])
    check(p.returncode == 0, f"ogg: {p.stderr}")
    check(abs(np.load(tmp / "ogg.npy").shape[0] - a.shape[0]) <= 1, "ogg 44.1 kHz frame count")

    # options reach the front end
    run(["features", wav, "-o", tmp / "m40.npy", "--n-mels", "40", "--hop-ms", "20"])
    m = np.load(tmp / "m40.npy")
    check(m.shape == (1 + (len(xq) - 400) // 320, 40), f"--n-mels 40 --hop-ms 20: {m.shape}")
    run(["features", wav, "-o", tmp / "htk.npy", "--mel-scale", "htk", "--n-mels", "64"])
    run(["features", wav, "-o", tmp / "sl64.npy", "--n-mels", "64"])
    check(np.load(tmp / "htk.npy").shape == (a.shape[0], 64) and not np.array_equal(np.load(tmp / "htk.npy"), np.load(tmp / "sl64.npy")), "--mel-scale htk changes the features")
    run(["features", wav, "-o", tmp / "explicit.npy", "--sample-rate", "16000", "--n-mels", "128",
         "--fmin", "0", "--fmax", "8000", "--n-fft", "512", "--win-length", "400",
         "--hop-length", "160", "--mel-scale", "slaney", "--log-floor", "1e-10"])
    check(np.array_equal(np.load(tmp / "explicit.npy"), a), "explicit defaults == defaults")
    p = run(["features", wav, "-o", tmp / "r8.npy", "--sample-rate", "8000"])
    r8 = np.load(tmp / "r8.npy") if p.returncode == 0 else np.zeros((0, 0))
    check(p.returncode == 0 and r8.shape == (1 + (len(xq) // 2 - 200) // 80, 128),
          f"--sample-rate 8000 (fmax follows Nyquist): {p.stderr} {r8.shape}")

    # pitch columns: --pitch appends ln F0 and periodicity to the same frames, --pitch-only gives
    # them alone; a 150 Hz harmonic series (at 48 kHz, resampled) reads 150 Hz where it sounds
    run(["features", wav, "-o", tmp / "p.npy", "--pitch"])
    run(["features", wav, "-o", tmp / "po.npy", "--pitch-only"])
    pm, po = np.load(tmp / "p.npy"), np.load(tmp / "po.npy")
    check(pm.shape == (a.shape[0], 130) and np.array_equal(pm[:, :128], a)
          and np.array_equal(pm[:, 128:], po), f"--pitch {pm.shape}, --pitch-only {po.shape}")
    t = np.arange(48000) / 48000.0
    tone = 0.2 * sum(np.sin(2 * np.pi * h * 150.0 * t) / h for h in range(1, 15))
    write_wav16(tmp / "t48.wav", np.concatenate([np.zeros(24000), tone]), 48000)
    p = run(["features", tmp / "t48.wav", "-o", tmp / "t48.npy", "--pitch-only"])
    f = np.load(tmp / "t48.npy") if p.returncode == 0 else np.zeros((0, 2))
    check(f.shape == (1 + (24000 - 400) // 160, 2), f"--pitch-only of 1.5 s at 48 kHz: {f.shape} {p.stderr}")
    if len(f) > 100:
        check(np.all(f[:40, 1] == 0) and np.allclose(np.exp(f[-50:, 0]), 150, rtol=0.01)
              and f[-50:, 1].min() > 0.9,
              f"silence then 150 Hz: F0 {np.exp(f[-50:, 0]).min():.1f}..{np.exp(f[-50:, 0]).max():.1f}, "
              f"periodicity {f[-50:, 1].min():.3f}")

    # progress: a long input gives percentages with --progress, nothing with --quiet
    long_wav = tmp / "long.wav"
    write_wav16(long_wav, 0.1 * np.sin(np.arange(8000 * 65) * 0.3), 8000)
    p = run(["features", long_wav, "-o", tmp / "long.npy", "--progress"])
    check(p.returncode == 0 and "100%" in p.stderr, f"--progress on a 65 s input: {p.stderr!r}")
    p = run(["features", long_wav, "-o", tmp / "long.npy", "--progress", "--quiet"])
    check(p.returncode == 0 and p.stderr == "", f"--quiet silences progress: {p.stderr!r}")
    p = run(["features", long_wav, "-o", tmp / "long.npy"])
    check(p.stderr == "", "no progress when stderr is not a terminal")
    no_leftovers(tmp, "features")


def make_tree(tmp):
    src = tmp / "corpus"
    (src / "Actor_01").mkdir(parents=True)
    (src / "Actor_02").mkdir()
    write_wav16(src / "Actor_01" / "a.wav", speechlike(16000, 0.6, 1), 16000)
    write_wav16(src / "Actor_01" / "b.wav", speechlike(22050, 0.7, 2), 22050)
    sox(src / "Actor_01" / "b.wav", src / "Actor_01" / "b.flac")
    os.unlink(src / "Actor_01" / "b.wav")
    write_wav16(src / "Actor_02" / "c.wav", speechlike(48000, 0.5, 3), 48000)
    (src / "Actor_02" / "broken.wav").write_bytes(b"RIFF\x10\x00\x00\x00WAVEjunkjunkjunk")
    (src / "labels.csv").write_text("file,label\n")
    write_wav16(src / ".hidden.wav", speechlike(16000, 0.3), 16000)
    return src


def case_batch(tmp):
    src = make_tree(tmp)
    out = tmp / "feats"
    p = run(["features", "--batch", src, "-o", out])
    lines = p.stderr.splitlines()
    check(p.returncode == 1, f"batch with a corrupt file exits 1: {p.returncode}")
    check(len(lines) == 2 and "broken.wav" in lines[0] and lines[1].endswith("3 written, 1 failed"),
          f"batch stderr: {lines!r}")
    for rel in ("Actor_01/a.npy", "Actor_01/b.npy", "Actor_02/c.npy"):
        check((out / rel).is_file(), f"batch output {rel}")
    check(not (out / "Actor_02" / "broken.npy").exists(), "no output for the corrupt file")
    check(not (out / ".hidden.npy").exists() and not (out / "labels.npy").exists(),
          "hidden and non-audio files skipped")
    for d in (out, out / "Actor_01", out / "Actor_02"):
        no_leftovers(d, "batch")
    stamp = json.loads((out / "emotion-features.json").read_text())
    check(stamp["features"]["n_mels"] == 128 and stamp["features"]["sample_rate"] == 16000,
          f"parameter stamp {stamp}")

    # batch output == single-file output, bit for bit
    run(["features", src / "Actor_01" / "b.flac", "-o", tmp / "single.npy"])
    check((tmp / "single.npy").read_bytes() == (out / "Actor_01" / "b.npy").read_bytes(),
          "batch and single mode give identical files")

    # list file: comments, blanks, relative and absolute paths, a missing file
    lst = src / "list.txt"
    lst.write_text("# training list\n\nActor_01/a.wav\n  ./Actor_02/c.wav  \n"
                   f"{src}/Actor_01/b.flac\nActor_02/missing.wav\n")
    out2 = tmp / "feats2"
    p = run(["features", "--batch", lst, "-o", out2, "--progress"])
    lines = p.stderr.splitlines()
    check(p.returncode == 1 and "[1/4] Actor_01/a.wav" in lines
          and any("missing.wav" in l and "no such file" in l for l in lines)
          and lines[-1].endswith("3 written, 1 failed"), f"list batch: {lines!r}")
    for rel in ("Actor_01/a.npy", "Actor_01/b.npy", "Actor_02/c.npy"):
        check((out2 / rel).read_bytes() == (out / rel).read_bytes(), f"list output {rel} == dir output")

    # --root and entries that cannot be mirrored
    lst2 = tmp / "elsewhere.txt"
    lst2.write_text("Actor_01/a.wav\n../x.wav\n/etc/passwd\n")
    p = run(["features", "--batch", lst2, "--root", src, "-o", tmp / "feats3"])
    lines = p.stderr.splitlines()
    check(p.returncode == 1 and (tmp / "feats3" / "Actor_01" / "a.npy").is_file()
          and any("..".lower() in l for l in lines) and any("outside the root" in l for l in lines)
          and lines[-1].endswith("1 written, 2 failed"), f"--root list: {lines!r}")

    # all good: exit 0; --skip-existing keeps up-to-date outputs
    os.unlink(src / "Actor_02" / "broken.wav")
    p = run(["features", "--batch", src, "-o", out, "--quiet"])
    check(p.returncode == 0 and p.stderr.strip().endswith("3 written, 0 failed"), f"clean batch: {p.stderr!r}")
    before = {r: os.stat(out / r).st_mtime_ns for r in ("Actor_01/a.npy", "Actor_02/c.npy")}
    p = run(["features", "--batch", src, "-o", out, "--skip-existing"])
    check(p.returncode == 0 and "0 written, 3 up to date, 0 failed" in p.stderr, f"skip-existing: {p.stderr!r}")
    check(all(os.stat(out / r).st_mtime_ns == t for r, t in before.items()), "skipped outputs untouched")
    os.utime(src / "Actor_02" / "c.wav", ns=(before["Actor_02/c.npy"] + 10**9,) * 2)
    p = run(["features", "--batch", src, "-o", out, "--skip-existing"])
    check("1 written, 2 up to date" in p.stderr, f"a newer input is recomputed: {p.stderr!r}")
    # other parameters invalidate the cache even with --skip-existing
    p = run(["features", "--batch", src, "-o", out, "--skip-existing", "--n-mels", "64"])
    check(p.returncode == 0 and "3 written, 0 failed" in p.stderr and "other feature parameters" in p.stderr,
          f"parameter change recomputes: {p.stderr!r}")
    check(np.load(out / "Actor_01" / "a.npy").shape[1] == 64, "recomputed with --n-mels 64")
    # the noise suppressor is a feature parameter too: recorded in the stamp, recomputes, changes
    # the frames, and counts whole hops only
    p = run(["features", "--batch", src, "-o", out, "--skip-existing", "--denoise-db", "-15"])
    stamp = json.loads((out / "emotion-features.json").read_text())
    check(p.returncode == 0 and "3 written, 0 failed" in p.stderr and stamp["features"].get("denoise_db") == -15,
          f"--denoise-db recomputes and is stamped: {p.stderr!r} {stamp}")
    run(["features", src / "Actor_01" / "a.wav", "-o", tmp / "plain.npy"])
    a_plain, a_dn = np.load(tmp / "plain.npy"), np.load(out / "Actor_01" / "a.npy")
    n = int(16000 * 0.6)
    check(len(a_plain) == 1 + (n - 400) // 160 and len(a_dn) == 1 + (n - n % 160 - 400) // 160
          and np.abs(a_plain[:len(a_dn)] - a_dn).max() > 0.5,
          f"denoised frames: {a_plain.shape} {a_dn.shape}")

    # the columns are in the stamp: --pitch-only into the same OUTDIR recomputes
    p = run(["features", "--batch", src, "-o", out, "--skip-existing", "--denoise-db", "-15",
             "--pitch-only"])
    stamp = json.loads((out / "emotion-features.json").read_text())
    check(p.returncode == 0 and "3 written, 0 failed" in p.stderr and "ln F0" in stamp["layout"]
          and np.load(out / "Actor_01" / "a.npy").shape == (len(a_dn), 2),
          f"--pitch-only recomputes and is stamped: {p.stderr!r} {stamp}")
    # ... and so is the tracker's input: the suppressor's output recomputes again, with the
    # log-mel's frame count, and other values than the raw samples give
    raw_pitch = np.load(out / "Actor_01" / "a.npy")
    p = run(["features", "--batch", src, "-o", out, "--skip-existing", "--denoise-db", "-15",
             "--pitch-only", "--pitch-suppressed"])
    stamp = json.loads((out / "emotion-features.json").read_text())
    sup_pitch = np.load(out / "Actor_01" / "a.npy")
    check(p.returncode == 0 and "3 written, 0 failed" in p.stderr and "suppressed" in stamp["layout"]
          and sup_pitch.shape == raw_pitch.shape and not np.array_equal(sup_pitch, raw_pitch),
          f"--pitch-suppressed recomputes and is stamped: {p.stderr!r} {stamp}")

    # two inputs mapping to one output
    sox(src / "Actor_01" / "a.wav", src / "Actor_01" / "a.flac")
    p = run(["features", "--batch", src, "-o", tmp / "feats4"])
    check(p.returncode == 1 and "also the output of" in p.stderr, f"duplicate outputs: {p.stderr!r}")

    expect_error(["features", "--batch", tmp / "nope", "-o", tmp / "f5"], 1, "nope", "no such file")
    (tmp / "empty_dir").mkdir()
    expect_error(["features", "--batch", tmp / "empty_dir", "-o", tmp / "f6"], 1, "no audio files")
    (tmp / "afile").write_text("x")
    p = run(["features", "--batch", src, "-o", tmp / "afile"])
    check(p.returncode == 1 and "cannot create output directory" in p.stderr, f"OUTDIR is a file: {p.stderr!r}")


def case_info(tmp):
    cases = [("m16.wav", 16000, 1, "WAV PCM_16"), ("s48.flac", 48000, 2, "FLAC PCM_16"),
             ("m8.ogg", 8000, 1, "OGG VORBIS"), ("s44.wav", 44100, 2, "WAV PCM_16")]
    for name, rate, ch, fmt in cases:
        n = int(rate * 1.234) + 7
        src = tmp / (name + ".src.wav")
        x = speechlike(rate, n / rate)
        write_wav16(src, np.stack([x] * ch, axis=1) if ch > 1 else x, rate, channels=ch)
        path = tmp / name
        if name.endswith(".wav"):
            os.rename(src, path)
        else:
            sox(src, path)
        p = run(["info", "--json", path])
        check(p.returncode == 0, f"info {name}: {p.stderr}")
        if p.returncode != 0:
            continue
        j = json.loads(p.stdout)
        check(j["sample_rate"] == rate and j["channels"] == ch and j["format"] == fmt,
              f"info {name}: {j}")
        check(j["frames"] == n and abs(j["duration_s"] - n / rate) < 1e-6, f"info {name} frames {j['frames']} vs {n}")
        run(["features", path, "-o", tmp / "f.npy"])
        check(np.load(tmp / "f.npy").shape[0] == j["feature_frames"],
              f"info {name}: feature_frames {j['feature_frames']} == rows written")
        t = run(["info", path]).stdout
        for key in ("format:", "sample rate:", "channels:", "frames:", "duration:", "feature frames:"):
            check(key in t, f"info text has {key}")
    odd = tmp / 'we"ird\\name\t.wav'
    shutil.copy(tmp / "m16.wav", odd)
    p = run(["info", "--json", odd])
    check(p.returncode == 0 and json.loads(p.stdout)["file"] == str(odd), f"info --json escapes names: {p.stdout!r}")
    p = run(["info", tmp / "m16.wav", tmp / "missing.wav", tmp / "s48.flac"])
    check(p.returncode == 1 and p.stdout.count("file:") == 2 and len(p.stderr.splitlines()) == 1
          and "missing.wav" in p.stderr, "info with one bad file among good ones")


def bad_inputs(tmp):
    """name -> (path, substrings the error line must contain)."""
    b = {}
    b["missing"] = (tmp / "missing.wav", ["no such file"])
    (tmp / "text.wav").write_text("this is not audio at all\n" * 20)
    b["not_audio"] = (tmp / "text.wav", ["not a readable audio file"])
    (tmp / "corrupt.wav").write_bytes(b"RIFF\xff\x00\x00\x00WAVEfmt \x10\x00\x00\x00" + os.urandom(64))
    b["corrupt"] = (tmp / "corrupt.wav", ["not a readable audio file"])
    (tmp / "empty.wav").write_bytes(b"")
    b["empty"] = (tmp / "empty.wav", ["empty file"])
    (tmp / "zero.wav").write_bytes(riff_wav(16000, 1, 1, 16, b""))
    b["zero_frames"] = (tmp / "zero.wav", ["0 frames"])
    pcm = (np.sin(np.arange(16000) * 0.1) * 8000).astype("<i2").tobytes()
    (tmp / "trunc.wav").write_bytes(riff_wav(16000, 1, 1, 16, pcm[:12000], declared_data_len=len(pcm)))
    b["truncated_wav"] = (tmp / "trunc.wav", ["truncated"])
    write_wav16(tmp / "noise.wav", np.random.default_rng(5).uniform(-0.5, 0.5, (48000, 2)), 16000, 2)
    sox(tmp / "noise.wav", tmp / "noise.flac")
    data = (tmp / "noise.flac").read_bytes()
    (tmp / "trunc.flac").write_bytes(data[:len(data) // 2])
    b["truncated_flac"] = (tmp / "trunc.flac", ["truncated"])
    sox(tmp / "noise.wav", tmp / "noise.ogg")
    data = (tmp / "noise.ogg").read_bytes()
    (tmp / "trunc.ogg").write_bytes(data[:len(data) // 2])
    b["truncated_ogg"] = (tmp / "trunc.ogg", ["truncated"])
    f = np.sin(np.arange(16000) * 0.05).astype("<f4")
    f[8000] = np.nan
    (tmp / "nan.wav").write_bytes(riff_wav(16000, 1, 3, 32, f.tobytes()))
    b["nan"] = (tmp / "nan.wav", ["NaN", "0.500 s"])
    f[8000] = 0.0
    f[12345] = -np.inf
    (tmp / "inf.wav").write_bytes(riff_wav(16000, 1, 3, 32, f.tobytes()))
    b["inf"] = (tmp / "inf.wav", ["infinite", "frame 12345"])
    (tmp / "rate1.wav").write_bytes(riff_wav(1, 1, 1, 16, pcm))
    b["rate_1hz"] = (tmp / "rate1.wav", ["sample rate 1 Hz", "8000..192000"])
    (tmp / "rate1m.wav").write_bytes(riff_wav(1000000, 1, 1, 16, pcm))
    b["rate_1mhz"] = (tmp / "rate1m.wav", ["sample rate 1000000 Hz"])
    (tmp / "ch40.wav").write_bytes(riff_wav(16000, 40, 1, 16, bytes(40 * 2 * 4000)))
    b["channels_40"] = (tmp / "ch40.wav", ["channel count 40", "1..32"])
    (tmp / "short.wav").write_bytes(riff_wav(16000, 1, 1, 16, pcm[:200]))
    b["too_short"] = (tmp / "short.wav", ["too short"])
    (tmp / "adir.wav").mkdir()
    b["directory"] = (tmp / "adir.wav", ["directory"])
    return b


def case_bad_input(tmp):
    out_dir = tmp / "out"
    out_dir.mkdir()
    for name, (path, needles) in bad_inputs(tmp).items():
        out = out_dir / (name + ".npy")
        expect_error(["features", path, "-o", out], 1, str(path), *needles, what=f"features {name}")
        check(not out.exists(), f"features {name}: output left behind")
        if name != "too_short":  # info only describes; a short file is valid audio
            expect_error(["info", path], 1, str(path), *needles, what=f"info {name}")
    no_leftovers(out_dir, "bad input")
    # an existing output is left untouched when the new run fails
    keep = out_dir / "keep.npy"
    keep.write_bytes(b"previous content")
    expect_error(["features", tmp / "nan.wav", "-o", keep], 1, "NaN")
    check(keep.read_bytes() == b"previous content", "failed run keeps the previous output")


def case_output(tmp):
    wav = tmp / "a.wav"
    write_wav16(wav, speechlike(16000, 0.5), 16000)
    expect_error(["features", wav, "-o", tmp / "nodir" / "x.npy"], 1, "x.npy", "does not exist")
    check(not (tmp / "nodir").exists(), "no directory created for a single output")
    (tmp / "plainfile").write_text("x")
    expect_error(["features", wav, "-o", tmp / "plainfile" / "x.npy"], 1, "not a directory")
    (tmp / "isdir.npy").mkdir()
    expect_error(["features", wav, "-o", tmp / "isdir.npy"], 1, "is a directory")
    ro = tmp / "ro"
    ro.mkdir()
    os.chmod(ro, 0o555)
    if os.access(ro, os.W_OK):
        # root ignores permission bits; a read-only mount is the same failure at the syscall
        target = "/proc/emotion-test-out.npy"
        expect_error(["features", wav, "-o", target], 1, target, "cannot")
    else:
        expect_error(["features", wav, "-o", ro / "x.npy"], 1, "x.npy", "cannot write")
        check(not os.listdir(ro), "nothing written into the read-only directory")
    os.chmod(ro, 0o755)
    # success replaces an existing file atomically and leaves no temporary
    dst = tmp / "dst.npy"
    dst.write_bytes(b"old")
    p = run(["features", wav, "-o", dst])
    check(p.returncode == 0 and np.load(dst).shape[1] == 128, "existing output replaced")
    check(oct(os.stat(dst).st_mode & 0o777) != oct(0o600), "output has normal permissions, not mkstemp's 0600")
    no_leftovers(tmp, "output")


CASES = {"usage": case_usage, "features": case_features, "batch": case_batch, "info": case_info,
         "bad_input": case_bad_input, "output": case_output}


def main():
    if shutil.which("sox") is None:
        print("sox not installed (tools/install-deps.sh installs it)", file=sys.stderr)
        return 77
    import pathlib
    with tempfile.TemporaryDirectory(prefix="emotion-cli-") as d:
        CASES[CASE](pathlib.Path(d))
    if FAILS:
        print(f"{len(FAILS)} check(s) failed in case {CASE}")
        return 1
    print(f"case {CASE}: all checks passed")
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Waveform-level augmentation and test-time noise, done BEFORE the C front end.

Each "version" of the corpus is a full set of 16 kHz mono WAV (float32) files under
CACHE/wav/<version>/<corpus>/<path>.wav; `emotion features --batch` then turns each version into
features (features.py), so training and inference see the same front end. A training epoch picks
one version per utterance at random, so more versions cost disk, not epoch time.

Versions
--------
orig       the corpus FLAC itself (no WAV copy is made)
sp09/sp11  sox `speed 0.9` / `speed 1.1` (tempo and pitch together, as speed perturbation in ASR)
pu/pd      sox `pitch +250` / `pitch -250` cents (pitch only, tempo kept)
white      white Gaussian noise at a random SNR in [5, 30] dB, plus a random gain in [-10, +10] dB
babble     babble at a random SNR in [5, 30] dB, plus a random gain: the sum of 5 utterances of the
           OTHER corpus (non-held-out speakers), so babble never carries a voice that some
           protocol tests on
whitespk / babblespk  as white / babble, but the SNR and gain are drawn once per SPEAKER (noise
           still per utterance): a steady condition of a speaker, as a noisy room is for the
           speaker normaliser's statistics (configs/stream_steady.json)
babblesame as babblespk, but the babble is the SAME corpus's speech (5 utterances of other speakers of
           the utterance's corpus), as protocol 3's babble10 is. Its pool depends on the split: it
           leaves out the split's validation and test files, so no file a split judges is heard in
           its training, not even as noise. Each split therefore has its own copies, cached as
           version "babblesame-<tag>" (split_version: tag = a hash of the left-out files); a run
           config names "babblesame" and protocols.py / train.py resolve it per split
           (features.prepare_split_versions).
white10 / babble10   protocol 3 test sets: exactly 10 dB SNR, no gain change; babble10 is the sum of
           5 utterances of OTHER speakers of the SAME corpus (the issue's definition).
SNR is measured over the whole utterance (speech power including its pauses) against the whole
noise segment. Every random draw is seeded by (seed, version, utterance), so a version is
reproducible file by file.
"""

import hashlib
import os
import subprocess
import sys

import numpy as np
from scipy.io import wavfile

import data as D

SR = 16000
TRAIN_VERSIONS = ("orig", "sp09", "sp11", "pu", "pd", "white", "babble", "whitespk", "babblespk")
TEST_NOISE_VERSIONS = ("white10", "babble10")
SPLIT_VERSIONS = ("babblesame",)   # made per split (split_version), not once for the cache
SOX_EFFECTS = {
    "sp09": ["speed", "0.9", "rate", "-h", "16000"],
    "sp11": ["speed", "1.1", "rate", "-h", "16000"],
    "pu": ["pitch", "250", "rate", "-h", "16000"],
    "pd": ["pitch", "-250", "rate", "-h", "16000"],
}


def rng_for(seed, version, key):
    h = hashlib.sha256(("%s|%s|%s" % (seed, version, key)).encode()).digest()
    return np.random.default_rng(int.from_bytes(h[:8], "little"))


def read_audio(path):
    """Any file sox reads -> float32 mono 16 kHz samples."""
    out = subprocess.run(["sox", path, "-t", "f32", "-c", "1", "-r", str(SR), "-"],
                         check=True, stdout=subprocess.PIPE, stderr=subprocess.PIPE).stdout
    return np.frombuffer(out, dtype=np.float32).copy()


def write_wav(path, x):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    tmp = path + ".tmp"
    wavfile.write(tmp, SR, np.asarray(x, dtype=np.float32))
    os.replace(tmp, path)


def wav_path(cache, version, key):
    return os.path.join(cache, "wav", version, os.path.splitext(key)[0] + ".wav")


def power(x):
    return float(np.mean(np.asarray(x, dtype=np.float64) ** 2)) + 1e-20


def mix_at_snr(x, noise, snr_db):
    g = np.sqrt(power(x) / (power(noise) * 10.0 ** (snr_db / 10.0)))
    return (x + g * noise).astype(np.float32)


def babble(rng, pool, n_samples, n_talkers=5):
    """Sum of n_talkers utterances from pool (list of arrays), each from a random offset, looped to
    n_samples, each scaled to unit power first so that no talker dominates."""
    out = np.zeros(n_samples, dtype=np.float64)
    for k in rng.choice(len(pool), size=n_talkers, replace=False):
        s = pool[k]
        s = s / np.sqrt(power(s))
        off = int(rng.integers(0, len(s)))
        reps = int(np.ceil((n_samples + off) / len(s))) + 1
        out += np.tile(s, reps)[off:off + n_samples]
    return out.astype(np.float32)


def clip_gain(x, gain_db):
    y = x * (10.0 ** (gain_db / 20.0))
    peak = float(np.max(np.abs(y))) if len(y) else 0.0
    if peak > 0.999:  # never clip: a clipped copy would teach distortion, not level
        y *= 0.999 / peak
    return y.astype(np.float32)


def split_version(version, left_out):
    """The cache name of a per-split version (SPLIT_VERSIONS) whose pool leaves out the items
    left_out (a split's validation and test files): "<version>-<10 hex digits>"."""
    if version not in SPLIT_VERSIONS:
        raise ValueError("%r is not a per-split version (%s)" % (version, ", ".join(SPLIT_VERSIONS)))
    keys = sorted(D.item_key(it) for it in left_out)
    return "%s-%s" % (version, hashlib.sha256("\n".join(keys).encode()).hexdigest()[:10])


def base_version(version):
    """"babblesame-0123456789" -> "babblesame"; any other name unchanged."""
    base = version.split("-", 1)[0]
    return base if base in SPLIT_VERSIONS and "-" in version else version


def make_version(version, items, all_items, root, cache, seed=1234, log=sys.stderr, left_out=None):
    """Writes the WAV copies of `items` for `version` (skips files that exist). A per-split
    version (split_version's name) needs left_out, the items its pool must not hold."""
    root = D.data_dir(root)
    base = base_version(version)
    if base in SPLIT_VERSIONS:
        if left_out is None or split_version(base, left_out) != version:
            raise ValueError("%s: a per-split version is made from its split's left-out files "
                             "(augment.split_version)" % version)
    elif left_out is not None:
        raise ValueError("%s: only per-split versions (%s) take left-out files"
                         % (version, ", ".join(SPLIT_VERSIONS)))
    todo = [it for it in items if not os.path.exists(wav_path(cache, version, D.item_key(it)))]
    if not todo:
        return 0
    pools = {}
    if base in ("babble", "babble10", "babblespk", "babblesame"):
        heldout = set(D.HELDOUT_SPEAKERS)
        skip = {D.item_key(it) for it in left_out or ()}
        for c in D.CORPORA:
            pools[c] = [(it["speaker"], read_audio(os.path.join(root, it["corpus"], it["path"])))
                        for it in all_items if it["corpus"] == c and it["speaker"] not in heldout
                        and D.item_key(it) not in skip]
    for i, it in enumerate(todo):
        key = D.item_key(it)
        src = os.path.join(root, it["corpus"], it["path"])
        dst = wav_path(cache, version, key)
        if version in SOX_EFFECTS:
            os.makedirs(os.path.dirname(dst), exist_ok=True)
            subprocess.run(["sox", src, "-e", "floating-point", "-b", "32", dst + ".tmp.wav"]
                           + SOX_EFFECTS[version], check=True, stderr=subprocess.PIPE)
            os.replace(dst + ".tmp.wav", dst)
            continue
        # babblesame draws as babblespk: the same SNR and gain per speaker, in every split, so
        # the two differ only in the pool the talkers come from.
        draws = "babblespk" if base == "babblesame" else base
        rng = rng_for(seed, draws, key)
        x = read_audio(src)
        if base in ("white", "white10", "whitespk"):
            noise = rng.standard_normal(len(x)).astype(np.float32)
        elif base in ("babble", "babblespk"):
            other = "emodb" if it["corpus"] == "ravdess" else "ravdess"
            noise = babble(rng, [a for _, a in pools[other]], len(x))
        elif base in ("babble10", "babblesame"):
            noise = babble(rng, [a for s, a in pools[it["corpus"]] if s != it["speaker"]], len(x))
        else:
            raise ValueError("unknown version %r" % version)
        if base.endswith("10"):
            y = mix_at_snr(x, noise, 10.0)
            peak = float(np.max(np.abs(y)))
            if peak > 0.999:
                y = (y * (0.999 / peak)).astype(np.float32)
        elif base.endswith("spk") or base == "babblesame":
            cond = rng_for(seed, draws, it["speaker"])   # one condition per speaker
            y = mix_at_snr(x, noise, float(cond.uniform(5.0, 30.0)))
            y = clip_gain(y, float(cond.uniform(-10.0, 10.0)))
        else:
            y = mix_at_snr(x, noise, float(rng.uniform(5.0, 30.0)))
            y = clip_gain(y, float(rng.uniform(-10.0, 10.0)))
        write_wav(dst, y)
        if log and (i + 1) % 200 == 0:
            print("augment %s: %d/%d" % (version, i + 1, len(todo)), file=log, flush=True)
    return len(todo)


def main(argv=None):
    import argparse
    ap = argparse.ArgumentParser(description="make augmented / noisy WAV copies of the corpora")
    ap.add_argument("--cache", required=True)
    ap.add_argument("--data", default=None)
    ap.add_argument("--versions", default=",".join(TRAIN_VERSIONS[1:] + TEST_NOISE_VERSIONS))
    ap.add_argument("--seed", type=int, default=1234)
    a = ap.parse_args(argv)
    all_items = []
    for c in D.CORPORA:
        all_items += D.load_corpus(c, a.data)
    for v in a.versions.split(","):
        if v == "orig":
            continue
        n = make_version(v, all_items, all_items, a.data, a.cache, a.seed)
        print("augment %s: %d files written" % (v, n), file=sys.stderr, flush=True)


if __name__ == "__main__":
    main()

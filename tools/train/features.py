"""Feature cache: log-mel frames made by OUR C front end (`emotion features --batch`), never by a
Python re-implementation, so that training sees exactly the numbers the daemon computes.

Layout: CACHE/feat/<version>/<corpus>/<path>.npy (float32 [frames, n_mels]), mirrored from
  version "orig": the corpus dir itself (FLAC), and
  other versions: CACHE/wav/<version>/ (augment.py).
With the front end's noise suppression (dsp_params.denoise_db = -N) the features live in
CACHE/feat-denoiseN/ instead; each version dir's emotion-features.json stamp (written by
`emotion features`) is checked against the setting the store was opened with.
The pitch tracker's columns (ln F0, periodicity; `emotion features --pitch-only`, float32
[frames, 2], the log-mel's frame count) live alike in CACHE/pitch/ or CACHE/pitch-denoiseN/ (the
noise suppression moves the frames by a hop, so they differ), or, for the tracker that reads the
suppressor's output (`--pitch-suppressed`), in CACHE/pitch-suppressed-denoiseN/; a store opened
with pitch="raw" (or True) / "suppressed" returns [frames, n_mels + 2], the model key `prosody`
reads them (model.py), the run key `pitch_input` says which (train.py).
`emotion` is found via $EMOTION_BIN, else <repo>/build-train/tools/emotion, else PATH.
"""

import copy
import json
import os
import shutil
import subprocess
import sys

import numpy as np

import augment as A
import data as D

REPO = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
DEFAULT_CACHE = os.environ.get("EMOTIOND_CACHE", "/var/tmp/emotiond-cache")


def emotion_bin():
    cands = [os.environ.get("EMOTION_BIN"),
             os.path.join(REPO, "build-train", "tools", "emotion"),
             os.path.join(REPO, "build-train", "tools", "emotion", "emotion"),
             shutil.which("emotion")]
    for c in cands:
        if c and os.path.isfile(c) and os.access(c, os.X_OK):
            return c
    raise FileNotFoundError("no `emotion` binary: build it (meson setup build-train && ninja -C "
                            "build-train) or set EMOTION_BIN")


def c_eval(emod, lst, data_root, out, *extra):
    """`emotion eval` (the C runtime, one OpenBLAS thread) of model emod over list lst, audio
    under data_root; returns the JSON it writes to out."""
    env = dict(os.environ, OPENBLAS_NUM_THREADS="1")
    subprocess.run([emotion_bin(), "eval", "--model", emod, "--list", lst, "--data", data_root,
                    "--json", out, "--quiet"] + list(extra), check=True, env=env,
                   stdout=subprocess.DEVNULL)
    with open(out) as f:
        return json.load(f)


def feat_dir(cache, version, denoise_db=0):
    """Where one version's features made with the given noise suppression live."""
    return os.path.join(cache, "feat-denoise%d" % -denoise_db if denoise_db else "feat", version)


def feat_path(cache, version, key, denoise_db=0):
    return os.path.join(feat_dir(cache, version, denoise_db), os.path.splitext(key)[0] + ".npy")


PITCH_COLUMNS = 2  # dsp/dsp.h DSP_PITCH_DIM: ln F0, periodicity
# The tracker's input: the raw samples, or the noise suppressor's output (DSP_PITCH_SUPPRESSED).
PITCH_INPUTS = ("raw", "suppressed")
# The stamps `emotion features --pitch-only [--pitch-suppressed]` write, per input.
PITCH_LAYOUTS = {"raw": "frames x (ln F0, periodicity)",
                 "suppressed": "frames x (ln F0, periodicity; suppressed samples)"}
PITCH_LAYOUT = PITCH_LAYOUTS["raw"]


def pitch_input(pitch):
    """None without pitch columns, else the tracker's input: "raw" (True says it too, as older
    callers do) or "suppressed"."""
    if not pitch:
        return None
    if pitch is True:
        return "raw"
    if pitch not in PITCH_INPUTS:
        raise ValueError("pitch input %r: one of %s" % (pitch, ", ".join(PITCH_INPUTS)))
    return pitch


def run_pitch(cfg):
    """The pitch a run's store reads: None when its model takes no pitch columns (model key
    prosody, 0 by default), else the tracker's input (run key pitch_input, "raw" by default, as
    for every run older than the key)."""
    return cfg.get("pitch_input", "raw") if cfg.get("model", {}).get("prosody", 0) else None


def pitch_dir(cache, version, denoise_db=0, pitch="raw"):
    """Where one version's pitch columns for the frames of that noise suppression live."""
    if pitch_input(pitch) == "suppressed":
        if not denoise_db:
            raise ValueError("the pitch of the suppressor's output needs denoise_db")
        return os.path.join(cache, "pitch-suppressed-denoise%d" % -denoise_db, version)
    return os.path.join(cache, "pitch-denoise%d" % -denoise_db if denoise_db else "pitch", version)


def pitch_path(cache, version, key, denoise_db=0, pitch="raw"):
    return os.path.join(pitch_dir(cache, version, denoise_db, pitch),
                        os.path.splitext(key)[0] + ".npy")


def pitch_options(pitch, alone=True):
    """`emotion features` options for the pitch columns of that input: alone (`--pitch-only`, the
    cache's own dir) or after the bands (`--pitch`, a model's whole input)."""
    return (["--pitch-only" if alone else "--pitch"]
            + (["--pitch-suppressed"] if pitch_input(pitch) == "suppressed" else []))


def stamp_layout(directory):
    """The "layout" a feature dir's stamp records, or None without a stamp."""
    try:
        with open(os.path.join(directory, "emotion-features.json")) as f:
            return json.load(f).get("layout")
    except FileNotFoundError:
        return None


def stamp_denoise_db(directory):
    """The denoise_db a feature dir was made with (its emotion-features.json; absent key = 0),
    or None without a stamp."""
    try:
        with open(os.path.join(directory, "emotion-features.json")) as f:
            return int(json.load(f)["features"].get("denoise_db", 0))
    except FileNotFoundError:
        return None


def extract(version, cache=DEFAULT_CACHE, root=None, log=sys.stderr, denoise_db=0, pitch=False):
    """Runs the C front end over one whole version (all corpora), skipping existing outputs;
    with pitch ("raw"/True or "suppressed"), also its pitch tracker (`--pitch-only`, into
    pitch_dir)."""
    src = D.data_dir(root) if version == "orig" else os.path.join(cache, "wav", version)
    if not os.path.isdir(src):
        raise FileNotFoundError("%s: no audio for version %r (run augment.py first)" % (src, version))
    outs = [(feat_dir(cache, version, denoise_db), [])]
    if pitch:
        outs.append((pitch_dir(cache, version, denoise_db, pitch), pitch_options(pitch)))
    for out, opts in outs:
        os.makedirs(out, exist_ok=True)
        cmd = [emotion_bin(), "features", "--batch", src, "-o", out, "--skip-existing"] + opts
        if denoise_db:
            cmd += ["--denoise-db", str(denoise_db)]
        print("features: " + " ".join(cmd), file=log, flush=True)
        subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL)


def prepare_split_versions(cfg, items, left_out, denoise_db=0, root=None, cache=DEFAULT_CACHE,
                           log=sys.stderr, pitch=False):
    """A run config for one split: every per-split version it names (augment.SPLIT_VERSIONS, in
    "versions", "version_weights" or "noise_pairs") becomes this split's cache name, whose WAV
    copies of `items` (every file a speaker's statistics may read) are made with a pool that
    leaves out `left_out` (the split's validation and test files), then their features. A config
    naming none comes back unchanged (the same object)."""
    names = {v: A.split_version(v, left_out) for v in A.SPLIT_VERSIONS
             if v in (cfg.get("versions") or ())}
    if not names:
        return cfg
    for v, name in names.items():
        n = A.make_version(name, items, items, root, cache, log=log, left_out=left_out)
        print("%s for this split: %s (%d copies made)" % (v, name, n), file=log, flush=True)
        extract(name, cache, root, log, denoise_db, pitch)
    out = copy.deepcopy(cfg)
    out["versions"] = [names.get(v, v) for v in cfg["versions"]]
    if out.get("version_weights"):
        out["version_weights"] = {names.get(v, v): w for v, w in out["version_weights"].items()}
    if out.get("noise_pairs"):
        out["noise_pairs"]["versions"] = [names.get(v, v) for v in out["noise_pairs"]["versions"]]
    return out


def prune_split_versions(cache=DEFAULT_CACHE, log=sys.stderr):
    """Removes every per-split version's copies (augment.SPLIT_VERSIONS: WAV and features, with
    and without noise suppression) from the cache: about 150 MB per EMO-DB fold and 610 MB per
    RAVDESS fold, and nothing else removes them. The versions made once for the cache stay.
    prepare_split_versions remakes a split's copies byte for byte when a run needs them again;
    so prune between runs, never under one. Returns the directories removed."""
    removed, size = [], 0
    names = sorted(os.listdir(cache)) if os.path.isdir(cache) else []
    tops = [os.path.join(cache, d) for d in names
            if d in ("wav", "feat", "pitch") or d.startswith(("feat-denoise", "pitch-denoise",
                                                              "pitch-suppressed-denoise"))]
    for top in (t for t in tops if os.path.isdir(t)):
        for name in sorted(os.listdir(top)):
            d = os.path.join(top, name)
            if A.base_version(name) == name or not os.path.isdir(d):
                continue
            for dirpath, _, files in os.walk(d):
                size += sum(os.path.getsize(os.path.join(dirpath, f)) for f in files)
            shutil.rmtree(d)
            removed.append(d)
    print("features: removed %d per-split version directories (%.1f MB) from %s"
          % (len(removed), size / 1e6, cache), file=log, flush=True)
    return removed


class FeatureStore:
    """Memory-mapped view of the cached features: get(key, version) -> [T, M] float32; with
    pitch ("raw"/True or "suppressed": the tracker's input), [T, M + PITCH_COLUMNS] (the log-mel,
    then the pitch columns; held in memory). extra_columns: how many columns follow the log-mel
    bands (0 or PITCH_COLUMNS)."""

    def __init__(self, cache=DEFAULT_CACHE, versions=("orig",), denoise_db=0, pitch=False):
        self.cache = cache
        self.versions = list(versions)
        self.denoise_db = int(denoise_db)
        self.pitch = pitch_input(pitch)
        if self.pitch == "suppressed" and not self.denoise_db:
            raise ValueError("pitch \"suppressed\" reads the noise suppressor's output: it needs "
                             "denoise_db")
        self.extra_columns = PITCH_COLUMNS if pitch else 0
        self._mem = {}
        self._spans = {}
        self._stamped = set()

    def _check_stamp(self, version):
        """Refuses features made with another noise suppression than the store's (the file names
        do not say; training on them would silently train another front end), and pitch
        columns that the stamp says are not pitch columns."""
        if version in self._stamped:
            return
        dirs = [feat_dir(self.cache, version, self.denoise_db)]
        if self.pitch:
            dirs.append(pitch_dir(self.cache, version, self.denoise_db, self.pitch))
        for d in dirs:
            have = stamp_denoise_db(d)
            if have is not None and have != self.denoise_db:
                raise ValueError("%s: features made with denoise_db %d, this run needs %d"
                                 % (d, have, self.denoise_db))
        if self.pitch:
            layout, want = stamp_layout(dirs[1]), PITCH_LAYOUTS[self.pitch]
            if layout is not None and layout != want:
                raise ValueError("%s: stamped %r, not the pitch columns (%r): remake it with "
                                 "features.py %s" % (dirs[1], layout, want, self._pitch_flag()))
        self._stamped.add(version)

    def has(self, key, version="orig"):
        return (os.path.exists(feat_path(self.cache, version, key, self.denoise_db)) and
                (not self.pitch or os.path.exists(pitch_path(self.cache, version, key,
                                                             self.denoise_db, self.pitch))))

    def _pitch_flag(self):
        return {"raw": "--pitch", "suppressed": "--pitch-suppressed"}.get(self.pitch, "")

    def _missing(self, p, version):
        return FileNotFoundError("%s: missing features (run features.py --versions %s%s%s)"
                                 % (p, version, " --denoise-db %d" % self.denoise_db
                                    if self.denoise_db else "",
                                    " " + self._pitch_flag() if self.pitch else ""))

    def get(self, key, version="orig"):
        k = (key, version)
        x = self._mem.get(k)
        if x is None:
            self._check_stamp(version)
            p = feat_path(self.cache, version, key, self.denoise_db)
            if not os.path.exists(p):
                raise self._missing(p, version)
            x = np.load(p, mmap_mode="r")
            if self.pitch:
                pp = pitch_path(self.cache, version, key, self.denoise_db, self.pitch)
                if not os.path.exists(pp):
                    raise self._missing(pp, version)
                f0 = np.load(pp)
                if f0.shape != (x.shape[0], PITCH_COLUMNS):
                    raise ValueError("%s: pitch %s for %d log-mel frames" % (pp, f0.shape, x.shape[0]))
                x = np.hstack([x, f0])
            self._mem[k] = x
        return x

    def speech_span(self, key, version="orig"):
        """(first, last + 1) of the utterance's speech frames (speech_mask), cached."""
        k = (key, version)
        span = self._spans.get(k)
        if span is None:
            idx = np.flatnonzero(speech_mask(self.get(key, version), self.extra_columns))
            span = self._spans[k] = (int(idx[0]), int(idx[-1]) + 1)
        return span

    def check(self, items, versions=None):
        missing = [(D.item_key(it), v) for v in (versions or self.versions) for it in items
                   if not self.has(D.item_key(it), v)]
        if missing:
            raise FileNotFoundError("%d feature files missing, e.g. %s (version %s)"
                                    % (len(missing), missing[0][0], missing[0][1]))


# ---- speaker normalisation (model cmvn "speaker"; nn_speaker in C does the same) ----

# The daemon's speaker normaliser defaults (nn/nn.h: NN_SPEAKER_DEFAULT_PRIOR_S x 100 frames/s and
# NN_SPEAKER_DEFAULT_VAR_FLOOR; a test reads them from the header), for SpeakerNormStore.get_heard.
DAEMON_PRIOR_FRAMES = 300
DAEMON_VAR_FLOOR = 0.5
SPEECH_RANGE = 5.0  # nats: a frame is speech when its mean ln-energy is within this of the utterance's peak


def speech_mask(x, extra_columns=0):
    """Which frames of one utterance (raw log-mel) are speech: mean log-mel over the bands within
    SPEECH_RANGE nats (21.7 dB) of the utterance's loudest frame. nn_speaker_add_utterance in C
    applies the same rule. extra_columns: columns after the bands (pitch), not read."""
    x = np.asarray(x, dtype=np.float64)
    e = x[:, :x.shape[1] - extra_columns].mean(1)
    return e >= e.max() - SPEECH_RANGE


def speech_frames(x, extra_columns=0):
    """The frames of one utterance that speaker statistics are taken from (speech_mask), with
    all their columns."""
    x = np.asarray(x, dtype=np.float64)
    return x[speech_mask(x, extra_columns)]


def speaker_moments(utterances, ln_floor=None, extra_columns=0):
    """(frames, sum, sum of squares) per column over the speech frames of the given utterances;
    with ln_floor, of those frames floored (apply_floor; the speech mask stays the raw frames').
    Columns after the bands (extra_columns: pitch) are normalised like a band, so a voice's
    ln F0 becomes its distance from the voice's mean in the voice's own spread."""
    if ln_floor is not None and extra_columns:
        raise ValueError("speaker_moments: a level floor applies to log-mel bands only, not with "
                         "extra columns")
    n, s1, s2 = 0, 0.0, 0.0
    for u in utterances:
        f = speech_frames(u, extra_columns)
        if ln_floor is not None:
            f = apply_floor(f, ln_floor)
        n += len(f)
        s1 = s1 + f.sum(0)
        s2 = s2 + (f * f).sum(0)
    if n == 0:
        raise ValueError("speaker_moments: no frames")
    return n, s1, s2


def speaker_level(utterances):
    """The speaker's speech level: mean raw log-mel over the bands and the speech frames of the
    given utterances (one number, nats)."""
    n, s1, _ = speaker_moments(utterances)
    return float(s1.sum() / (n * len(s1)))


def apply_floor(x, ln_floor):
    """ln(exp(x) + exp(ln_floor)) per value: the level floor of model key level_floor (the mel
    power plus a constant power c x exp(speaker level) in every band)."""
    return np.logaddexp(np.asarray(x, dtype=np.float64), ln_floor)


class MemoryStore:
    """Features held in memory ({item key: [T, M] frames}), read as FeatureStore reads the cache
    (tests: a SpeakerNormStore over frames made on the spot)."""

    def __init__(self, feats):
        self.feats = feats

    def get(self, key, version="orig"):
        return self.feats[key]


class SpeakerNormStore:
    """A FeatureStore view that returns every utterance normalised with its speaker's statistics
    in that version: y = (x - mean) / sqrt(var + eps), mean and var over the speech frames of all
    of the speaker's utterances (speaker_moments). This is the state the stream's running
    normaliser (nn_speaker) reaches once it has heard the speaker for a while; for a test speaker
    the statistics come from its own, unlabelled, test utterances (transductive, as the SVM's
    --spknorm). eps is the model's cmvn_eps. mean_only (cmvn "speaker-mean"): y = x - mean.
    level_floor c > 0: every frame first becomes apply_floor(x, ln c + speaker_level), and mean
    and var are those of the floored speech frames (the speech mask stays the raw frames').
    """

    def __init__(self, store, items, eps, mean_only=False, level_floor=0.0):
        self.store = store
        self.eps = float(eps)
        self.mean_only = bool(mean_only)
        self.level_floor = float(level_floor)
        self.extra_columns = getattr(store, "extra_columns", 0)
        if self.level_floor > 0 and self.extra_columns:
            raise ValueError("SpeakerNormStore: level_floor with pitch columns is not supported")
        self.speaker = {D.item_key(it): it["speaker"] for it in items}
        self.by_speaker = {}
        for it in items:
            self.by_speaker.setdefault(it["speaker"], []).append(D.item_key(it))
        self._stats = {}
        self._moments = {}

    def stats(self, speaker, version="orig"):
        """(mean, var, ln floor or None) of the speaker in that version."""
        k = (speaker, version)
        if k not in self._stats:
            utts = [self.store.get(key, version) for key in self.by_speaker[speaker]]
            ln_floor = None
            if self.level_floor > 0:
                ln_floor = np.log(self.level_floor) + speaker_level(utts)
            n, s1, s2 = speaker_moments(utts, ln_floor, self.extra_columns)
            mean = s1 / n
            var = np.maximum(s2 / n - mean * mean, 0.0)
            self._stats[k] = (mean, var, ln_floor)
        return self._stats[k]

    def prior(self, speakers, version="orig"):
        """The average speaker (mean of the speakers' means and variances, and with a level floor
        of their levels, else None): the normaliser's starting estimate, stored in the model."""
        st = [self.stats(s, version) for s in speakers]
        level = None
        if self.level_floor > 0:
            level = float(np.mean([lf for _, _, lf in st]) - np.log(self.level_floor))
        return (np.mean([m for m, _, _ in st], 0).astype(np.float32),
                np.mean([v for _, v, _ in st], 0).astype(np.float32), level)

    def get(self, key, version="orig"):
        mean, var, ln_floor = self.stats(self.speaker[key], version)
        x = np.asarray(self.store.get(key, version), dtype=np.float64)
        if ln_floor is not None:
            x = apply_floor(x, ln_floor)
        return self._normalise(x, mean, var)

    def _normalise(self, x, mean, var):
        if self.mean_only:
            return (x - mean).astype(np.float32)
        return ((x - mean) / np.sqrt(var + self.eps)).astype(np.float32)

    def moments(self, key, version="orig"):
        """speaker_moments of one utterance (cached; no level floor)."""
        k = (key, version)
        if k not in self._moments:
            self._moments[k] = speaker_moments([self.store.get(key, version)], None,
                                               self.extra_columns)
        return self._moments[k]

    def get_heard(self, key, version, heard, prior, prior_frames=DAEMON_PRIOR_FRAMES,
                  var_floor=DAEMON_VAR_FLOOR):
        """The utterance normalised with the estimate the daemon's normaliser (nn_speaker) holds
        when it has heard only the utterances `heard` (keys, in this version) of the voice: the
        prior (mean, var) weighted as prior_frames frames plus their speech frames, the variance
        at least var_floor x the prior's (nn__k_speaker_estimate). Neither the utterance itself
        nor forgetting enters: `emotion eval --speaker-stats running`, file by file.
        Why: get() gives the converged statistics of all of a speaker's audio, a state the
        daemon reaches only after minutes of one voice; training on this estimate as well shows
        the network the inputs of a voice's first seconds and minutes (partial_speaker_stats)."""
        if self.level_floor > 0:
            raise ValueError("get_heard: not with a level floor (the prior's shift with the "
                             "voice's level is not modelled here)")
        pm = np.asarray(prior[0], dtype=np.float64)
        pv = np.asarray(prior[1], dtype=np.float64)
        w, s1, s2 = float(prior_frames), prior_frames * pm, prior_frames * (pv + pm * pm)
        for h in heard:
            n, a1, a2 = self.moments(h, version)
            w, s1, s2 = w + n, s1 + a1, s2 + a2
        if w == 0:
            mean, var = pm, pv
        else:
            mean = s1 / w
            var = np.maximum(s2 / w - mean * mean, var_floor * pv)
        return self._normalise(np.asarray(self.store.get(key, version), dtype=np.float64),
                               mean, var)

    def has(self, key, version="orig"):
        return self.store.has(key, version)

    def speech_span(self, key, version="orig"):
        return self.store.speech_span(key, version)

    def check(self, items, versions=None):
        self.store.check(items, versions)


def main(argv=None):
    import argparse
    ap = argparse.ArgumentParser(description="cache C front-end features of corpus versions")
    ap.add_argument("--cache", default=DEFAULT_CACHE)
    ap.add_argument("--data", default=None)
    ap.add_argument("--versions", default=",".join(A.TRAIN_VERSIONS + A.TEST_NOISE_VERSIONS))
    ap.add_argument("--denoise-db", type=int, default=0,
                    help="front-end noise suppression (dsp_params.denoise_db, -90..0; 0 = off)")
    ap.add_argument("--pitch", action="store_true",
                    help="also the pitch tracker's columns (ln F0, periodicity), into pitch[-denoiseN]/")
    ap.add_argument("--pitch-suppressed", action="store_true",
                    help="also the columns of the tracker reading the noise suppressor's output "
                    "(needs --denoise-db), into pitch-suppressed-denoiseN/")
    ap.add_argument("--prune-split-versions", action="store_true",
                    help="remove every per-split version's copies (%s-*) and nothing else"
                    % "-*, ".join(A.SPLIT_VERSIONS))
    a = ap.parse_args(argv)
    if a.prune_split_versions:
        prune_split_versions(a.cache, log=sys.stderr)
        return
    if a.pitch and a.pitch_suppressed:
        ap.error("--pitch and --pitch-suppressed: one run caches one of them")
    if a.pitch_suppressed and not a.denoise_db:
        ap.error("--pitch-suppressed needs --denoise-db (the suppressor the tracker reads)")
    pitch = "suppressed" if a.pitch_suppressed else a.pitch
    for v in a.versions.split(","):
        extract(v, a.cache, a.data, denoise_db=a.denoise_db, pitch=pitch)
    items = []
    for c in D.CORPORA:
        items += D.load_corpus(c, a.data)
    FeatureStore(a.cache, a.versions.split(","), a.denoise_db, pitch).check(items)
    print("features: all %d x %d present" % (len(items), len(a.versions.split(","))),
          file=sys.stderr)


if __name__ == "__main__":
    main()

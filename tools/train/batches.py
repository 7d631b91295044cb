"""Training batches for train.py: crops of cached features, in a version drawn per crop, with
gain, SpecAugment masks, mixup, noisy twins (noise_pairs), partial speaker statistics
(partial_speaker_stats) and vocal tract length perturbation (vtlp). No I/O beyond the store's
reads.

VTLP (train config "vtlp": {"p": p, "alpha": a}; {} = off): with probability p a crop's mel
bands are resampled as if its speaker's vocal tract were shorter or longer: band i takes the
value the crop has at frequency g(f_i), f_i its centre, g the piecewise-linear warp of Jaitly &
Hinton (2013) (alpha * f up to a knee near F_HI, then a line that keeps f_max in place), alpha
uniform in [1 - a, 1 + a]; linear interpolation between neighbouring bands. Why: speaker
variation is the largest loss here (p2 is 6-25 points below p1) and the corpora have 10 and 24
voices; a warp of the frequency axis moves formants as another vocal tract would, which the
sox speed / pitch versions do not (they move formants and pitch together). It is applied to the
speaker-normalised frames, a twin gets its clean row's warp, and inference never warps.

Noisy twins (train config "noise_pairs": {"versions": [noisy versions], "weight": w}; {} = off):
every crop drawn in the clean version also enters the batch as a twin in one of the listed
noisy versions (uniformly): the same file, offset, length, gain and SpecAugment cells, so the two
rows differ only by the noise the version added. train.step_loss gives both rows their
cross-entropy (the twin none with "twin_ce": false) and the twin also w x KL(clean posteriors,
held fixed || twin's) per supervised step. Why: noisy crops alone moved protocol 3's drops by
under a point (BENCHMARKS.md "more noisy crops"); a twin asks the network for the same answer
with and without the noise, on the same speech, rather than only for the right label on each.
The listed versions must add noise to the clean waveform without moving it in time (augment.py's
white*, babble*), so that frame t of the twin is frame t of the clean crop: a version of another
length is refused when drawn.
"""

import math

import numpy as np
import torch

import data as D

LOG_FLOOR = math.log(1e-10)  # dsp_params.log_floor of the default front end
VTLP_F_HI = 4800.0  # Hz: the warp's knee for alpha = 1 (Jaitly & Hinton's boundary frequency)


def check_noise_pairs(d, versions):
    """The noise_pairs config checked ({} = off); versions = the run's versions."""
    if not isinstance(d, dict):
        raise ValueError("noise_pairs must be a dict ({} = off), got %r" % (d,))
    if not d:
        return {}
    unknown = sorted(set(d) - {"versions", "weight", "twin_ce"})
    if unknown:
        raise ValueError("noise_pairs: unknown keys %s (known: versions, weight, twin_ce)"
                         % unknown)
    v = d.get("versions")
    if not (isinstance(v, list) and v and all(isinstance(s, str) for s in v)):
        raise ValueError("noise_pairs: versions must be a non-empty list of version names, got %r"
                         % (v,))
    for s in v:
        if s not in versions[1:]:
            raise ValueError("noise_pairs: %r is not one of the run's augmented versions %s"
                             % (s, versions[1:]))
    w = d.get("weight")
    if not (isinstance(w, (int, float)) and not isinstance(w, bool) and 0 <= w < math.inf):
        raise ValueError("noise_pairs: weight must be a finite number >= 0, got %r" % (w,))
    ce = d.get("twin_ce", True)
    if not isinstance(ce, bool):
        raise ValueError("noise_pairs: twin_ce must be true or false, got %r" % (ce,))
    return {"versions": list(v), "weight": float(w), "twin_ce": ce}


def check_vtlp(d):
    """The vtlp config checked ({} = off)."""
    if not isinstance(d, dict):
        raise ValueError("vtlp must be a dict ({} = off), got %r" % (d,))
    if not d:
        return {}
    unknown = sorted(set(d) - {"p", "alpha"})
    if unknown:
        raise ValueError("vtlp: unknown keys %s (known: p, alpha)" % unknown)
    p, a = d.get("p"), d.get("alpha")
    if not (isinstance(p, (int, float)) and not isinstance(p, bool) and 0.0 < p <= 1.0):
        raise ValueError("vtlp: p must be a probability in (0, 1], got %r" % (p,))
    if not (isinstance(a, (int, float)) and not isinstance(a, bool) and 0.0 < a <= 0.3):
        raise ValueError("vtlp: alpha must be in (0, 0.3] (warp factors 1 - alpha .. 1 + alpha), "
                         "got %r" % (a,))
    return {"p": float(p), "alpha": float(a)}


def hz_to_mel(f, scale):
    """dsp/'s mel scales: 0 = Slaney (linear below 1 kHz, then 27 mels per factor 6.4), 1 = HTK."""
    f = np.asarray(f, dtype=np.float64)
    if scale == 1:
        return 2595.0 * np.log10(1.0 + f / 700.0)
    return np.where(f < 1000.0, f * 3.0 / 200.0,
                    15.0 + np.log(np.maximum(f, 1e-12) / 1000.0) * 27.0 / math.log(6.4))


def mel_to_hz(m, scale):
    m = np.asarray(m, dtype=np.float64)
    if scale == 1:
        return 700.0 * (10.0 ** (m / 2595.0) - 1.0)
    return np.where(m < 15.0, m * 200.0 / 3.0, 1000.0 * np.exp((m - 15.0) * math.log(6.4) / 27.0))


def vtlp_sources(alpha, n_mels, f_min, f_max, scale):
    """For each of n_mels output bands, the fractional input band (0 .. n_mels - 1) that the warp
    by alpha reads it from. Band centres are dsp/'s (mel points equally spaced from f_min to
    f_max, n_mels + 2 of them, the inner ones)."""
    pts = np.linspace(hz_to_mel(f_min, scale), hz_to_mel(f_max, scale), n_mels + 2)
    f = mel_to_hz(pts[1:-1], scale)
    knee = VTLP_F_HI * min(alpha, 1.0)
    g = np.where(f <= knee / alpha, alpha * f,
                 f_max - (f_max - knee) / (f_max - knee / alpha) * (f_max - f))
    return np.clip((hz_to_mel(g, scale) - pts[0]) / (pts[1] - pts[0]) - 1.0, 0.0, n_mels - 1.0)


def warp_bands(x, src):
    """x [t, m] with band i read at fractional band src[i] (vtlp_sources), a new array."""
    i0 = np.floor(src).astype(np.int64)
    i1 = np.minimum(i0 + 1, x.shape[1] - 1)
    w = (src - i0).astype(np.float32)
    return x[:, i0] * (1.0 - w) + x[:, i1] * w


def draw_masks(t, m, rng, sa):
    """SpecAugment-style cells for a [t, m] crop: [(axis, start, width)], axis 1 = mel bands,
    0 = frames. Drawn in the order specaugment always drew them, so runs repeat."""
    masks = []
    for _ in range(sa.get("freq_masks", 0)):
        w = int(rng.integers(0, sa.get("freq_width", 0) + 1))
        if w:
            masks.append((1, int(rng.integers(0, m - w + 1)), w))
    for _ in range(sa.get("time_masks", 0)):
        w = int(rng.integers(0, min(sa.get("time_width", 0), t // 5) + 1))
        if w:
            masks.append((0, int(rng.integers(0, t - w + 1)), w))
    return masks


def apply_masks(x, masks):
    """Masked cells of x [t, m] set to x's band means (of the crop before masking), in place."""
    band_mean = x.mean(0)
    for axis, a, w in masks:
        if axis == 1:
            x[:, a:a + w] = band_mean[a:a + w]
        else:
            x[a:a + w] = band_mean
    return x


def specaugment(x, rng, sa):
    return apply_masks(x, draw_masks(x.shape[0], x.shape[1], rng, sa))


def crop_offsets(n, span, L):
    """Offsets [lo, hi] of the L-frame crops of an n-frame utterance that hold as much of its
    speech span (first, last + 1) as any crop can: all of it when the span is at most L frames,
    else crops inside it. RAVDESS files are 40 % silence (a second before and after the
    sentence): uniform offsets train many crops on half a sentence, which the file-level windows
    never see."""
    first, last = span
    if last - first <= L:
        return max(0, last - L), min(first, n - L)
    return first, last - L


def draw_augmented(versions, weights, rng):
    """One of versions[1:] (versions[0] is the clean one): uniformly, or in proportion to
    `version_weights` (1 for a version it does not name). The uniform draw stays the one it
    always was, so that runs without weights repeat."""
    if not weights:
        return versions[1 + int(rng.integers(0, len(versions) - 1))]
    w = np.array([float(weights.get(v, 1.0)) for v in versions[1:]])
    return versions[1 + int(rng.choice(len(w), p=w / w.sum()))]


def draw_heard(store, key, rng):
    """The utterances of key's speaker (store.by_speaker, key itself excluded) that the partial
    speaker statistics of one crop have heard: k of the K others, in a random choice, with
    k = floor((K + 2)^u) - 1, u uniform (0 <= k <= K). Why that law: the estimate moves most over
    a voice's first utterances (k = 0, the prior alone, has probability ln 2 / ln(K + 2), 17 %
    at K = 60), and a uniform k would draw mostly near-converged statistics."""
    others = [o for o in store.by_speaker[store.speaker[key]] if o != key]
    k = int(math.floor((len(others) + 2) ** float(rng.random()))) - 1
    k = min(max(k, 0), len(others))
    if not k:
        return []
    return [others[i] for i in rng.choice(len(others), k, replace=False)]


def _features(store, key, version, heard, prior):
    """key's frames in version: with the speaker's full statistics (heard None), else with the
    estimate after hearing `heard` (draw_heard)."""
    if heard is None:
        return store.get(key, version)
    return store.get_heard(key, version, heard, prior)


def _crop(x, off, L, gain, masks, warp=None, extra=0):
    """Frames off..off+L of x as a new float32 array, warped, shifted by the gain and masked.
    extra: columns after the log-mel bands (pitch), which warp and gain leave alone."""
    bands = x.shape[1] - extra
    if warp is None:
        c = np.array(x[off:off + L], dtype=np.float32)
    elif extra:
        c = np.array(x[off:off + L], dtype=np.float32)
        c[:, :bands] = warp_bands(c[:, :bands], warp)
    else:  # warp_bands returns a new array, so the warped crop needs no copy of its own
        c = warp_bands(np.asarray(x[off:off + L], dtype=np.float32), warp)
    if gain:
        # A gain of g dB adds 0.2303 * g to every ln-energy: exact in the feature domain
        # (down to the front end's log floor). Level must not carry the label: RAVDESS is
        # recorded ~22 dB quieter than EMO-DB.
        c[:, :bands] = np.maximum(c[:, :bands] + np.float32(gain * math.log(10.0) / 10.0),
                                  np.float32(LOG_FLOOR))
    return apply_masks(c, masks) if masks else c


def make_batch(items, store, cfg, rng, versions, time_pool, train=True, chosen=None, twins=None,
               prior=None, dsp=None):
    """Crops [B, T, M] and their lengths, multiples of time_pool (the model's frames per step).
    chosen: a list that receives each row's (item key, version).
    twins: with cfg["noise_pairs"] set and train, a list that receives (clean row, twin row)
    for each noisy twin; twin rows follow the items' own rows, in the order of their clean rows
    (so row len(items) + j belongs to the j-th pair). Without twins the draws are the ones runs
    always made.
    prior: the model's speaker prior (mean, var), needed with cfg["partial_speaker_stats"] p > 0
    in training: each crop is then, with probability p, normalised with the statistics of a part
    of its speaker's other utterances (draw_heard, store.get_heard) instead of all of them, and
    its twin with the same part in the twin's version. With p = 0 no draw is added, so runs
    without the key repeat.
    dsp: the front end's parameters (f_min, f_max, mel_scale), needed with cfg["vtlp"] in
    training: a crop is then warped with probability p (the module's text), its twin alike.
    A store with extra_columns (features.FeatureStore pitch=True) gives rows of bands, then
    those columns: warp, gain and frequency masks touch only the bands, time masks all."""
    tp = time_pool
    pairs = cfg.get("noise_pairs") if (train and twins is not None) else None
    p_heard = cfg.get("partial_speaker_stats", 0.0) if train else 0.0
    if p_heard and prior is None:
        raise ValueError("partial_speaker_stats: make_batch needs the model's speaker prior")
    vtlp = cfg.get("vtlp") if train else None
    if vtlp and dsp is None:
        raise ValueError("vtlp: make_batch needs the front end's parameters (dsp)")
    L = int(rng.integers(cfg["crop_min"], cfg["crop_max"] + 1))
    L -= L % tp
    n_extra = getattr(store, "extra_columns", 0)
    crops, lengths, extra, extra_chosen = [], [], [], []
    for i, it in enumerate(items):
        if train and len(versions) > 1 and rng.random() >= cfg["p_orig"]:
            v = draw_augmented(versions, cfg["version_weights"], rng)
        else:
            v = versions[0]
        key = D.item_key(it)
        if chosen is not None:
            chosen.append((key, v))
        heard = draw_heard(store, key, rng) if p_heard and rng.random() < p_heard else None
        x = _features(store, key, v, heard, prior)
        n = x.shape[0]
        off, Lc = 0, n
        if n > L:
            lo, hi = (crop_offsets(n, store.speech_span(key, v), L) if cfg["crop_speech"]
                      else (0, n - L))
            off, Lc = int(rng.integers(lo, hi + 1)), L
        g = float(rng.uniform(-cfg["gain_db"], cfg["gain_db"])) if train and cfg["gain_db"] else 0.0
        warp = None
        if vtlp and rng.random() < vtlp["p"]:
            alpha = float(rng.uniform(1.0 - vtlp["alpha"], 1.0 + vtlp["alpha"]))
            warp = vtlp_sources(alpha, x.shape[1] - n_extra, dsp["f_min"], dsp["f_max"],
                                dsp["mel_scale"])
        masks = (draw_masks(Lc, x.shape[1] - n_extra, rng, cfg["specaug"])
                 if train and cfg["specaug"] else [])
        crops.append(_crop(x, off, Lc, g, masks, warp, n_extra))
        lengths.append(Lc - Lc % tp)
        if pairs and v == versions[0]:
            nv = pairs["versions"][int(rng.integers(0, len(pairs["versions"])))]
            xn = _features(store, key, nv, heard, prior)
            if xn.shape != x.shape:
                raise ValueError("noise_pairs: %s in version %r has %d frames, the clean one %d: "
                                 "a twin's version must not move the audio in time"
                                 % (key, nv, xn.shape[0], n))
            twins.append((i, len(items) + len(extra)))
            extra.append(_crop(xn, off, Lc, g, masks, warp, n_extra))
            extra_chosen.append((key, nv))
    for c in extra:
        crops.append(c)
        lengths.append(len(c) - len(c) % tp)
    if chosen is not None:
        chosen.extend(extra_chosen)
    T = max(lengths)
    out = np.empty((len(crops), T, crops[0].shape[1]), dtype=np.float32)
    for i, c in enumerate(crops):
        # Wrap-pad: realistic frames keep batch-norm statistics sane; the loss masks them anyway.
        out[i] = np.resize(c[:lengths[i]], (T, c.shape[1])) if lengths[i] < T else c[:T]
    return torch.from_numpy(out), torch.tensor(lengths)


def mix_batch(x, lengths, rng, alpha):
    """Mixup of a batch with a permutation of itself: (x, lengths, (perm, lam)). A mixed crop is
    as long as the shorter of its two (the rest of the longer one is wrap padding)."""
    lam = float(rng.beta(alpha, alpha))
    perm = torch.from_numpy(rng.permutation(x.shape[0]))
    return (lam * x + (1.0 - lam) * x[perm], torch.minimum(lengths, lengths[perm]), (perm, lam))

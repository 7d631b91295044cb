"""Training batches for train.py: crops of cached features, in a version drawn per crop, with
gain, SpecAugment masks, mixup, noisy twins (noise_pairs) and partial speaker statistics
(partial_speaker_stats). No I/O beyond the store's reads.

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


def _crop(x, off, L, gain, masks):
    c = np.array(x[off:off + L], dtype=np.float32)
    if gain:
        # A gain of g dB adds 0.2303 * g to every ln-energy: exact in the feature domain
        # (down to the front end's log floor). Level must not carry the label: RAVDESS is
        # recorded ~22 dB quieter than EMO-DB.
        c = np.maximum(c + np.float32(gain * math.log(10.0) / 10.0), np.float32(LOG_FLOOR))
    return apply_masks(c, masks) if masks else c


def make_batch(items, store, cfg, rng, versions, time_pool, train=True, chosen=None, twins=None,
               prior=None):
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
    without the key repeat."""
    tp = time_pool
    pairs = cfg.get("noise_pairs") if (train and twins is not None) else None
    p_heard = cfg.get("partial_speaker_stats", 0.0) if train else 0.0
    if p_heard and prior is None:
        raise ValueError("partial_speaker_stats: make_batch needs the model's speaker prior")
    L = int(rng.integers(cfg["crop_min"], cfg["crop_max"] + 1))
    L -= L % tp
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
        masks = (draw_masks(Lc, x.shape[1], rng, cfg["specaug"])
                 if train and cfg["specaug"] else [])
        crops.append(_crop(x, off, Lc, g, masks))
        lengths.append(Lc - Lc % tp)
        if pairs and v == versions[0]:
            nv = pairs["versions"][int(rng.integers(0, len(pairs["versions"])))]
            xn = _features(store, key, nv, heard, prior)
            if xn.shape != x.shape:
                raise ValueError("noise_pairs: %s in version %r has %d frames, the clean one %d: "
                                 "a twin's version must not move the audio in time"
                                 % (key, nv, xn.shape[0], n))
            twins.append((i, len(items) + len(extra)))
            extra.append(_crop(xn, off, Lc, g, masks))
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

#!/usr/bin/python3
"""Unit tests of the training harness that need no corpora (always run): label maps, protocol
splits (speaker-disjoint, validation from training speakers only, stratified 80/10/10), metrics
against scikit-learn, the file-level window rule, one training step on synthetic frames, and the
regularisers (mixup, weight averaging).
With the corpora present, also checks the held-out list against data.HELDOUT_SPEAKERS.

    test_train_py.py CASE      CASE: labels | splits | metrics | windows | crops | step | regularise | blas |
                                     kernels | frontend | config_base | valnoise | heldout
"""

import csv
import os
import sys

import numpy as np

SRC = os.environ.get("EMOTIOND_SRC") or os.path.join(os.path.dirname(__file__), "..", "..")
sys.path.insert(0, os.path.join(SRC, "tools", "train"))

import data as D  # noqa: E402
import metrics as MX  # noqa: E402
import splits as S  # noqa: E402


def check(cond, msg):
    if not cond:
        print("FAIL: " + msg)
        sys.exit(1)


def check_refused(key, *values):
    """train.full_config refuses each value of key with an error naming the key."""
    import train as T
    for v in values:
        try:
            T.full_config({key: v})
        except ValueError as e:
            check(key in str(e), "error names the key: %s" % e)
        else:
            check(False, "%s %r accepted" % (key, v))


TINY_NET = {"c1": 2, "c2": 2, "c3": 2, "lstm_hidden": 4, "dense": 4}


def tiny_run_config(**keys):
    """A train() config for the tiny network on fake_items (4 steps per epoch, 40-80-frame
    crops), with keys overriding it."""
    cfg = {"name": "unit", "epochs": 1, "batch": 4, "versions": ["orig"], "model": dict(TINY_NET),
           "crop_min": 40, "crop_max": 80}
    cfg.update(keys)
    return cfg


def fake_items(corpus, n_spk, per_label, labels):
    items = []
    for s in range(n_spk):
        for li, lab in enumerate(labels):
            for r in range(per_label):
                items.append({"corpus": corpus, "path": "s%02d_%s_%d.flac" % (s + 1, lab, r),
                              "speaker": "%s:%02d" % (corpus, s + 1),
                              "gender": "male" if s % 2 == 0 else "female",
                              "native": lab, "label_name": lab, "label": li, "duration": 3.0})
    return items


def write_labels_csv(data, items):
    """DATA/<corpus>/labels.csv naming fake_items' utterances, as the corpora's own
    (data.load_items reads it back)."""
    corpus = items[0]["corpus"]
    os.makedirs(os.path.join(data, corpus), exist_ok=True)
    with open(os.path.join(data, corpus, "labels.csv"), "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["path", "speaker", "label", "gender", "duration_s"])
        for it in items:
            w.writerow([it["path"], it["speaker"].split(":")[1], it["native"], it["gender"], 3.0])


class SyntheticStore:
    """A feature store of random frames (60-199 frames of 128 bands per utterance and version)."""

    def __init__(self):
        self.rng = np.random.default_rng(1)
        self.m = {}

    def check(self, *a):
        pass

    def get(self, key, v="orig"):
        if (key, v) not in self.m:
            self.m[(key, v)] = self.rng.standard_normal((int(self.rng.integers(60, 200)), 128)
                                                        ).astype(np.float32)
        return self.m[(key, v)]


def t_labels():
    check(D.UNIFIED7 == ["neutral", "happy", "sad", "angry", "fearful", "disgust", "surprised"],
          "unified label order changed (the model file and the protocol depend on it)")
    for corpus, native in (("ravdess", D.RAVDESS_NATIVE), ("emodb", D.EMODB_NATIVE)):
        check(set(D.TO_UNIFIED[corpus]) == set(native), "%s: every native label mapped" % corpus)
        check(set(D.TO_UNIFIED[corpus].values()) <= set(D.UNIFIED7), "maps into unified7")
    check(D.TO_UNIFIED["ravdess"]["calm"] == "neutral", "calm -> neutral")
    check(D.TO_UNIFIED["emodb"]["boredom"] == "neutral", "boredom -> neutral")
    check(not set(D.HELDOUT_SPEAKERS) & set(D.SHIPPED_VAL_SPEAKERS), "held-out != validation")


def t_splits():
    rav = fake_items("ravdess", 24, 4, D.RAVDESS_NATIVE)
    folds = list(S.folds("p2", rav))
    check(len(folds) == 6, "RAVDESS: 6 folds")
    seen_test = set()
    for name, tr, va, te in folds:
        st, sv, ste = D.speakers(tr), D.speakers(va), D.speakers(te)
        check(not set(st) & set(ste) and not set(sv) & set(ste) and not set(st) & set(sv),
              "%s: train/val/test speakers disjoint" % name)
        check(len(ste) == 4 and len(sv) == 2, "%s: 4 test, 2 validation actors" % name)
        check(len(st) + len(sv) + len(ste) == 24, "%s: every actor used" % name)
        seen_test |= set(ste)
    check(len(seen_test) == 24, "every actor tested once")
    emo = fake_items("emodb", 10, 3, D.EMODB_NATIVE)
    emo = [dict(it, speaker="emodb:%s" % sp) for it, sp in
           zip(emo, [s for s in ("03", "08", "09", "10", "11", "12", "13", "14", "15", "16")
                     for _ in range(3 * 7)])]
    folds = list(S.folds("p2", emo))
    check(len(folds) == 10 and all(len(D.speakers(te)) == 1 for _, _, _, te in folds), "LOSO")
    for _, tr, va, te in folds:
        check(not set(D.speakers(va)) & set(D.speakers(te)), "validation never the test speaker")
    p1 = list(S.folds("p1", rav))
    check(len(p1) == 5, "5 seeds")
    for _, tr, va, te in p1:
        check(len(tr) + len(va) + len(te) == len(rav), "p1 partitions everything")
        keys = [D.item_key(i) for i in tr + va + te]
        check(len(set(keys)) == len(keys), "p1 parts disjoint")
        for li in range(8):
            n = sum(1 for i in te if i["label"] == li)
            check(abs(n - 0.1 * 96) <= 1, "p1 stratified: class %d has %d test items" % (li, n))
    a = [D.item_key(i) for i in p1[0][3]]
    b = [D.item_key(i) for i in list(S.folds("p1", rav))[0][3]]
    check(a == b, "p1 split reproducible")
    check(a != [D.item_key(i) for i in p1[1][3]], "p1 seeds differ")


def t_metrics():
    from sklearn.metrics import accuracy_score, balanced_accuracy_score, f1_score
    rng = np.random.default_rng(0)
    yt = rng.integers(0, 6, 500)  # class 6 absent from the truth, as "surprised" in EMO-DB
    yp = np.where(rng.random(500) < 0.6, yt, rng.integers(0, 7, 500))
    f = MX.figures(yt, yp, ["l%d" % k for k in range(7)])
    check(abs(f["accuracy"] - accuracy_score(yt, yp)) < 1e-12, "accuracy")
    check(abs(f["uar"] - balanced_accuracy_score(yt, yp)) < 1e-9, "UAR = balanced accuracy")
    check(abs(f["macro_f1"] - f1_score(yt, yp, labels=list(range(6)), average="macro")) < 1e-9,
          "macro-F1 over the classes present")
    pooled = MX.pooled([f, f], f["labels"])
    check(pooled["n"] == 1000 and abs(pooled["accuracy"] - f["accuracy"]) < 1e-12, "pooled")


def t_windows():
    import train as T
    check(T.windows(120, 300) == [(0, 120)], "short file: one window")
    check(T.windows(300, 300) == [(0, 300)], "exact window")
    w = T.windows(500, 300)
    check(w == [(0, 300), (150, 450), (200, 500)], "last window aligned to the end: %r" % w)
    check(T.windows(600, 300) == [(0, 300), (150, 450), (300, 600)], "hop = window/2")


def t_crops():
    import batches as B
    import features as FE
    import train as T
    # A RAVDESS-like file: 100 frames of near-silence, 166 of speech, 100 of silence.
    rng = np.random.default_rng(3)
    x = rng.standard_normal((366, 128)).astype(np.float32) - 18
    x[100:266] += 12
    check(tuple(np.flatnonzero(FE.speech_mask(x))[[0, -1]]) == (100, 265), "speech mask of the middle")
    check(B.crop_offsets(366, (100, 266), 150) == (100, 116), "crop shorter than the speech: inside it")
    check(B.crop_offsets(366, (100, 266), 300) == (0, 66), "crop longer: all the speech, any offset")
    check(B.crop_offsets(366, (0, 366), 150) == (0, 216), "speech everywhere: every offset")
    check(B.crop_offsets(366, (300, 366), 200) == (166, 166), "speech at the end: the last crop")

    class Store:
        def get(self, key, v="orig"):
            return x

        def speech_span(self, key, v="orig"):
            return (100, 266)

    cfg = T.full_config({"crop_min": 150, "crop_max": 150, "crop_speech": True, "specaug": {}})
    for seed in range(20):
        b, lengths = B.make_batch([{"corpus": "c", "path": "p", "label": 0}], Store(), cfg,
                                  np.random.default_rng(seed), ["orig"], 2)
        e = b[0].numpy().mean(1)
        check(int(lengths[0]) == 150 and (e > -12).all(), "crop_speech crop %d holds silence" % seed)
    b, lengths = B.make_batch([{"corpus": "c", "path": "p", "label": 0}], Store(), cfg,
                              np.random.default_rng(0), ["orig"], 4)
    check(int(lengths[0]) == 148 and b.shape[1] == 148, "time_pool 4: crop of 150 cut to 148 frames")


def t_versions():
    import batches as B
    check_refused("version_weights", ["white"], {"orig": 2}, {"nope": 1}, {"white": 0},
                  {"white": -1}, {"white": True}, {"white": "3"}, {"white": float("inf")},
                  {"white": float("nan")})
    rng = np.random.default_rng(5)
    versions = ["orig", "a", "b", "c"]
    uniform = [B.draw_augmented(versions, {}, rng) for _ in range(6000)]
    weighted = [B.draw_augmented(versions, {"b": 4}, rng) for _ in range(6000)]
    check("orig" not in uniform + weighted, "the clean version is never an augmented draw")
    for v in "abc":
        check(abs(uniform.count(v) / 6000 - 1 / 3) < 0.03,
              "uniform draw of %s: %d" % (v, uniform.count(v)))
    check(abs(weighted.count("b") / 6000 - 4 / 6) < 0.03, "weight 4 of 6: %d" % weighted.count("b"))
    check(abs(weighted.count("a") / 6000 - 1 / 6) < 0.03,
          "unnamed weight 1 of 6: %d" % weighted.count("a"))
    # Without weights the draw is the one runs made before the key existed.
    r1, r2 = np.random.default_rng(9), np.random.default_rng(9)
    check([B.draw_augmented(versions, {}, r1) for _ in range(50)]
          == [versions[1 + int(r2.integers(0, 3))] for _ in range(50)], "uniform draw changed")


def t_step():
    import torch
    import train as T
    torch.set_num_threads(1)
    labels = ["a", "b", "c"]
    items = fake_items("emodb", 4, 2, labels)

    import tempfile
    with tempfile.TemporaryDirectory() as d:
        cfg = tiny_run_config(epochs=2, versions=["orig", "x"])
        model, meta = T.train(cfg, items[:16], items[16:], labels, SyntheticStore(), d,
                              log=open(os.devnull, "w"))
        check(os.path.exists(os.path.join(d, "checkpoint.pt")), "checkpoint written")
        check(meta["epochs_run"] == 2 and 1 <= meta["best_epoch"] <= 2, "history recorded")
        p = T.eval_file(model, SyntheticStore().get("k"))
        check(abs(p.sum() - 1) < 1e-5 and p.shape == (3,), "eval_file gives posteriors")
    # The run's front end goes into the checkpoint (and from there into the model file).
    import model as M
    with tempfile.TemporaryDirectory() as d:
        cfg = tiny_run_config(epochs=1, versions=["orig"], denoise_db=-15)
        T.train(cfg, items[:16], items[16:], labels, SyntheticStore(), d, log=open(os.devnull, "w"))
        _, ck = M.load_checkpoint(os.path.join(d, "checkpoint.pt"))
        check(ck["dsp_params"]["denoise_db"] == -15, "checkpoint dsp_params: %r" % ck["dsp_params"])


def t_seed():
    """A config's seed makes a training run repeatable on one machine: the same seed gives the
    same weights and the same history, step for step, and another seed other weights. (The
    paired comparisons of BENCHMARKS.md rest on it; across machines PyTorch's kernels may
    differ, and the runs with them.)"""
    import tempfile
    import torch
    import train as T
    labels = ["a", "b", "c"]
    items = fake_items("emodb", 4, 2, labels)
    store = SyntheticStore()
    for it in items:   # every frame made before the runs, so they read the same store
        for v in ("orig", "x"):
            store.get(D.item_key(it), v)

    def run(seed):
        with tempfile.TemporaryDirectory() as d:
            cfg = tiny_run_config(epochs=3, versions=["orig", "x"], seed=seed, lr=0.02)
            model, meta = T.train(cfg, items[:16], items[16:], labels, store, d,
                                  log=open(os.devnull, "w"))
        hist = [{k: v for k, v in h.items() if k != "seconds"} for h in meta["history"]]
        return model.state_dict(), hist

    w1, h1 = run(5)
    w2, h2 = run(5)
    w3, _ = run(6)
    check(h1 == h2, "same seed, another history: %s / %s" % (h1, h2))
    check(all(torch.equal(w1[k], w2[k]) for k in w1), "same seed, other weights")
    check(any(not torch.equal(w1[k], w3[k]) for k in w1 if w1[k].is_floating_point()),
          "another seed, the same weights")


def t_config_base():
    """A config's "base" chain: keys inherited, overridden, dicts merged key by key; a loop and
    an unknown key are refused."""
    import json
    import tempfile
    import train as T
    with tempfile.TemporaryDirectory() as d:
        def write(name, cfg):
            with open(os.path.join(d, name), "w") as f:
                json.dump(cfg, f)
        write("a.json", {"name": "a", "epochs": 60, "model": {"c1": 16, "c2": 32}, "seed": 1})
        write("b.json", {"base": "a.json", "name": "b", "model": {"c2": 64}})
        write("c.json", {"base": "b.json", "seed": 2})
        c = T.load_config(os.path.join(d, "c.json"))
        check(c == {"name": "b", "epochs": 60, "model": {"c1": 16, "c2": 64}, "seed": 2},
              "base chain: %r" % c)
        write("loop.json", {"base": "loop2.json"})
        write("loop2.json", {"base": "loop.json"})
        try:
            T.load_config(os.path.join(d, "loop.json"))
        except ValueError as e:
            check("loop" in str(e), "loop message: %s" % e)
        else:
            check(False, "a base loop was accepted")
    # every shipped config loads and passes full_config
    cdir = os.path.join(SRC, "tools", "train", "configs")
    for name in sorted(os.listdir(cdir)):
        T.full_config(T.load_config(os.path.join(cdir, name)))
    dn = T.full_config(T.load_config(os.path.join(cdir, "default_steady_dn15.json")))
    base = T.full_config(T.load_config(os.path.join(cdir, "default.json")))
    diff = sorted(k for k in base if base[k] != dn[k])
    check(diff == ["denoise_db", "versions"], "default_steady_dn15 vs default: %r" % diff)


def t_frontend():
    """Features made with the front end's noise suppressor live in their own directory, and a
    store refuses a directory whose stamp says another setting."""
    import json
    import tempfile
    import features as FE
    check_refused("denoise_db", 5, -91, -15.5, "x")
    check(FE.feat_dir("/c", "orig") == "/c/feat/orig"
          and FE.feat_dir("/c", "orig", -15) == "/c/feat-denoise15/orig", "feature dirs")
    with tempfile.TemporaryDirectory() as c:
        d = FE.feat_dir(c, "orig", -15)
        os.makedirs(os.path.join(d, "emodb"))
        np.save(os.path.join(d, "emodb", "a.npy"), np.zeros((5, 4), np.float32))

        def stamp(db):
            feats = {"n_mels": 4}
            if db:
                feats["denoise_db"] = db
            with open(os.path.join(d, "emotion-features.json"), "w") as f:
                json.dump({"features": feats}, f)

        stamp(0)
        try:
            FE.FeatureStore(c, ["orig"], -15).get("emodb/a.wav")
        except ValueError as e:
            check("denoise_db 0" in str(e) and "needs -15" in str(e), "stamp mismatch message: %s" % e)
        else:
            check(False, "features stamped denoise_db 0 read by a denoise_db -15 store")
        stamp(-15)
        x = FE.FeatureStore(c, ["orig"], -15).get("emodb/a.wav")
        check(x.shape == (5, 4), "stamped -15 read by a -15 store")
        check(not FE.FeatureStore(c, ["orig"]).has("emodb/a.wav"), "plain store looks in feat/")


def t_regularise():
    """mixup mixes inputs and loss by the same lam; the weight average moves by (1 - decay) of
    the step; a run with both trains and keeps the averaged weights."""
    import torch
    import batches as B
    import model as M
    import train as T
    torch.set_num_threads(1)
    torch.manual_seed(0)
    cfg = T.full_config({"supervise_from": 20})
    net = M.make_model(TINY_NET, ["a", "b", "c"])
    net.eval()
    x = torch.randn(4, 64, 128)
    lengths = torch.tensor([64, 48, 64, 32])
    y = torch.tensor([0, 1, 2, 1])
    rng = np.random.default_rng(3)
    xm, lm, (perm, lam) = B.mix_batch(x, lengths, rng, 0.4)
    check(0.0 <= lam <= 1.0 and sorted(perm.tolist()) == [0, 1, 2, 3], "mix: lam and permutation")
    check(torch.allclose(xm, lam * x + (1 - lam) * x[perm]), "mix: x = lam x + (1 - lam) x[perm]")
    check(lm.tolist() == [min(lengths[i], lengths[perm[i]]) for i in range(4)],
          "mix: a mixed crop is as long as the shorter of its two")
    with torch.no_grad():
        mixed = T.step_loss(net, xm, lm, y, cfg, None, (perm, lam))
        split = lam * T.step_loss(net, xm, lm, y, cfg, None) + \
            (1 - lam) * T.step_loss(net, xm, lm, y[perm], cfg, None)
        same = T.step_loss(net, x, lengths, y, cfg, None, (torch.arange(4), 0.3))
        plain = T.step_loss(net, x, lengths, y, cfg, None)
    check(abs(float(mixed - split)) < 1e-5, "mixed loss = lam L(y) + (1 - lam) L(y[perm])")
    check(abs(float(same - plain)) < 1e-5, "mixing a batch with itself changes nothing")

    ema = T.ema_model(net, 0.9)
    ema.update_parameters(net)                       # the first update copies
    params = dict(net.named_parameters())
    before = {k: v.detach().clone() for k, v in params.items()}
    bn = [b for k, b in net.named_buffers() if k.endswith("running_mean")][0]
    bn_before = bn.clone()
    with torch.no_grad():
        for v in params.values():
            v.add_(1.0)
        bn.add_(2.0)
    ema.update_parameters(net)
    avg = dict(ema.module.named_parameters())
    for k in before:
        check(torch.allclose(avg[k], before[k] + 0.1, atol=1e-6), "ema: %s moved by 0.1" % k)
    avg_bn = [b for k, b in ema.module.named_buffers() if k.endswith("running_mean")][0]
    check(torch.allclose(avg_bn, bn_before + 0.2, atol=1e-6), "ema: batch-norm statistics averaged")

    check_refused("ema", 1.0, -0.1)
    check_refused("mixup", -1.0)

    labels = ["a", "b", "c"]
    items = fake_items("emodb", 4, 2, labels)
    import tempfile

    def run(**keys):   # one epoch of 4 steps: epoch 1 is the best, its weights are kept
        with tempfile.TemporaryDirectory() as d:
            cfg = tiny_run_config(**keys)
            model, meta = T.train(cfg, items[:16], items[16:], labels, SyntheticStore(), d,
                                  log=open(os.devnull, "w"))
            kept, _ = M.load_checkpoint(os.path.join(d, "checkpoint.pt"))
            check(all(torch.equal(v, kept.state_dict()[k]) for k, v in model.state_dict().items()),
                  "checkpoint holds the returned weights")
            return model.state_dict()

    def distance(a, b):
        return max(float((a[k].float() - b[k].float()).abs().max()) for k in a)
    raw = run()
    check(distance(run(ema=1e-7), raw) < 1e-5, "ema ~0 keeps the raw weights")
    check(distance(run(ema=0.999999), raw) > 1e-3, "ema ~1 keeps the first step's, not the last's")
    check(distance(run(mixup=0.4, ema=0.5), raw) > 1e-3, "mixup + ema run trained")

def t_loss():
    """end_weight mixes the mean over supervised steps with the final step's cross-entropy:
    0 = every step alike, 1 = the final step only (what supervise_from = crop_max gives)."""
    import torch
    import model as M
    import train as T
    torch.set_num_threads(1)
    torch.manual_seed(0)
    net = M.make_model(TINY_NET, ["a", "b", "c"])
    net.eval()
    x = torch.randn(4, 64, 128)
    lengths = torch.tensor([64, 48, 64, 30])      # 30 frames: shorter than supervise_from
    y = torch.tensor([0, 1, 2, 1])
    weight = torch.tensor([1.0, 2.0, 0.5])

    def loss(**keys):
        with torch.no_grad():
            return float(T.step_loss(net, x, lengths, y, T.full_config(keys), weight))
    steps = loss(supervise_from=20)
    end = loss(supervise_from=10 ** 6)
    check(abs(steps - end) > 1e-4, "the test's steps and end losses differ (%g, %g)" % (steps, end))
    check(abs(loss(supervise_from=20, end_weight=0.0) - steps) < 1e-6, "end_weight 0: unchanged")
    check(abs(loss(supervise_from=20, end_weight=1.0) - end) < 1e-6,
          "end_weight 1 = final step only")
    check(abs(loss(supervise_from=20, end_weight=0.25) - (0.75 * steps + 0.25 * end)) < 1e-6,
          "end_weight 0.25 = 0.75 steps + 0.25 end")
    with torch.no_grad():           # with mixup, each part is mixed by the same lam
        perm, lam = torch.tensor([1, 0, 3, 2]), 0.3
        cfg = T.full_config({"supervise_from": 20, "end_weight": 0.5})
        mixed = T.step_loss(net, x, lengths, y, cfg, weight, (perm, lam))
        split = lam * T.step_loss(net, x, lengths, y, cfg, weight) + \
            (1 - lam) * T.step_loss(net, x, lengths, y[perm], cfg, weight)
    check(abs(float(mixed - split)) < 1e-5, "end_weight with mixup: lam L(y) + (1 - lam) L(y')")
    check_refused("end_weight", -0.1, 1.5)


def t_select():
    """select_window k: an epoch is judged by the mean validation UAR of its last k epochs, so a
    one-epoch spike does not pick the weights; before epoch k nothing can be kept."""
    import epoch_pick as EP
    import train as T
    check(EP.selection_score([0.5, 0.9, 0.4], 1) == 0.4, "k 1: the epoch's own UAR")
    check(abs(EP.selection_score([0.5, 0.9, 0.4], 3) - 0.6) < 1e-12, "k 3: mean of the last 3")
    check(abs(EP.selection_score([0.2, 0.5, 0.9, 0.4], 2) - 0.65) < 1e-12, "k 2: last 2 only")
    check(EP.selection_score([0.5, 0.9], 3) is None, "before epoch k: no score")
    # A spike at epoch 2 wins alone, not in a window of 3.
    uars = [0.3, 0.9, 0.3, 0.6, 0.7, 0.7]
    for k, want in ((1, 2), (3, 6)):
        scores = [EP.selection_score(uars[:e], k) for e in range(1, len(uars) + 1)]
        got = max((s, -e) for e, s in enumerate(scores, 1) if s is not None)
        check(-got[1] == want, "k %d keeps epoch %d, got %d" % (k, want, -got[1]))
    check_refused("select_window", 0, 1.5, "3")

    import tempfile
    import torch
    torch.set_num_threads(1)
    labels = ["a", "b", "c"]
    items = fake_items("emodb", 4, 2, labels)
    for epochs, k in ((2, 3), (3, 2)):
        with tempfile.TemporaryDirectory() as d:
            cfg = tiny_run_config(epochs=epochs, select_window=k)
            _, meta = T.train(cfg, items[:16], items[16:], labels, SyntheticStore(), d,
                              log=open(os.devnull, "w"))
        u = [h["val_uar"] for h in meta["history"]]
        if epochs < k:
            check(meta["best_epoch"] == epochs,
                  "a run shorter than the window keeps its last epoch")
        else:
            best = max(range(k, epochs + 1), key=lambda e: (EP.selection_score(u[:e], k), -e))
            check(meta["best_epoch"] == best and meta["best_epoch"] >= k,
                  "kept epoch %d, the trailing means say %d" % (meta["best_epoch"], best))
            check(abs(meta["selection_score"] - EP.selection_score(u[:best], k)) < 1e-12,
                  "selection_score recorded")


def t_blas():
    """Training runs on one OpenBLAS thread: the worker OpenBLAS otherwise starts per core
    busy-waits beside torch's single thread (one_blas_thread.py)."""
    import subprocess
    env = {k: v for k, v in os.environ.items() if k != "OPENBLAS_NUM_THREADS"}
    probe = ("import os, sys; sys.path.insert(0, %r); import train; import torch; "
             "torch.ones(64, 64) @ torch.ones(64, 64); "
             "print(os.environ.get('OPENBLAS_NUM_THREADS', 'unset'), len(os.listdir('/proc/self/task')))"
             % os.path.join(SRC, "tools", "train"))
    out = subprocess.run([sys.executable, "-c", probe], env=env, capture_output=True, text=True,
                         check=True).stdout.split()
    check(out == ["1", "1"], "importing train: OPENBLAS_NUM_THREADS and threads are %s, want 1 1"
          % out)
    env["OPENBLAS_NUM_THREADS"] = "2"
    out = subprocess.run([sys.executable, "-c", probe], env=env, capture_output=True, text=True,
                         check=True).stdout.split()
    check(out[0] == "2", "an explicit OPENBLAS_NUM_THREADS=2 was overridden: %s" % out)


def t_kernels():
    """Importing train pins OpenBLAS, PyTorch and oneDNN to their AVX2 kernels on a CPU that has
    AVX2 and FMA (same_kernels.py), keeps a value the caller set, and pins nothing on a CPU
    without them; kernel_fingerprint.py repeats its hash under the same kernels and changes it
    under others."""
    import subprocess
    import same_kernels as SK
    check(SK.pins({"sse2", "avx", "avx2", "fma"}) == SK.PINS, "AVX2 + FMA: pinned")
    check(SK.pins({"sse2", "avx", "avx2"}) == {} and SK.pins(set()) == {},
          "without FMA or flags: nothing pinned")
    check(SK.cpu_flags("/nonexistent") == set(), "unreadable cpuinfo: no flags")
    names = sorted(SK.PINS)
    env = {k: v for k, v in os.environ.items() if k not in SK.PINS}
    probe = ("import os, sys; sys.path.insert(0, %r); import train; "
             "print(' '.join(os.environ.get(k, '-') for k in %r))"
             % (os.path.join(SRC, "tools", "train"), names))
    got = subprocess.run([sys.executable, "-c", probe], env=env, capture_output=True, text=True,
                         check=True).stdout.split()
    want = [SK.pins(SK.cpu_flags()).get(k, "-") for k in names]
    check(got == want, "importing train set %s, want %s" % (got, want))
    env["ATEN_CPU_CAPABILITY"] = "default"
    got = subprocess.run([sys.executable, "-c", probe], env=env, capture_output=True, text=True,
                         check=True).stdout.split()
    check(got[names.index("ATEN_CPU_CAPABILITY")] == "default",
          "an explicit ATEN_CPU_CAPABILITY was overridden: %s" % got)
    if not SK.pins(SK.cpu_flags()):
        print("no AVX2 + FMA here: kernel_fingerprint.py not compared")
        return
    # What the pins guard against: PyTorch's generic kernels train other weights than its AVX2
    # ones (kernel_fingerprint.py prints a hash of the weights after one epoch).
    tool = [sys.executable, os.path.join(SRC, "tools", "train", "kernel_fingerprint.py"),
            "--epochs", "1"]
    runs = []
    for capability in ("avx2", "avx2", "default"):
        env["ATEN_CPU_CAPABILITY"] = capability
        out = subprocess.run(tool, env=env, capture_output=True, text=True, check=True).stdout
        check(out.startswith("weights ") and "ATEN_CPU_CAPABILITY=%s " % capability in out,
              "kernel_fingerprint output: %r" % out)
        runs.append(out.split()[1])
    check(runs[0] == runs[1], "the same kernels trained other weights: %s" % runs)
    check(runs[2] != runs[0], "generic and AVX2 kernels trained the same weights: %s" % runs)


def t_valnoise():
    """valnoise.py rebuilds each fold's validation figure from the checkpoint alone: its clean
    accuracy equals what training measured on the same utterances (same list, speaker
    statistics and front end: a fold trained on denoised features is read from feat-denoise15/,
    whose frames differ from feat/), a noise version whose frames equal the clean ones scores
    the same, and one without the label cue scores lower."""
    import json
    import tempfile
    import torch
    import features as FE
    import train as T
    import valnoise
    torch.set_num_threads(1)
    labels = D.label_list("native", "emodb")
    items = fake_items("emodb", 4, 6, labels)
    rng = np.random.default_rng(3)
    with tempfile.TemporaryDirectory() as tmp:
        data, cache, run = (os.path.join(tmp, x) for x in ("data", "cache", "run"))
        write_labels_csv(data, items)
        items, labels = D.load_items(["emodb"], "native", data)
        # Random frames with the label raised in one group of bands: group = label in feat/,
        # label + 3 in feat-denoise15/ (a net trained on one front end misreads the other), no
        # cue in babble10; white10 = the clean frames again.
        for db in (0, -15):
            for v in ("orig", "white10", "babble10"):
                for it in items:
                    path = FE.feat_path(cache, v, D.item_key(it), db)
                    os.makedirs(os.path.dirname(path), exist_ok=True)
                    if v == "white10":
                        x = np.load(FE.feat_path(cache, "orig", D.item_key(it), db))
                    else:
                        x = rng.standard_normal((int(rng.integers(60, 120)), 128)).astype(np.float32)
                        if v == "orig":
                            g = (it["label"] + (3 if db else 0)) % len(labels)
                            x[:, 16 * g:16 * g + 16] += 3.0
                    np.save(path, x)
        val_spk = [items[-1]["speaker"]]
        tr, va = D.without_speakers(items, val_spk), D.by_speakers(items, val_spk)
        want = {}
        for fold, db in (("0", 0), ("1", -15)):
            cfg = tiny_run_config(epochs=6, lr=0.02, denoise_db=db, corpora=["emodb"],
                                  label_set="native")
            cfg["model"]["cmvn"] = "speaker"
            full = T.full_config(cfg)
            store = T.speaker_store(FE.FeatureStore(cache, ["orig"], db), full, items)
            fdir = os.path.join(run, fold)
            D.write_list(os.path.join(fdir, "lists", "val.csv"), va)
            _, meta = T.train(cfg, tr, va, labels, store, fdir, log=open(os.devnull, "w"))
            want[fold] = meta["val_acc"]
        out = os.path.join(tmp, "v.json")
        import contextlib
        import io
        with contextlib.redirect_stdout(io.StringIO()):
            valnoise.main([run, "--cache", cache, "--data", data, "--json", out])
        with open(out) as f:
            got = json.load(f)["folds"]
        for fold in want:
            clean, white, babble = got[fold]
            check(abs(clean - want[fold]) < 1e-9, "fold %s: valnoise clean %.4f, training measured "
                  "%.4f" % (fold, clean, want[fold]))
            check(white == clean, "fold %s: white10 = the clean frames, yet %.4f vs %.4f"
                  % (fold, white, clean))
            check(clean > 0.5 and babble < clean - 0.2, "fold %s: clean %.4f, babble10 (no label "
                  "cue) %.4f" % (fold, clean, babble))


def t_heldout():
    data = os.environ.get("EMOTIOND_DATA", "")
    if not os.path.isfile(os.path.join(data, "ravdess", "labels.csv")):
        print("SKIP: corpora not found (EMOTIOND_DATA=%r)" % data)
        sys.exit(77)
    items, _ = D.load_items(["ravdess", "emodb"], "unified7", data)
    want = sorted((D.item_key(i), i["label_name"]) for i in D.by_speakers(items, D.HELDOUT_SPEAKERS))
    got = sorted((r["path"], r["label"]) for r in D.read_list(os.path.join(SRC, "models",
                                                                           "heldout.txt")))
    check(got == want, "models/heldout.txt differs from data.HELDOUT_SPEAKERS' files")


CASES = {"labels": t_labels, "splits": t_splits, "metrics": t_metrics, "windows": t_windows,
         "crops": t_crops, "versions": t_versions, "step": t_step, "regularise": t_regularise,
         "loss": t_loss, "select": t_select, "seed": t_seed, "blas": t_blas, "heldout": t_heldout,
         "kernels": t_kernels, "frontend": t_frontend, "config_base": t_config_base,
         "valnoise": t_valnoise}

def run_case(cases, argv=None):
    """Every test script's entry point: runs the case its one argument names, then prints
    "ok: CASE"; usage on anything else."""
    argv = sys.argv if argv is None else argv
    if len(argv) != 2 or argv[1] not in cases:
        sys.exit("usage: %s %s" % (os.path.basename(argv[0]), "|".join(cases)))
    cases[argv[1]]()
    print("ok: %s" % argv[1])


if __name__ == "__main__":
    run_case(CASES)

#!/usr/bin/python3
"""The pitch tracker's columns in training (model key "prosody", features.FeatureStore pitch=True):
the cache made by our C front end (`emotion features --pitch-only`) joined to the log-mel, its
refusals, per-speaker normalisation of the columns with the speech mask of the bands alone,
batches whose gain, warp and frequency masks leave the columns alone, a network that reads them
causally, the exporter's refusal, a run that trains with them, and the columns of the tracker
that reads the noise suppressor's output (run key pitch_input "suppressed").

    test_pitch_features.py EMOTION CASE      CASE: store | norm | batch | model | run | suppressed
"""

import math
import os
import subprocess
import sys
import tempfile
import wave

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from test_train_py import (TINY_NET, check, fake_items, run_case,  # noqa: E402
                           tiny_run_config)

import batches as B  # noqa: E402  (test_train_py put tools/train on the path)
import data as D  # noqa: E402
import features as FE  # noqa: E402
import model as M  # noqa: E402

LABELS = ["a", "b", "c"]
DEVNULL = open(os.devnull, "w")
DSP = M.DEFAULT_DSP_PARAMS
EMOTION = None


def expect_refused(exc, needle, what, fn, *args, **kw):
    """fn(*args, **kw) raises exc with needle in its message."""
    try:
        fn(*args, **kw)
    except exc as e:
        check(needle in str(e), "%s: refused, naming %r: %s" % (what, needle, e))
    else:
        check(False, "%s: accepted" % what)


def write_wav(path, x):
    with wave.open(path, "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(16000)
        w.writeframes((np.clip(x, -1, 1) * 32767).astype("<i2").tobytes())


def voice(f0, seconds=1.0, lead=0.3):
    """lead s of silence, then a harmonic series at f0 Hz."""
    n = np.arange(int(16000 * seconds))
    x = sum(np.sin(2 * np.pi * h * f0 * n / 16000.0) / h for h in range(1, 12)) * 0.2
    return np.concatenate([np.zeros(int(16000 * lead)), x])


def make_cache(root, voices):
    """A cache of version "orig" for {relative path: samples}, made by `emotion features`, plain
    and --pitch-only, as features.extract does."""
    src = os.path.join(root, "src")
    for rel, x in voices.items():
        os.makedirs(os.path.dirname(os.path.join(src, rel)), exist_ok=True)
        write_wav(os.path.join(src, rel), x)
    cache = os.path.join(root, "cache")
    for out, opts in ((FE.feat_dir(cache, "orig"), []), (FE.pitch_dir(cache, "orig"), ["--pitch-only"])):
        subprocess.run([EMOTION, "features", "--batch", src, "-o", out, "-q"] + opts, check=True,
                       stdout=subprocess.DEVNULL)
    return cache


def t_store():
    """get() is the log-mel with ln F0 and periodicity after it (the tone's F0 where it sounds);
    the columns' frame count is the log-mel's; a missing or misshapen pitch file is refused,
    naming the fix; speech_span reads the bands alone."""
    with tempfile.TemporaryDirectory() as root:
        cache = make_cache(root, {"x/a.wav": voice(220.0), "x/b.wav": voice(110.0)})
        plain = FE.FeatureStore(cache)
        store = FE.FeatureStore(cache, pitch=True)
        check(store.extra_columns == 2 and plain.extra_columns == 0, "extra_columns")
        for key, f0 in (("x/a.wav", 220.0), ("x/b.wav", 110.0)):
            m, x = plain.get(key), store.get(key)
            check(x.shape == (m.shape[0], 130), "%s: %s" % (key, x.shape))
            check(np.array_equal(x[:, :128], m), "%s: the bands are the plain features" % key)
            sounding = x[60:, 129] > 0.9
            check(sounding.mean() > 0.9, "%s: periodic where the tone sounds" % key)
            check(np.allclose(np.exp(x[60:, 128][sounding]), f0, rtol=0.01),
                  "%s: ln F0 of %g Hz" % (key, f0))
            check(np.all(x[:20, 129] == 0), "%s: silence has periodicity 0" % key)
            check(store.speech_span(key) == plain.speech_span(key), "%s: speech span" % key)
        stamp = os.path.join(FE.pitch_dir(cache, "orig"), "emotion-features.json")
        with open(stamp) as f:
            text = f.read()
        with open(stamp, "w") as f:
            f.write(text.replace("ln F0, periodicity", "something else"))
        expect_refused(ValueError, "--pitch", "a pitch dir stamped with other columns",
                       FE.FeatureStore(cache, pitch=True).get, "x/a.wav")
        with open(stamp, "w") as f:
            f.write(text)
        pp = FE.pitch_path(cache, "orig", "x/a.wav")
        np.save(pp, np.zeros((5, 2), np.float32))
        expect_refused(ValueError, "pitch", "a pitch file of the wrong length",
                       FE.FeatureStore(cache, pitch=True).get, "x/a.wav")
        os.remove(pp)
        check(not FE.FeatureStore(cache, pitch=True).has("x/a.wav"), "has() without pitch")
        expect_refused(FileNotFoundError, "--pitch", "a missing pitch file",
                       FE.FeatureStore(cache, pitch=True).get, "x/a.wav")


class MemoryPitchStore(FE.MemoryStore):
    extra_columns = 2


def t_norm():
    """Per speaker the pitch columns are z-scored over the speech frames, which the bands alone
    choose: huge pitch values in silent frames do not move the mask."""
    rng = np.random.default_rng(0)
    feats, items = {}, []
    for k in range(3):
        bands = np.full((100, 128), -20.0)
        bands[30:80] = -5 + rng.standard_normal((50, 128))
        pitch = np.stack([np.log(200.0) + 0.1 * rng.standard_normal(100), rng.random(100)], 1)
        pitch[:30, 0] = 1e3  # silence: a value that would make every frame "speech" if read
        it = {"path": "s01_a_%d.flac" % k, "corpus": "emodb", "speaker": "emodb:01"}
        items.append(it)
        feats[D.item_key(it)] = np.hstack([bands, pitch]).astype(np.float32)
    store = FE.SpeakerNormStore(MemoryPitchStore(feats), items, 1e-3)
    check(store.extra_columns == 2, "the normaliser keeps extra_columns")
    mask = FE.speech_mask(feats[D.item_key(items[0])], 2)
    check(mask[30:80].all() and not mask[:30].any() and not mask[80:].any(),
          "the speech mask of the bands alone")
    y = np.concatenate([store.get(k)[30:80] for k in feats])
    raw = np.concatenate([f[30:80].astype(np.float64) for f in feats.values()])
    want = np.sqrt(raw.var(0) / (raw.var(0) + 1e-3))  # the std of z-scores with cmvn_eps 1e-3
    check(np.allclose(y.mean(0), 0, atol=1e-4) and np.allclose(y.std(0), want, rtol=1e-3),
          "every column z-scored over the speech frames")
    expect_refused(ValueError, "level_floor", "a level floor with pitch", FE.SpeakerNormStore,
                   MemoryPitchStore(feats), items, 1e-3, level_floor=0.3)


class PitchStore:
    """Random bands and pitch columns; extra_columns 2."""
    extra_columns = 2

    def __init__(self):
        self.rng = np.random.default_rng(2)
        self.m = {}

    def check(self, *a):
        pass

    def get(self, key, v="orig"):
        if (key, v) not in self.m:
            self.m[(key, v)] = self.rng.standard_normal((300, 130)).astype(np.float32)
        return self.m[(key, v)]


def t_batch():
    """Gain, VTLP and frequency masks change bands only; a time mask covers the pitch columns too."""
    items = fake_items("emodb", 2, 4, LABELS)
    store = PitchStore()
    cfg = {"crop_min": 300, "crop_max": 300, "p_orig": 1.0, "version_weights": {}, "gain_db": 6.0,
           "specaug": {"freq_masks": 2, "freq_width": 20}, "crop_speech": False,
           "vtlp": {"p": 1.0, "alpha": 0.1}}
    x, lengths = B.make_batch(items, store, cfg, np.random.default_rng(1), ["orig"], 4, dsp=DSP)
    check(x.shape[2] == 130, "rows keep the pitch columns: %s" % (tuple(x.shape),))
    for i, it in enumerate(items):
        raw = store.get(D.item_key(it))
        check(np.array_equal(x[i, :, 128:].numpy(), raw[:, 128:]), "row %d: pitch untouched" % i)
        check(float(np.abs(x[i, :, :128].numpy() - raw[:, :128]).max()) > 0.1, "row %d: bands changed" % i)
    cfg = dict(cfg, gain_db=0.0, vtlp={}, specaug={"time_masks": 1, "time_width": 50})
    for seed in range(20):
        x, _ = B.make_batch(items[:1], store, cfg, np.random.default_rng(seed), ["orig"], 4, dsp=DSP)
        raw = store.get(D.item_key(items[0]))
        masked = np.flatnonzero(np.any(x[0].numpy() != raw, axis=1))
        if len(masked):
            check(np.allclose(x[0, masked, 128:].numpy(), raw[:, 128:].mean(0), atol=1e-6),
                  "a time mask sets the pitch columns to the crop's means")
            break
    else:
        check(False, "no time mask drawn in 20 batches")


def t_model():
    """prosody 2: 130 input columns, the pitch columns move the logits, causally (a change at
    frame t leaves the steps before t's unchanged); other values, cumulative cmvn and an
    unknown tracker refused; the export names the tracker and reads back to the same network
    (the C side's parity: tests/nn/test_parity.py)."""
    import torch
    import export as X
    torch.manual_seed(0)
    expect_refused(ValueError, "prosody", "prosody 1", M.full_config, {"prosody": 1})
    expect_refused(ValueError, "cumulative", "prosody with cumulative cmvn", M.full_config,
                   {"prosody": 2, "cmvn": "cumulative"})
    expect_refused(ValueError, "pitch_input", "an unknown tracker", M.full_config,
                   {"prosody": 2, "cmvn": "none", "pitch_input": "yin"})
    net = M.make_model(dict(TINY_NET, prosody=2, time_pool=4, dropout=0.0, cmvn="none"),
                       LABELS).eval()
    x = torch.randn(2, 80, 130)
    expect_refused(ValueError, "130", "the bands alone into a prosody model", net, x[:, :, :128])
    with torch.no_grad():
        a = net.forward_all(x)
        y = x.clone()
        y[:, 41:, 128] += 3.0  # frames 41.. : LSTM steps 10.. (frames 40..43) onwards
        b = net.forward_all(y)
    d = (a - b).abs().amax(dim=(0, 2))
    check(float(d[:10].max()) == 0.0, "steps before the change unchanged: %s" % d[:10])
    check(float(d[10:].min()) > 0, "steps from the change on moved: %s" % d[10:])
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "m.emod")
        X.model_to_emod(net, LABELS, None, "m", {}, path)
        kv = X.read_emod_keys(path)
        check(kv.get("arch.prosody") == 2 and kv.get("arch.pitch_input") == "raw",
              "the file names the pitch input: %r" % {k: v for k, v in kv.items() if k.startswith("arch.p")})
        back = X.emod_to_model(path)[0]
        with torch.no_grad():
            d = float((back.forward_all(x) - a).abs().max())
        check(back.config["prosody"] == 2 and d < 1e-4, "the file read back: prosody %r, logits "
              "off by %.3g" % (back.config["prosody"], d))


def t_run():
    """A run with prosody trains on a store with pitch columns and records the key."""
    import torch
    import train as T
    torch.set_num_threads(1)
    items = fake_items("emodb", 4, 2, LABELS)
    with tempfile.TemporaryDirectory() as root:
        model, meta = T.train(tiny_run_config(epochs=2, model=dict(TINY_NET, prosody=2, cmvn="none")),
                              items[:16], items[16:], LABELS, PitchStore(), root, log=DEVNULL)
        ck = M.load_checkpoint(os.path.join(root, "checkpoint.pt"))[1]
    check(meta["train_config"]["model"]["prosody"] == 2, "run.json records the key")
    check(model.norm_mean.numel() == 130, "normalisation over 130 columns")
    check(ck["config"]["pitch_input"] == "raw", "the checkpoint's model names its tracker (the "
          "run's pitch_input): %r" % ck["config"]["pitch_input"])
    check(T.model_config({"model": {"prosody": 2}, "pitch_input": "suppressed"})["pitch_input"]
          == "suppressed", "the run's pitch_input becomes the model's")
    expect_refused(ValueError, "run key", "pitch_input in the model section", T.full_config,
                   tiny_run_config(model=dict(TINY_NET, prosody=2, cmvn="none", pitch_input="raw")))
    check(all(math.isfinite(h["loss"]) for h in meta["history"]), "finite losses")


def t_suppressed():
    """features.extract with pitch "suppressed" caches `--pitch-only --pitch-suppressed` in its own
    dir; a store reads it, beside the same log-mel, and keeps a voice in white noise voiced in
    more frames than the raw tracker's; a dir stamped as the raw tracker's is refused there,
    naming the fix; the form needs denoise_db, in the store and in a run config."""
    import train as T
    os.environ["EMOTION_BIN"] = EMOTION
    rng = np.random.default_rng(3)
    clean = voice(150.0, seconds=2.0, lead=1.0)
    noisy = clean + rng.normal(0, np.sqrt(np.mean(clean[16000:] ** 2)), clean.shape)  # 0 dB
    with tempfile.TemporaryDirectory() as root:
        src = os.path.join(root, "src")
        os.makedirs(os.path.join(src, "x"))
        write_wav(os.path.join(src, "x", "n.wav"), noisy * 0.5)
        cache = os.path.join(root, "cache")
        for pitch in ("raw", "suppressed"):
            FE.extract("orig", cache, src, DEVNULL, denoise_db=-15, pitch=pitch)
        check(FE.pitch_dir(cache, "orig", -15, "suppressed").endswith("pitch-suppressed-denoise15/orig"),
              "the suppressed columns' own dir")
        raw = FE.FeatureStore(cache, denoise_db=-15, pitch="raw").get("x/n.wav")
        sup = FE.FeatureStore(cache, denoise_db=-15, pitch="suppressed").get("x/n.wav")
        check(raw.shape == sup.shape and np.array_equal(raw[:, :128], sup[:, :128]),
              "same log-mel, same frames: %s %s" % (raw.shape, sup.shape))
        voiced = [int(np.sum((x[110:, 129] > 0.65) & (np.abs(np.exp(x[110:, 128]) / 150 - 1) < 0.05)))
                  for x in (raw, sup)]
        print("voiced at 150 Hz: raw %d, suppressed %d" % tuple(voiced), file=sys.stderr)
        check(voiced[1] > voiced[0] + 20, "voiced at 150 Hz in 0 dB white noise: raw %d, suppressed %d "
              "of %d frames" % (voiced[0], voiced[1], raw.shape[0] - 110))
        sdir = FE.pitch_dir(cache, "orig", -15, "suppressed")
        with open(os.path.join(FE.pitch_dir(cache, "orig", -15, "raw"), "emotion-features.json")) as f:
            raw_stamp = f.read()
        with open(os.path.join(sdir, "emotion-features.json"), "w") as f:
            f.write(raw_stamp)
        expect_refused(ValueError, "--pitch-suppressed", "raw-tracker columns in the suppressed dir",
                       FE.FeatureStore(cache, denoise_db=-15, pitch="suppressed").get, "x/n.wav")
    expect_refused(ValueError, "denoise_db", "the suppressed form without a suppressor",
                   FE.FeatureStore, "/nonexistent", pitch="suppressed")
    expect_refused(ValueError, "pitch input", "an unknown pitch input",
                   FE.FeatureStore, "/nonexistent", pitch="cepstral")
    base = tiny_run_config(model=dict(TINY_NET, prosody=2))
    expect_refused(ValueError, "denoise_db", "a run config with pitch_input suppressed, no denoise_db",
                   T.full_config, dict(base, pitch_input="suppressed"))
    expect_refused(ValueError, "pitch_input", "a run config with an unknown pitch_input",
                   T.full_config, dict(base, pitch_input="cepstral"))
    cfg = T.full_config(dict(base, pitch_input="suppressed", denoise_db=-15))
    check(FE.run_pitch(cfg) == "suppressed" and FE.run_pitch(T.full_config(base)) == "raw"
          and FE.run_pitch(T.full_config(tiny_run_config())) is None, "run_pitch")
    # pitch_noise.py's counts: (clean voiced, still voiced, gross among them, clean unvoiced,
    # read as voiced), over the shorter of the two
    import pitch_noise as PN
    ref = np.array([[5.0, 0.9], [5.0, 0.9], [5.0, 0.9], [5.0, 0.1], [5.0, 0.1]], np.float32)
    other = np.array([[5.0, 0.9], [5.0 + math.log(1.3), 0.8], [5.0, 0.3], [4.0, 0.7], [5.0, 0.0],
                      [5.0, 0.9]], np.float32)
    got = PN.agreement(ref, other).tolist()
    check(got == [3, 2, 1, 2, 1], "pitch_noise.agreement: %s" % got)
    # pitch_swap.py's view: version "B+P" = bands of B beside the pitch columns of P
    import pitch_swap as PS
    ps = PitchStore()
    sw = PS.SwapStore(ps)
    x = sw.get("k", "white10+orig")
    check(np.array_equal(x[:, :128], ps.get("k", "white10")[:, :128])
          and np.array_equal(x[:, 128:], ps.get("k", "orig")[:, 128:])
          and np.array_equal(sw.get("k", "babble10"), ps.get("k", "babble10")), "SwapStore")
    expect_refused(ValueError, "prosody", "a swap over a store without pitch columns",
                   PS.SwapStore, FE.FeatureStore("/nonexistent"))


CASES = {"store": t_store, "norm": t_norm, "batch": t_batch, "model": t_model, "run": t_run,
         "suppressed": t_suppressed}

if __name__ == "__main__":
    if len(sys.argv) != 3:
        sys.exit("usage: %s EMOTION %s" % (os.path.basename(sys.argv[0]), "|".join(CASES)))
    EMOTION = sys.argv[1]
    run_case(CASES, [sys.argv[0], sys.argv[2]])

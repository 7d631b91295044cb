#!/usr/bin/python3
"""PyTorch <-> C parity and model-file rejection tests (suite 'nn'; always run, no corpus).

    test_parity.py NN_TOOL

For several architectures, a random model is built in PyTorch here, exported with export.py, and
run by the C runtime (nn-tool): C offline == torch forward, and C streaming == torch on exactly
the published lane's frames at every frame, within 1e-4. Then crafted model files that the
loader must refuse, each with its one-line message.
"""

import os
import struct
import subprocess
import sys
import tempfile

import numpy as np
import torch

SRC = os.environ.get("EMOTIOND_SRC", os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", ".."))
sys.path.insert(0, os.path.join(SRC, "tools", "train"))
import export  # noqa: E402
import make_tiny_model  # noqa: E402
import model as model_lib  # noqa: E402

TOL = 1e-4
NN_TOOL = sys.argv[1] if len(sys.argv) > 1 else os.path.join(os.environ.get("EMOTIOND_BUILD", "build"),
                                                             "tests", "nn", "nn-tool")
failures = []


def check(cond, msg):
    if not cond:
        failures.append(msg)
        print("FAIL: " + msg)


def run_tool(*args):
    return subprocess.run([NN_TOOL] + [str(a) for a in args], capture_output=True, text=True, timeout=60)


def older_lane_start(t, W, tp=2):
    half = W // 2
    s = -(-half // tp) * tp   # the first multiple of the time pool from W/2 on
    r0 = (t // W) * W
    if t < s:
        return r0
    return min(r0, s + ((t - s) // W) * W)


def torch_probs_all(m, frames):
    with torch.no_grad():
        return torch.softmax(m.forward_all(torch.from_numpy(frames)[None]), -1)[0].numpy()


def parity_case(tmp, name, cfg, n_frames, seed):
    dsp = dict(model_lib.DEFAULT_DSP_PARAMS)
    dsp["n_mels"] = cfg.get("n_mels", 128)
    if cfg.get("pitch_input") == "suppressed":
        dsp["denoise_db"] = -15
    m = make_tiny_model.random_model(cfg, model_lib.DEFAULT_LABELS[: cfg.pop("_k", 7)], seed)
    path = os.path.join(tmp, name + ".emod")
    export.model_to_emod(m, model_lib.DEFAULT_LABELS[: m.config["n_labels"]], dsp, name, {}, path)
    frames = export.synthetic_frames(n_frames, m.config["n_mels"], seed, m.config["prosody"])
    fpath = os.path.join(tmp, name + ".f32")
    frames.tofile(fpath)

    r = run_tool("offline", path, fpath)
    check(r.returncode == 0, "%s: offline failed: %s" % (name, r.stderr.strip()))
    if r.returncode:
        return
    c = np.array(r.stdout.split(), dtype=np.float64)
    with torch.no_grad():
        t = torch.softmax(m(torch.from_numpy(frames)[None]), -1)[0].numpy()
    d_off = np.abs(c - t).max()
    check(d_off <= TOL, "%s: C offline vs torch %.3g" % (name, d_off))
    spread = t.max() - t.min()
    check(spread > 0.02, "%s: posteriors too flat for a meaningful test (spread %.3g)" % (name, spread))

    r = run_tool("stream", path, fpath)
    check(r.returncode == 0, "%s: stream failed: %s" % (name, r.stderr.strip()))
    rows = [line.split() for line in r.stdout.splitlines()]
    check(len(rows) == n_frames, "%s: %d stream rows for %d frames" % (name, len(rows), n_frames))
    W, minf, tp = m.config["window"], m.config["min_frames"], m.config["time_pool"]
    cache, worst, n_cmp = {}, 0.0, 0
    for ti, row in enumerate(rows):
        start = older_lane_start(ti, W, tp)
        ready = ti + 1 - start >= minf
        check(row[0] == ("1" if ready else "0"), "%s: frame %d ready=%s expected %d" % (name, ti, row[0], ready))
        if row[0] != "1":
            continue
        if start not in cache:
            cache[start] = torch_probs_all(m, frames[start:start + W])
        ref = cache[start][(ti + 1 - start) // tp - 1]
        d = np.abs(np.array(row[1:], dtype=np.float64) - ref).max()
        worst = max(worst, d)
        n_cmp += 1
    check(worst <= TOL, "%s: C stream vs torch %.3g" % (name, worst))
    print("%-14s offline vs torch %.2e   stream vs torch %.2e over %d frames (%d lanes)"
          % (name, d_off, worst, n_cmp, len(cache)))


def test_parity(tmp):
    cases = [
        ("tiny-att", dict(make_tiny_model.TINY), 700),
        ("cnn-only", dict(make_tiny_model.TINY, lstm=False, readout="mean"), 451),
        ("cnn-att", dict(make_tiny_model.TINY, lstm=False), 333),
        ("raw-2layer", dict(make_tiny_model.TINY, cmvn="none", lstm_layers=2), 401),
        ("speaker", dict(make_tiny_model.TINY, cmvn="speaker"), 321),
        ("speaker-mean", dict(make_tiny_model.TINY, cmvn="speaker-mean"), 233),
        ("mean-40mel", dict(c1=3, c2=5, c3=6, lstm_hidden=12, dense=8, n_mels=40, window=40,
                            min_frames=6, readout="mean", _k=4), 263),
        ("odd-mels", dict(c1=3, c2=4, c3=5, lstm_hidden=10, dense=9, n_mels=31, window=20,
                          min_frames=10, cmvn_eps=0.05), 97),
        ("freq-stride-1", dict(make_tiny_model.TINY, freq_stride=1, cmvn="speaker"), 355),
        ("freq-stride-1-odd", dict(c1=3, c2=4, c3=5, lstm_hidden=10, dense=9, n_mels=31, window=20,
                                   min_frames=10, freq_stride=1), 97),
        ("time-pool-4", dict(make_tiny_model.TINY, time_pool=4, cmvn="speaker"), 703),
        ("time-pool-4-odd", dict(c1=3, c2=4, c3=5, lstm_hidden=10, dense=9, n_mels=31, window=36,
                                 min_frames=4, time_pool=4, lstm_layers=2), 131),
        ("time-pool-4-cnn", dict(make_tiny_model.TINY, time_pool=4, lstm=False, window=100,
                                 min_frames=8), 257),
        ("default-size", {}, 620),
        ("default-size-tp4", dict(time_pool=4), 622),
        # The voice's pitch: two columns after the bands, their per-step mean into the LSTM (or,
        # CNN-only, the readout), across lane resets and the shared trunk.
        ("pitch-speaker", dict(make_tiny_model.TINY, cmvn="speaker", prosody=2), 703),
        ("pitch-tp4-raw", dict(make_tiny_model.TINY, cmvn="none", prosody=2, time_pool=4,
                               lstm_layers=2), 611),
        ("pitch-cnn", dict(make_tiny_model.TINY, cmvn="speaker-mean", prosody=2, lstm=False,
                           window=100, min_frames=8), 257),
        ("pitch-suppressed", dict(c1=3, c2=4, c3=5, lstm_hidden=10, dense=9, n_mels=31, window=36,
                                  min_frames=4, time_pool=4, cmvn="speaker", prosody=2,
                                  pitch_input="suppressed"), 131),
        ("pitch-default-tp4", dict(time_pool=4, cmvn="speaker", prosody=2), 622),
    ]
    for i, (name, cfg, n) in enumerate(cases):
        parity_case(tmp, name, cfg, n, 100 + i)


def test_speaker(tmp):
    for mode in model_lib.SPEAKER_CMVN:
        speaker_case(tmp, mode, 0.0)
    speaker_case(tmp, "speaker", 0.3)
    speaker_case(tmp, "speaker", 0.0, prosody=2)


def speaker_case(tmp, mode, level_floor, prosody=0):
    """nn_speaker (C) against features.SpeakerNormStore (Python, what training used): the same
    speech frames chosen, the same normalised frames; and the prior when nothing is known yet.
    With a level floor also: utterances added one by one floor each at the level heard so far.
    With prosody the frames carry pitch columns, normalised like bands but not read by the
    speech rule (synthetic pitch that is loud where the bands are quiet would change the
    choice if it were)."""
    import features as FE
    name = "%s%s%s" % (mode, " level_floor %g" % level_floor if level_floor else "",
                       " pitch" if prosody else "")
    m = make_tiny_model.random_model(dict(make_tiny_model.TINY, cmvn=mode, level_floor=level_floor,
                                          prosody=prosody), None, 11)
    eps = m.config["cmvn_eps"]
    mean_only = mode == "speaker-mean"
    path = os.path.join(tmp, "spk.emod")
    export.model_to_emod(m, model_lib.DEFAULT_LABELS, None, "spk", {}, path)
    M = m.config["n_mels"]
    lens = [90, 140, 61]
    utts = []
    for i, n in enumerate(lens):
        u = export.synthetic_frames(n, M, 40 + i, prosody)
        u[:, :M] += 2.0 * i                                        # each utterance its own level
        u[: n // 4, :M] -= 12.0                                    # a quiet lead-in: not speech
        if prosody:
            u[: n // 4, M:] += 40.0                                # ... whatever its pitch columns say
        utts.append(u.astype(np.float32))
    frames = np.concatenate(utts)
    fpath = os.path.join(tmp, "spk.f32")
    frames.tofile(fpath)
    items = [{"corpus": "c", "path": "u%d" % i, "speaker": "s"} for i in range(len(utts))]
    mem = FE.MemoryStore({"c/u%d" % i: u for i, u in enumerate(utts)})
    mem.extra_columns = prosody
    store = FE.SpeakerNormStore(mem, items, eps, mean_only, level_floor)
    ref = np.concatenate([store.get("c/u%d" % i) for i in range(len(utts))]).astype(np.float64)
    r = run_tool("speaker", path, fpath, ",".join(map(str, lens)))
    check(r.returncode == 0, "speaker %s: nn-tool failed: %s" % (name, r.stderr.strip()))
    if r.returncode:
        return
    lines = r.stdout.splitlines()
    n_sp = FE.speaker_moments(utts, extra_columns=prosody)[0]
    check(lines[0].split()[1] == str(n_sp), "speaker %s: C chose %s speech frames, Python %d"
          % (name, lines[0].split()[1], n_sp))
    check(n_sp < sum(lens) - sum(n // 4 for n in lens) + 5, "speaker: the lead-ins counted as speech")
    c = np.array([ln.split() for ln in lines[1:]], dtype=np.float64)
    d = np.abs(c - ref).max()
    check(d <= 1e-5, "speaker %s: C normalised frames vs Python %.3g" % (name, d))
    pm = m.spk_prior_mean.double().numpy()
    pv = m.spk_prior_var.double().numpy()
    scale = (lambda v: 1.0) if mean_only else (lambda v: np.sqrt(v + eps))
    floor_at = (lambda x, level: FE.apply_floor(x, np.log(level_floor) + level)) if level_floor \
        else (lambda x, level: np.asarray(x, dtype=np.float64))
    prior_level = float(m.spk_prior_level[0]) if level_floor else 0.0
    r = run_tool("prior", path, fpath)
    c = np.array([ln.split() for ln in r.stdout.splitlines()], dtype=np.float64)
    d2 = np.abs(c - (floor_at(frames, prior_level) - pm) / scale(pv)).max()
    check(d2 <= 1e-5, "speaker %s: C prior normalisation vs Python %.3g" % (name, d2))
    # The variance floor (the daemon's default 0.5 x the prior's variance), here at 3 so it binds.
    mean, var, _ = store.stats("s")
    r = run_tool("speaker", path, fpath, ",".join(map(str, lens)), 3)
    c = np.array([ln.split() for ln in r.stdout.splitlines()[1:]], dtype=np.float64)
    vf = np.maximum(var, 3 * pv)
    level = FE.speaker_level(utts)
    d3 = np.abs(c - (floor_at(frames, level) - mean) / scale(vf)).max()
    check(d3 <= 1e-5, "speaker %s: C with var_floor vs Python %.3g" % (name, d3))
    check(mean_only or np.any(vf > var), "speaker: the floor never bound")
    extra = ""
    if level_floor:
        # One by one (the daemon's and `emotion eval --speaker-stats running`'s order): each
        # utterance floored at the level of the utterances up to it; applied at the final level.
        n, s1, s2 = 0, 0.0, 0.0
        for k, u in enumerate(utts):
            ln_floor = np.log(level_floor) + FE.speaker_level(utts[: k + 1])
            nk, s1k, s2k = FE.speaker_moments([u], ln_floor)
            n, s1, s2 = n + nk, s1 + s1k, s2 + s2k
        mu = s1 / n
        want = (floor_at(frames, level) - mu) / scale(np.maximum(s2 / n - mu * mu, 0.0))
        r = run_tool("speaker-each", path, fpath, ",".join(map(str, lens)))
        c = np.array([ln.split() for ln in r.stdout.splitlines()[1:]], dtype=np.float64)
        d4 = np.abs(c - want).max()
        check(d4 <= 1e-5, "speaker %s: C one utterance at a time vs Python %.3g" % (name, d4))
        check(np.abs(want - ref).max() > 1e-3, "speaker %s: one by one equals all at once: the "
              "level never moved" % name)
        check(np.abs(ref - (frames - mean) / scale(var)).max() > 1e-2,
              "speaker %s: the floor changed nothing" % name)
        # With a prior (the daemon's), the prior's mean moves with the voice's level.
        w0 = 300
        r = run_tool("speaker", path, fpath, ",".join(map(str, lens)), 0, w0)
        c = np.array([ln.split() for ln in r.stdout.splitlines()[1:]], dtype=np.float64)
        n, s1, s2 = FE.speaker_moments(utts, np.log(level_floor) + level)
        pm_here = pm + (level - prior_level)
        mu = (w0 * pm_here + s1) / (w0 + n)
        ex2 = (w0 * (pv + pm_here ** 2) + s2) / (w0 + n)
        want = (floor_at(frames, level) - mu) / scale(np.maximum(ex2 - mu * mu, 0.0))
        d5 = np.abs(c - want).max()
        check(d5 <= 1e-5, "speaker %s: C with a prior at the voice's level vs Python %.3g"
              % (name, d5))
        extra = ", one by one %.2e, prior at the level %.2e" % (d4, d5)
    print("normaliser %s: %d of %d frames speech, C vs Python %.2e, prior %.2e, floor %.2e%s"
          % (name, n_sp, sum(lens), d, d2, d3, extra))


def test_shipped(tmp):
    """The shipped model, when present: C vs the same file loaded into PyTorch (trained weights
    have other magnitudes than random ones)."""
    path = os.path.join(SRC, "models", "emotiond-default.emod")
    if not os.path.exists(path):
        print("shipped model: %s absent, skipped" % path)
        return
    m, labels, dsp, name = export.emod_to_model(path)
    frames = export.synthetic_frames(611, m.config["n_mels"], 9, m.config["prosody"])
    fpath = os.path.join(tmp, "shipped.f32")
    frames.tofile(fpath)
    r = run_tool("offline", path, fpath)
    with torch.no_grad():
        t = torch.softmax(m(torch.from_numpy(frames)[None]), -1)[0].numpy()
    d = np.abs(np.array(r.stdout.split(), dtype=np.float64) - t).max() if r.returncode == 0 else 1
    check(d <= TOL, "shipped model: C offline vs torch %.3g" % d)
    r = run_tool("stream", path, fpath)
    rows = [line.split() for line in r.stdout.splitlines()]
    W, tp = m.config["window"], m.config["time_pool"]
    ref = torch_probs_all(m, frames[:W])
    worst = max(np.abs(np.array(rows[t][1:], dtype=np.float64) - ref[(t + 1) // tp - 1]).max()
                for t in range(m.config["min_frames"] - 1, W))
    check(worst <= TOL, "shipped model: C stream vs torch %.3g" % worst)
    print("shipped model %s: offline vs torch %.2e, stream vs torch %.2e" % (name, d, worst))


def test_export_cli(tmp):
    """The checkpoint -> export.py CLI -> --golden path, compared with C."""
    m = make_tiny_model.random_model(dict(make_tiny_model.TINY), None, 7)
    ck = os.path.join(tmp, "c.pt")
    model_lib.save_checkpoint(ck, m, model_lib.DEFAULT_LABELS, None, "cli-test", {"run": "x"})
    out, gold = os.path.join(tmp, "c.emod"), os.path.join(tmp, "c.npz")
    r = subprocess.run([sys.executable, os.path.join(SRC, "tools", "train", "export.py"), ck, out,
                        "--golden", gold, "--golden-frames", "301"], capture_output=True, text=True)
    check(r.returncode == 0, "export.py failed: %s" % r.stderr.strip())
    if r.returncode:
        return
    g = np.load(gold)
    fpath = os.path.join(tmp, "c.f32")
    g["frames"].tofile(fpath)
    r = run_tool("offline", out, fpath)
    d = np.abs(np.array(r.stdout.split(), dtype=np.float64) - g["probs"]).max() if r.returncode == 0 else 1
    check(d <= TOL, "golden: C offline vs exported reference %.3g" % d)
    r = run_tool("check", out)
    check(r.returncode == 0 and r.stdout.startswith("cli-test@sha256:"), "check id: %r" % r.stdout)

    bi = model_lib.make_model(dict(make_tiny_model.TINY, bidirectional=True))
    ckb = os.path.join(tmp, "bi.pt")
    model_lib.save_checkpoint(ckb, bi, model_lib.DEFAULT_LABELS)
    r = subprocess.run([sys.executable, os.path.join(SRC, "tools", "train", "export.py"), ckb,
                        os.path.join(tmp, "bi.emod")], capture_output=True, text=True)
    check(r.returncode == 1 and "bidirectional" in r.stderr and r.stderr.count("\n") == 1,
          "bidirectional export must be refused with one line: rc %d %r" % (r.returncode, r.stderr))
    check(not os.path.exists(os.path.join(tmp, "bi.emod")), "refused export left a file")


def test_rejections(tmp):
    m = make_tiny_model.random_model(dict(make_tiny_model.TINY), None, 3)
    kvs0, tens0 = export.emod_contents(m, model_lib.DEFAULT_LABELS, None, "rej", {})
    m_spk = make_tiny_model.random_model(dict(make_tiny_model.TINY, cmvn="speaker"), None, 3)
    kvs_spk, tens_spk = export.emod_contents(m_spk, model_lib.DEFAULT_LABELS, None, "rej", {})
    m_p = make_tiny_model.random_model(dict(make_tiny_model.TINY, cmvn="speaker", prosody=2), None, 3)
    kvs_p, tens_p = export.emod_contents(m_p, model_lib.DEFAULT_LABELS, None, "rej", {})

    def floor_kvs(level_floor, prior_level):
        return [("spk.level_floor", 3, level_floor), ("spk.prior_level", 3, prior_level)]

    def kv_set(kvs, key, value, typ=None):
        return [(k, typ or t, value) if k == key else (k, t, v) for k, t, v in kvs]

    def tens_set(tens, name, arr):
        return [(n, arr) if n == name else (n, a) for n, a in tens]

    conv2 = dict(tens0)["conv2.weight"]
    nan_fc1 = dict(tens0)["fc1.weight"].copy()
    nan_fc1[3, 2] = np.nan
    cases = [
        ("n_mels mismatch", kv_set(kvs0, "dsp.n_mels", 64), tens0, -6,
         "takes 128 mel bands but its feature parameters give n_mels=64"),
        ("bad dsp params", kv_set(kvs0, "dsp.f_max", 9000.0), tens0, -6, "feature parameters in the model: f_max"),
        ("wrong shape", kvs0, tens_set(tens0, "conv2.weight", np.zeros((8, 5, 3, 3), np.float32)), -6,
         "tensor 'conv2.weight' has shape [8,5,3,3], expected [8,4,3,3]"),
        ("wrong rank", kvs0, tens_set(tens0, "conv2.weight", conv2.reshape(8, 4, 9)), -6,
         "has shape [8,4,9], expected [8,4,3,3]"),
        ("missing tensor", kvs0, [x for x in tens0 if x[0] != "fc2.bias"], -6, "missing tensor 'fc2.bias'"),
        ("extra tensor", kvs0, tens0 + [("lstm.l1.w_ih", np.zeros((64, 16), np.float32))], -6,
         "unexpected tensor 'lstm.l1.w_ih'"),
        ("labels vs classes", kv_set(kvs0, "labels", ["a", "b", "c"]), tens0, -6,
         "tensor 'fc2.weight' has shape [7,16], expected [3,16]"),
        ("unknown key", kvs0 + [("arch.heads", 1, 4)], tens0, -4, "unknown key 'arch.heads'"),
        ("missing key", [x for x in kvs0 if x[0] != "arch.window"], tens0, -4, "missing key 'arch.window'"),
        ("duplicate key", kvs0 + [("arch.c1", 1, 4)], tens0, -4, "key 'arch.c1' appears twice"),
        ("wrong key type", kv_set(kvs0, "arch.window", 300.0, 2), tens0, -4, "key 'arch.window' has type 2"),
        ("odd window", kv_set(kvs0, "arch.window", 301), tens0, -4, "arch.window 301"),
        ("bad cmvn", kv_set(kvs0, "arch.cmvn", "instance"), tens0, -4, "arch.cmvn 'instance'"),
        ("non-finite", kvs0, tens_set(tens0, "fc1.weight", nan_fc1), -4, "tensor 'fc1.weight' has a non-finite"),
        ("bad freq_stride", kvs0 + [("arch.freq_stride", 1, 3)], tens0, -4, "arch.freq_stride 3, expected 1 or 2"),
        ("bad time_pool", kvs0 + [("arch.time_pool", 1, 3)], tens0, -4, "arch.time_pool 3, expected 2 or 4"),
        ("window vs time_pool", kv_set(kvs0, "arch.window", 302) + [("arch.time_pool", 1, 4)], tens0, -4,
         "arch.window 302, expected a multiple of the time pool 4"),
        ("min_frames vs time_pool", kv_set(kvs0, "arch.min_frames", 2) + [("arch.time_pool", 1, 4)], tens0, -4,
         "arch.min_frames 2, expected 4..window/2"),
        ("freq_stride vs weights", kvs0 + [("arch.freq_stride", 1, 1)], tens0, -6,
         "tensor 'lstm.l0.w_ih' has shape"),
        ("zero std", kvs0, tens_set(tens0, "norm.std", np.zeros(128, np.float32)), -4, "norm.std[0] = 0"),
        ("level floor without speaker cmvn", kvs0 + floor_kvs(0.3, -6.0), tens0, -4,
         "spk.level_floor in a model with arch.cmvn 'cumulative'"),
        ("level floor alone", kvs_spk + [("spk.level_floor", 3, 0.3)], tens_spk, -4,
         "key 'spk.level_floor' without 'spk.prior_level'"),
        ("prior level alone", kvs_spk + [("spk.prior_level", 3, -6.0)], tens_spk, -4,
         "key 'spk.prior_level' without 'spk.level_floor'"),
        ("level floor 0", kvs_spk + floor_kvs(0.0, -6.0), tens_spk, -4,
         "spk.level_floor 0 (expected in (0, 10])"),
        ("prior level NaN", kvs_spk + floor_kvs(0.3, float("nan")), tens_spk, -4,
         "spk.prior_level nan (expected finite)"),
        ("denoise_db positive", kvs0 + [("dsp.denoise_db", 1, 5)], tens0, -6,
         "feature parameters in the model: denoise_db 5 out of range -90..0"),
        ("denoise_db as f32", kvs0 + [("dsp.denoise_db", 2, -15.0)], tens0, -4,
         "key 'dsp.denoise_db' has type 2"),
        ("prosody 3", kv_set(kvs_p, "arch.prosody", 3), tens_p, -4,
         "arch.prosody 3, expected 0 or 2"),
        ("prosody without its input", [x for x in kvs_p if x[0] != "arch.pitch_input"], tens_p, -4,
         "arch.pitch_input missing"),
        ("pitch input without prosody", kvs_spk + [("arch.pitch_input", 4, "raw")], tens_spk, -4,
         "arch.pitch_input without arch.prosody"),
        ("unknown pitch input", kv_set(kvs_p, "arch.pitch_input", "yin"), tens_p, -4,
         "arch.pitch_input 'yin', expected 'raw' or 'suppressed'"),
        ("suppressed pitch, no suppressor", kv_set(kvs_p, "arch.pitch_input", "suppressed"), tens_p,
         -6, "reads the noise suppressor's output, but the model's front end has none"),
        ("pitch with cumulative cmvn", kv_set(kvs_p, "arch.cmvn", "cumulative"),
         [t for t in tens_p if not t[0].startswith("spk.")], -4, "cannot have arch.cmvn 'cumulative'"),
        ("pitch with a level floor", kvs_p + floor_kvs(0.3, -6.0), tens_p, -4,
         "cannot have a level floor"),
        ("pitch key, band-only weights", kvs_spk + [("arch.prosody", 1, 2), ("arch.pitch_input", 4, "raw")],
         tens_spk, -6, "tensor 'norm.mean' has shape [128], expected [130]"),
        ("band-only key, pitch weights", [x for x in kvs_p if not x[0].startswith("arch.p")], tens_p,
         -6, "tensor 'norm.mean' has shape [130], expected [128]"),
    ]
    for name, kvs, tens, code, needle in cases:
        path = os.path.join(tmp, "rej.emod")
        export.write_emod(path, kvs, tens)
        r = run_tool("check", path)
        ok = (r.returncode == 1 and r.stdout.startswith("error %d:" % code) and needle in r.stdout
              and r.stdout.count("\n") == 1)
        check(ok, "%s: expected code %d with %r, got rc %d %r" % (name, code, needle, r.returncode, r.stdout))

    # Version and magic with a valid checksum (not just a damaged byte). Version 2 is an
    # ensemble (test_ensemble.py).
    path = os.path.join(tmp, "v3.emod")
    export.write_emod(path, kvs0, tens0, version=3)
    r = run_tool("check", path)
    check(r.returncode == 1 and "error -5:" in r.stdout
          and "version 3, this build reads versions 1 and 2" in r.stdout, "version 3: %r" % r.stdout)
    export.write_emod(path, kvs0, tens0, magic=b"GGUF")
    r = run_tool("check", path)
    check(r.returncode == 1 and "error -4:" in r.stdout and "magic" in r.stdout, "magic: %r" % r.stdout)

    # A tensor offset pointing outside the data section, checksum recomputed.
    good = os.path.join(tmp, "good.emod")
    export.write_emod(good, kvs0, tens0)
    b = bytearray(open(good, "rb").read()[:-32])
    name = b"fc2.bias"
    i = b.index(struct.pack("<I", len(name)) + name) + 4 + len(name)
    i += 8 + 4  # dtype, rank, one dim
    struct.pack_into("<Q", b, i, 1 << 40)
    import hashlib
    with open(path, "wb") as f:
        f.write(bytes(b) + hashlib.sha256(bytes(b)).digest())
    r = run_tool("check", path)
    check(r.returncode == 1 and "tensor 'fc2.bias': offset" in r.stdout, "offset out of bounds: %r" % r.stdout)
    r = run_tool("check", good)
    check(r.returncode == 0, "unmodified crafted file must load: %r" % r.stdout)
    check("denoise_db 0\n" in r.stdout, "a file without dsp.denoise_db: no denoiser: %r" % r.stdout)
    # meta.* keys other than meta.json, of every value type, are stepped over.
    export.write_emod(path, kvs0 + [("meta.a", 1, 3), ("meta.b", 2, 1.5), ("meta.c", 3, 2.5),
                                    ("meta.d", 4, "x"), ("meta.e", 5, ["x", "y"])], tens0)
    r = run_tool("check", path)
    check(r.returncode == 0, "meta keys of every type must be skipped: %r" % r.stdout)
    # The exporter writes the key only for a denoising front end, and the loader hands it on.
    dp = dict(model_lib.DEFAULT_DSP_PARAMS, denoise_db=-15)
    kvs_dn, _ = export.emod_contents(m, model_lib.DEFAULT_LABELS, dp, "rej", {})
    check(("dsp.denoise_db", 1, -15) in kvs_dn and not any(k == "dsp.denoise_db" for k, _, _ in kvs0),
          "dsp.denoise_db written iff set: %r" % [k for k in kvs_dn if k[0].startswith("dsp.")])
    export.write_emod(path, kvs_dn, tens0)
    r = run_tool("check", path)
    check(r.returncode == 0 and "denoise_db -15\n" in r.stdout, "denoise_db -15 model: %r" % r.stdout)
    check("pitch none\n" in r.stdout, "a file without arch.prosody reads no pitch: %r" % r.stdout)
    # The pitch keys are written only for a model that reads pitch, and the loader hands on which
    # tracker it needs; the exporter refuses the suppressor's pitch without a suppressor.
    check(not any(k.startswith("arch.p") for k, _, _ in kvs0), "pitch keys in a band-only file")
    export.write_emod(path, kvs_p, tens_p)
    r = run_tool("check", path)
    check(r.returncode == 0 and "pitch raw\n" in r.stdout, "raw pitch model: %r" % r.stdout)
    m_ps = make_tiny_model.random_model(dict(make_tiny_model.TINY, cmvn="speaker", prosody=2,
                                             pitch_input="suppressed"), None, 3)
    export.write_emod(path, *export.emod_contents(m_ps, model_lib.DEFAULT_LABELS, dp, "rej", {}))
    r = run_tool("check", path)
    check(r.returncode == 0 and "pitch suppressed\n" in r.stdout, "suppressed pitch model: %r" % r.stdout)
    try:
        export.emod_contents(m_ps, model_lib.DEFAULT_LABELS, None, "rej", {})
        check(False, "export of a suppressed-pitch model without a suppressor was not refused")
    except ValueError as e:
        check("no suppressor" in str(e), "export refusal: %s" % e)
    print("rejections: %d crafted files checked" % (len(cases) + 5))


def mutate_headers(model, path, n, seed, max_changes):
    """n copies of model with 1..max_changes random header bytes (before the data) changed and
    the checksum recomputed (what the checksum cannot catch), each given to the loader: it
    accepts or refuses with one printable line, never crashes. Returns {outcome: count}."""
    import hashlib
    import random
    body = open(model, "rb").read()[:-32]
    data_off = struct.unpack_from("<Q", body, 16)[0]
    rng = random.Random(seed)
    seen = {}
    for it in range(n):
        m = bytearray(body)
        for _ in range(rng.randint(1, max_changes)):
            m[rng.randrange(4, data_off)] = rng.randrange(256)
        with open(path, "wb") as f:
            f.write(bytes(m) + hashlib.sha256(bytes(m)).digest())
        r = subprocess.run([NN_TOOL, "check", path], capture_output=True, timeout=60)
        out = r.stdout.decode("utf-8", "replace")
        one_line = out.count("\n") == 1 and out[:-1].isprintable()
        ok = r.returncode == 0 or (r.returncode == 1 and one_line)
        check(ok, "mutation %d of %s: rc %d, output %r" % (it, os.path.basename(model), r.returncode,
                                                          out[:200]))
        key = out.split(":")[0] if r.returncode else "loaded"
        seen[key] = seen.get(key, 0) + 1
    return seen


def test_mutations(tmp):
    tiny = os.path.join(SRC, "tests", "fixtures", "tiny.emod")
    seen = mutate_headers(tiny, os.path.join(tmp, "mut.emod"), 150, 5, 4)
    print("mutations: 150 damaged headers with valid checksums: %s" % seen)


def main():
    if not os.access(NN_TOOL, os.X_OK):
        print("nn-tool not found at %s" % NN_TOOL)
        return 1
    torch.set_num_threads(1)
    with tempfile.TemporaryDirectory() as tmp:
        test_parity(tmp)
        test_speaker(tmp)
        test_export_cli(tmp)
        test_shipped(tmp)
        test_rejections(tmp)
        test_mutations(tmp)
    if failures:
        print("%d failure(s)" % len(failures))
        return 1
    print("test_parity: all passed")
    return 0


if __name__ == "__main__":
    sys.exit(main())

#!/usr/bin/python3
"""`emotion analyze` tests (suite 'nn'): output structure and timing, CSV == JSON, whole-file
posteriors against the offline runner, an ensemble model (= the mean of its members'), default
model lookup, a model with the front end's noise suppressor, models that read the voice's pitch
(raw and suppressed tracker), and each error's exit code and one-line message.

    test_analyze.py EMOTION NN_TOOL TINY.emod
"""

import json
import os
import subprocess
import sys
import tempfile
import wave

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "..", "tools", "train"))
import export  # noqa: E402

EMOTION, NN_TOOL, TINY = sys.argv[1:4]
SPK = os.path.join(os.path.dirname(os.path.abspath(TINY)), "tiny-speaker.emod")
failures = []


def check(cond, msg):
    if not cond:
        failures.append(msg)
        print("FAIL: " + msg)


def run(*args, env=None):
    e = dict(os.environ)
    e.pop("EMOTIOND_MODEL", None)
    e.update(env or {})
    return subprocess.run([EMOTION, "analyze"] + [str(a) for a in args], capture_output=True,
                          text=True, timeout=60, env=e)


def write_wav(path, seconds, rate=16000, seed=0):
    rng = np.random.default_rng(seed)
    t = np.arange(int(seconds * rate)) / rate
    f0 = 150 + 50 * np.sin(2 * np.pi * 0.5 * t)
    ph = 2 * np.pi * np.cumsum(f0) / rate
    x = 0.2 * (0.5 + 0.5 * np.sin(2 * np.pi * 2.3 * t)) * (np.sin(ph) + 0.4 * np.sin(3 * ph))
    x += 0.01 * rng.standard_normal(len(t))
    with wave.open(path, "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(rate)
        w.writeframes((np.clip(x, -1, 1) * 32767).astype("<i2").tobytes())


def main():
    labels = ["neutral", "happy", "sad", "angry", "fearful", "disgust", "surprised"]
    with tempfile.TemporaryDirectory() as tmp:
        long_wav, short_wav = os.path.join(tmp, "long.wav"), os.path.join(tmp, "short.wav")
        write_wav(long_wav, 7.3, 22050, 1)   # resampled to the model rate by the CLI
        write_wav(short_wav, 2.0, 16000, 2)

        r = run(long_wav, "--model", TINY)
        check(r.returncode == 0, "analyze long: rc %d %s" % (r.returncode, r.stderr))
        j = json.loads(r.stdout)
        check(j["labels"] == labels, "labels %r" % j["labels"])
        check(j["model"].startswith("emotiond-tiny-random@sha256:"), "model id %r" % j["model"])
        check(abs(sum(j["probs"]) - 1) < 1e-4 and j["top"] == labels[int(np.argmax(j["probs"]))],
              "file probs/top %r %r" % (j["probs"], j["top"]))
        check(abs(j["duration"] - 7.3) < 0.01, "duration %r" % j["duration"])
        # 7.3 s -> 728 frames; windows start 0, 150, 300, then 428 (aligned to the end): 4.
        check(j["frames"] == 728 and j["windows"] == 4, "frames %r windows %r" % (j["frames"], j["windows"]))
        ts = [row["t"] for row in j["timeline"]]
        check(abs(ts[0] - 0.515) < 1e-9, "first row at %r, expected 0.515 (frame 49 ends)" % ts[0])
        check(np.allclose(np.diff(ts), 0.1), "rows every 0.1 s")
        check(len(ts) == (728 - 50) // 10 + 1, "%d rows" % len(ts))
        check(all(abs(sum(row["probs"]) - 1) < 1e-4 for row in j["timeline"]), "row probs sum to 1")

        r2 = run(long_wav, "--model", TINY, "--csv")
        lines = r2.stdout.strip().split("\n")
        check(lines[0] == "t," + ",".join(labels) + ",top", "csv header %r" % lines[0])
        check(len(lines) == len(ts) + 2 and lines[-1].startswith("file,"), "csv rows")
        last = lines[-1].split(",")
        check(np.allclose([float(v) for v in last[1:-1]], j["probs"], atol=1e-6) and last[-1] == j["top"],
              "csv file row == json")
        row5 = lines[6].split(",")
        check(abs(float(row5[0]) - ts[5]) < 1e-9 and np.allclose([float(v) for v in row5[1:-1]],
                                                                  j["timeline"][5]["probs"], atol=1e-6),
              "csv row == json row")

        # Short file: one window == the whole file; the stream's last posteriors are the same.
        r = run(short_wav, "--model", TINY, "--hop-out", "10")
        js = json.loads(r.stdout)
        check(js["windows"] == 1 and js["frames"] == 198, "short: %r frames %r windows" % (js["frames"], js["windows"]))
        d = np.abs(np.array(js["timeline"][-1]["probs"]) - js["probs"]).max()
        check(d < 1e-4, "short: last stream row vs whole file %.3g" % d)
        # ... and equal nn_offline_run on the features (nn-tool) via `emotion features`.
        npy = os.path.join(tmp, "short.npy")
        rf = subprocess.run([EMOTION, "features", short_wav, "-o", npy], capture_output=True, text=True)
        if rf.returncode == 0:
            feats = np.load(npy).astype(np.float32)
            f32 = os.path.join(tmp, "short.f32")
            feats.tofile(f32)
            ro = subprocess.run([NN_TOOL, "offline", TINY, f32], capture_output=True, text=True)
            d = np.abs(np.array(ro.stdout.split(), float) - js["probs"]).max()
            check(d < 1e-5, "short: analyze vs nn_offline_run on `emotion features` %.3g" % d)
        else:
            print("note: `emotion features` unavailable (%s); offline cross-check skipped" % rf.stderr.strip())

        # An ensemble file (format 2): whole file and timeline = the mean of its members' own.
        ens = os.path.join(os.path.dirname(os.path.abspath(TINY)), "tiny-ensemble.emod")
        outs = []
        for j, b in enumerate(export.ensemble_members(open(ens, "rb").read(), ens)[0]):
            mpath = os.path.join(tmp, "member%d.emod" % j)
            with open(mpath, "wb") as f:
                f.write(b)
            outs.append(json.loads(run(long_wav, "--model", mpath).stdout))
        r = run(long_wav, "--model", ens)
        check(r.returncode == 0, "analyze with an ensemble: %s" % r.stderr)
        je = json.loads(r.stdout) if r.returncode == 0 else {"probs": [], "timeline": []}
        d = np.abs(np.array(je["probs"]) - np.mean([o["probs"] for o in outs], 0)).max()
        dt = max(np.abs(np.array(row["probs"])
                        - np.mean([o["timeline"][i]["probs"] for o in outs], 0)).max()
                 for i, row in enumerate(je["timeline"]))
        check(len(je["timeline"]) == len(outs[0]["timeline"]) > 10 and d < 2e-5 and dt < 2e-5,
              "ensemble analyze vs the mean of its members': whole file %.3g, timeline %.3g"
              % (d, dt))
        check(np.abs(np.array(outs[0]["probs"]) - outs[1]["probs"]).max() > 0.01,
              "the ensemble's members agree: no test")

        out = os.path.join(tmp, "out.json")
        r = run(short_wav, "-o", out, env={"EMOTIOND_MODEL": TINY})
        check(r.returncode == 0 and r.stdout == "" and json.load(open(out))["probs"] == js["probs"],
              "EMOTIOND_MODEL + -o: rc %d %s" % (r.returncode, r.stderr))

        errors = [
            (run(short_wav, "--model", os.path.join(tmp, "none.emod")), 1, "none.emod: cannot open"),
            (run(short_wav, "--model", short_wav), 1, "not an emotiond model file"),
            (run(os.path.join(tmp, "missing.wav"), "--model", TINY), 1, "missing.wav"),
            (run(short_wav, "--model", TINY, "--hop-out", "5"), 2, "--hop-out"),
            (run(short_wav, "--model", TINY, "--hop-out", "1x"), 2, "--hop-out"),
            (run("--model", TINY), 2, "missing input file"),
            (run(short_wav, short_wav, "--model", TINY), 2, "one input file"),
            (run(short_wav, "--bogus"), 2, "--bogus"),
            (run(short_wav, env={"EMOTIOND_MODEL": os.path.join(tmp, "gone.emod")}), 1, "gone.emod"),
        ]
        tiny_wav = os.path.join(tmp, "tiny.wav")
        write_wav(tiny_wav, 0.02)
        errors.append((run(tiny_wav, "--model", TINY), 1, "too short"))
        errors.append((run(short_wav, "--model", SPK, "--speaker-from", os.path.join(tmp, "no.wav")), 1,
                       "no.wav"))

        # A speaker-normalising model: other speech of the voice changes the statistics, hence
        # the posteriors; a cumulative-CMVN model ignores --speaker-from.
        other = os.path.join(tmp, "other.wav")
        write_wav(other, 3.0, 16000, 7)
        for model, differs in ((SPK, True), (TINY, False)):
            a = json.loads(run(short_wav, "--model", model).stdout)["probs"]
            b = json.loads(run(short_wav, "--model", model, "--speaker-from", other).stdout)["probs"]
            d = float(np.abs(np.array(a) - np.array(b)).max())
            check((d > 1e-4) == differs, "--speaker-from with %s: max diff %.3g" % (os.path.basename(model), d))
        # A model whose front end has the noise suppressor: analyze must denoise as
        # `emotion features --denoise-db` does (equal to nn_offline_run on those features), and
        # the posteriors differ from the same weights on plain features.
        net, labels_t, dsp, name = export.emod_to_model(TINY)
        dn_model = os.path.join(tmp, "tiny-dn.emod")
        export.model_to_emod(net, labels_t, dict(dsp, denoise_db=-15), name, {}, dn_model)
        plain_model = os.path.join(tmp, "tiny-plain.emod")
        export.model_to_emod(net, labels_t, dsp, name, {}, plain_model)
        jd = json.loads(run(short_wav, "--model", dn_model).stdout)
        jp = json.loads(run(short_wav, "--model", plain_model).stdout)
        npy_dn = os.path.join(tmp, "short-dn.npy")
        rf = subprocess.run([EMOTION, "features", "--denoise-db", "-15", short_wav, "-o", npy_dn],
                            capture_output=True, text=True)
        check(rf.returncode == 0, "features --denoise-db: %s" % rf.stderr)
        f32 = os.path.join(tmp, "short-dn.f32")
        np.load(npy_dn).astype(np.float32).tofile(f32)
        ro = subprocess.run([NN_TOOL, "offline", dn_model, f32], capture_output=True, text=True)
        d_same = np.abs(np.array(ro.stdout.split(), float) - jd["probs"]).max()
        d_plain = np.abs(np.array(jp["probs"]) - jd["probs"]).max()
        check(d_same < 1e-5 and d_plain > 1e-4,
              "denoising model: analyze vs offline on denoised features %.3g (want < 1e-5), vs the "
              "plain front end %.3g (want > 1e-4)" % (d_same, d_plain))
        # The suppressor's frames come one hop late; the timeline's t is where each frame's
        # audio ends, so the same rows sit 10 ms earlier.
        td = [r["t"] for r in jd["timeline"]]
        tp = [r["t"] for r in jp["timeline"]]
        shift = [round(b - a, 3) for a, b in zip(td, tp)]
        check(len(td) > 5 and abs(len(td) - len(tp)) <= 1 and set(shift) == {0.01},
              "denoising model's timeline t: %d rows, %s... vs plain %s..." % (len(td), td[:3], tp[:3]))
        # Models that read the voice's pitch: analyze feeds them each frame's bands and the
        # pitch tracker's columns, from the tracker the file names, exactly as `emotion features
        # --pitch [--pitch-suppressed]` writes them (equal to nn_offline_run on those).
        import make_tiny_model
        import model as model_lib
        for pitch_input, extra in (("raw", []), ("suppressed", ["--denoise-db", "-15", "--pitch-suppressed"])):
            net = make_tiny_model.random_model(dict(make_tiny_model.TINY, cmvn="none", prosody=2,
                                                    pitch_input=pitch_input), None, 21)
            pm = os.path.join(tmp, "pitch-%s.emod" % pitch_input)
            export.model_to_emod(net, labels, dict(model_lib.DEFAULT_DSP_PARAMS,
                                                   denoise_db=-15 if extra else 0), "p", {}, pm)
            rp = run(short_wav, "--model", pm)
            check(rp.returncode == 0, "analyze with a %s-pitch model: %s" % (pitch_input, rp.stderr))
            if rp.returncode:
                continue
            npy_p = os.path.join(tmp, "short-pitch.npy")
            rf = subprocess.run([EMOTION, "features", "--pitch"] + extra + [short_wav, "-o", npy_p],
                                capture_output=True, text=True)
            check(rf.returncode == 0, "features --pitch %s: %s" % (extra, rf.stderr))
            feats = np.load(npy_p).astype(np.float32)
            f32 = os.path.join(tmp, "short-pitch.f32")
            feats.tofile(f32)
            ro = subprocess.run([NN_TOOL, "offline", pm, f32], capture_output=True, text=True)
            want = np.array(ro.stdout.split(), float)
            d = np.abs(want - json.loads(rp.stdout)["probs"]).max()
            feats[:, 128] += 1.0                 # the same bands, another voice's pitch
            feats[:, 129] = 1.0 - feats[:, 129]
            feats.tofile(f32)
            ro = subprocess.run([NN_TOOL, "offline", pm, f32], capture_output=True, text=True)
            moved = np.abs(np.array(ro.stdout.split(), float) - want).max()
            check(feats.shape[1] == 130 and d < 1e-5 and moved > 1e-4,
                  "%s-pitch model: analyze vs nn_offline_run on `emotion features --pitch` %.3g "
                  "(want < 1e-5); other pitch moves them by %.3g (want > 1e-4)"
                  % (pitch_input, d, moved))
        for i, (res, code, needle) in enumerate(errors):
            one_line = res.stderr.count("\n") == 1 and res.stderr.startswith("emotion")
            check(res.returncode == code and needle in res.stderr and one_line and res.stdout == "",
                  "error case %d: rc %d (want %d), stderr %r (want %r)" % (i, res.returncode, code,
                                                                           res.stderr, needle))
    if failures:
        print("%d failure(s)" % len(failures))
        return 1
    print("test_analyze: all passed")
    return 0


if __name__ == "__main__":
    sys.exit(main())

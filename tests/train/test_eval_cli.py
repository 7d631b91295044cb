#!/usr/bin/python3
"""`emotion eval` on audio made here and the committed tiny fixture model (always runs):
figures consistent with the per-file predictions, JSON and PNG written, and each bad input gives
one clear error line.

    test_eval_cli.py EMOTION_BIN CASE     CASE: ok | bad_label | no_header | usage | short_file |
                                                speaker | context

speaker: a speaker-normalising model (cmvn "speaker") exported here; eval's per-file posteriors
must equal PyTorch's on the same features normalised with each speaker's statistics the way
training computes them (features.SpeakerNormStore), with the list's speakers interleaved, and the
same when the list is grouped by speaker (eval then reuses the frames it decoded for the
statistics); the same for a model with a level floor (each speaker's files floored at its level).

context: --context N judges with windows of N frames: the model's window by default (recorded in
the JSON), a file shorter than N is one window whatever N is, a longer one is judged differently
with a shorter context; values outside 1..window are usage errors naming the limit.
"""

import json
import math
import os
import subprocess
import sys
import tempfile
import wave

import numpy as np


def write_wav(path, seconds, freq, seed):
    rng = np.random.default_rng(seed)
    t = np.arange(int(16000 * seconds)) / 16000.0
    x = 0.3 * np.sin(2 * math.pi * freq * t * (1 + 0.1 * np.sin(2 * math.pi * 3 * t)))
    x += 0.02 * rng.standard_normal(len(t))
    with wave.open(path, "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(16000)
        w.writeframes((np.clip(x, -1, 1) * 32767).astype("<i2").tobytes())


def run(emotion, args):
    env = dict(os.environ, OPENBLAS_NUM_THREADS="1")
    return subprocess.run([emotion, "eval"] + args, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                          text=True, env=env, timeout=60)


def check(cond, msg):
    if not cond:
        print("FAIL: " + msg)
        sys.exit(1)


def one_error_line(r, needle):
    lines = [l for l in r.stderr.splitlines() if l.strip()]
    check(len(lines) == 1, "expected one error line, got %r" % r.stderr)
    check(needle in lines[0], "error line %r does not mention %r" % (lines[0], needle))


def speaker_model(d, level_floor, seed, prosody=0):
    import export
    import make_tiny_model
    cfg = dict(make_tiny_model.TINY, cmvn="speaker", level_floor=level_floor, prosody=prosody)
    m = make_tiny_model.random_model(cfg, ["neutral", "happy", "angry", "sad"], seed)
    path = os.path.join(d, "spk%g%s.emod" % (level_floor, "-pitch" if prosody else ""))
    export.model_to_emod(m, ["neutral", "happy", "angry", "sad"], None, "spk", {}, path)
    return m, path


def check_speaker(emotion, src, d, lst, rows):
    sys.path.insert(0, os.path.join(src, "tools", "train"))
    import torch
    import features as FE
    import train as T
    torch.set_num_threads(1)
    feats, spk = {}, {}
    for row in rows:
        name, _, s = row.split(",")
        out = os.path.join(d, name + ".npy")
        subprocess.run([emotion, "features", os.path.join(d, name), "-o", out], check=True,
                       capture_output=True)
        feats[name], spk[name] = np.load(out), s
    js = os.path.join(d, "r.json")
    # Each speaker's statistics as training computes them (features.SpeakerNormStore), without
    # and with a level floor (all of a speaker's files floored at its level).
    for level_floor in (0.3, 0.0):
        m, model = speaker_model(d, level_floor, 5)
        r = run(emotion, ["--model", model, "--list", lst, "--json", js, "-q"])
        check(r.returncode == 0, "exit %d: %s" % (r.returncode, r.stderr))
        got = {os.path.basename(f["path"]): np.array(f["probs"])
               for f in json.load(open(js))["files"]}
        items = [{"corpus": "x", "path": k, "speaker": spk[k]} for k in feats]
        store = FE.SpeakerNormStore(FE.MemoryStore({"x/" + k: v for k, v in feats.items()}),
                                    items, m.config["cmvn_eps"], False, level_floor)
        worst = max(float(np.abs(T.eval_file(m, store.get("x/" + k)) - got[k]).max())
                    for k in feats)
        check(worst <= 1e-4, "speaker model (level_floor %g): C eval vs PyTorch per-speaker %.3g"
              % (level_floor, worst))
    # Grouped by speaker, eval reuses the frames it decoded for the statistics: same posteriors.
    grouped = os.path.join(d, "grouped.csv")
    with open(grouped, "w") as f:
        f.write("path,label,speaker\n" + "\n".join(sorted(rows, key=lambda r: r.split(",")[2])) + "\n")
    r = run(emotion, ["--model", model, "--list", grouped, "--json", js, "-q"])
    check(r.returncode == 0, "grouped list: exit %d: %s" % (r.returncode, r.stderr))
    same = {os.path.basename(f["path"]): np.array(f["probs"]) for f in json.load(open(js))["files"]}
    check(max(np.abs(same[k] - got[k]).max() for k in got) <= 1e-6,
          "a list grouped by speaker gives other posteriors than an interleaved one")
    # The statistics matter: the same files as one speaker each must give other posteriors.
    alone = os.path.join(d, "alone.csv")
    with open(alone, "w") as f:
        f.write("path,label\n" + "\n".join(",".join(r.split(",")[:2]) for r in rows) + "\n")
    r = run(emotion, ["--model", model, "--list", alone, "--json", js, "-q"])
    other = {os.path.basename(f["path"]): np.array(f["probs"]) for f in json.load(open(js))["files"]}
    check(max(np.abs(other[k] - got[k]).max() for k in got) > 1e-3,
          "speaker grouping made no difference to the posteriors")

    def probs_with(mode):
        r = run(emotion, ["--model", model, "--list", lst, "--json", js, "-q", "--speaker-stats", mode])
        check(r.returncode == 0, "--speaker-stats %s: exit %d: %s" % (mode, r.returncode, r.stderr))
        return {os.path.basename(f["path"]): np.array(f["probs"]) for f in json.load(open(js))["files"]}

    eps = m.config["cmvn_eps"]
    pm, pv = m.spk_prior_mean.double().numpy(), m.spk_prior_var.double().numpy()
    per_file, prior, running = probs_with("file"), probs_with("prior"), probs_with("running")
    w_file = w_prior = 0.0
    for name, x in feats.items():
        n, s1, s2 = FE.speaker_moments([x])
        mean = s1 / n
        var = np.maximum(s2 / n - mean * mean, 0.0)
        y = ((x - mean) / np.sqrt(var + eps)).astype(np.float32)
        w_file = max(w_file, float(np.abs(T.eval_file(m, y) - per_file[name]).max()))
        y = ((x - pm) / np.sqrt(pv + eps)).astype(np.float32)
        w_prior = max(w_prior, float(np.abs(T.eval_file(m, y) - prior[name]).max()))
    check(w_file <= 1e-4, "--speaker-stats file: C vs PyTorch %.3g" % w_file)
    check(w_prior <= 1e-4, "--speaker-stats prior: C vs PyTorch %.3g" % w_prior)
    # running: a speaker's first file has heard nothing of the voice yet (= prior); later ones have.
    # The list interleaves the speakers, so every file restarts from the prior.
    d = max(np.abs(running[k] - prior[k]).max() for k in running)
    check(d <= 1e-6, "--speaker-stats running on an interleaved list differs from the prior: %.3g" % d)
    with open(alone, "w") as f:
        f.write("path,label,speaker\n" + "\n".join(
            ",".join(r.split(",")[:2] + ["one"]) for r in rows) + "\n")
    r = run(emotion, ["--model", model, "--list", alone, "--json", js, "-q", "--speaker-stats", "running"])
    one = {os.path.basename(f["path"]): np.array(f["probs"]) for f in json.load(open(js))["files"]}
    check(np.abs(one["a0.wav"] - prior["a0.wav"]).max() <= 1e-6, "running: the first file is not the prior")
    check(np.abs(one["a3.wav"] - prior["a3.wav"]).max() > 1e-4, "running: the 4th file heard nothing")
    # Training's partial statistics (train config partial_speaker_stats) are this estimate: file k
    # normalised after hearing files 0..k-1 (SpeakerNormStore.get_heard, the daemon's prior
    # weight and variance floor) gives C's posteriors.
    names = [r.split(",")[0] for r in rows]
    store = FE.SpeakerNormStore(FE.MemoryStore({"x/" + k: v for k, v in feats.items()}),
                                [{"corpus": "x", "path": k, "speaker": "one"} for k in names],
                                eps, False)
    w_run = max(float(np.abs(T.eval_file(m, store.get_heard(
        "x/" + k, "orig", ["x/" + h for h in names[:i]], (pm, pv))) - one[k]).max())
        for i, k in enumerate(names))
    check(w_run <= 1e-4, "--speaker-stats running: C vs get_heard %.3g" % w_run)
    # --speaker-files: a0 evaluated alone, its speaker's other file (a2) only as statistics.
    one_l, extra_l = os.path.join(os.path.dirname(lst), "one.csv"), os.path.join(os.path.dirname(lst), "extra.csv")
    with open(one_l, "w") as f:
        f.write("path,label,speaker\n" + rows[0] + "\n")
    with open(extra_l, "w") as f:
        f.write("path,label,speaker\n" + "\n".join(rows) + "\n")
    r = run(emotion, ["--model", model, "--list", one_l, "--json", js, "-q", "--speaker-files", extra_l])
    check(r.returncode == 0, "--speaker-files: exit %d: %s" % (r.returncode, r.stderr))
    p0 = np.array(json.load(open(js))["files"][0]["probs"])
    check(np.abs(p0 - got["a0.wav"]).max() <= 1e-6, "--speaker-files: a0 alone + extra != the full list")
    r = run(emotion, ["--model", model, "--list", lst, "--speaker-stats", "bogus"])
    check(r.returncode == 2, "--speaker-stats bogus: exit %d, expected 2" % r.returncode)
    # A model that reads the voice's pitch: eval gives it the bands and the tracker's columns
    # (`emotion features --pitch`), normalised with each speaker's statistics of both (speech
    # chosen by the bands), as training's store does; and the running estimate likewise.
    pfeats, wd = {}, os.path.dirname(lst)   # the list sits beside its audio
    for name in feats:
        out = os.path.join(wd, name + ".pitch.npy")
        subprocess.run([emotion, "features", "--pitch", os.path.join(wd, name), "-o", out],
                       check=True, capture_output=True)
        pfeats[name] = np.load(out)
    mp, pmodel = speaker_model(wd, 0.0, 6, prosody=2)
    r = run(emotion, ["--model", pmodel, "--list", lst, "--json", js, "-q"])
    check(r.returncode == 0, "pitch model: exit %d: %s" % (r.returncode, r.stderr))
    pgot = {os.path.basename(f["path"]): np.array(f["probs"]) for f in json.load(open(js))["files"]}
    mem = FE.MemoryStore({"x/" + k: v for k, v in pfeats.items()})
    mem.extra_columns = 2
    store = FE.SpeakerNormStore(mem, [{"corpus": "x", "path": k, "speaker": spk[k]} for k in pfeats],
                                eps, False)
    w_pitch = max(float(np.abs(T.eval_file(mp, store.get("x/" + k)) - pgot[k]).max()) for k in pfeats)
    check(w_pitch <= 1e-4, "pitch model: C eval vs PyTorch per-speaker %.3g" % w_pitch)
    r = run(emotion, ["--model", pmodel, "--list", alone, "--json", js, "-q", "--speaker-stats", "running"])
    pone = {os.path.basename(f["path"]): np.array(f["probs"]) for f in json.load(open(js))["files"]}
    store = FE.SpeakerNormStore(mem, [{"corpus": "x", "path": k, "speaker": "one"} for k in names],
                                eps, False)
    pp = (mp.spk_prior_mean.double().numpy(), mp.spk_prior_var.double().numpy())
    w_prun = max(float(np.abs(T.eval_file(mp, store.get_heard(
        "x/" + k, "orig", ["x/" + h for h in names[:i]], pp)) - pone[k]).max())
        for i, k in enumerate(names))
    check(w_prun <= 1e-4, "pitch model --speaker-stats running: C vs get_heard %.3g" % w_prun)
    print("speaker model: C eval vs PyTorch %.2e (per speaker), %.2e (per file), %.2e (prior), "
          "%.2e (running); pitch model %.2e (per speaker), %.2e (running)"
          % (worst, w_file, w_prior, w_run, w_pitch, w_prun))


def check_context(emotion, model, d, lst):
    def probs(extra):
        js = os.path.join(d, "c.json")
        r = run(emotion, ["--model", model, "--list", lst, "--json", js, "-q"] + extra)
        check(r.returncode == 0, "%r: exit %d: %s" % (extra, r.returncode, r.stderr))
        res = json.load(open(js))
        return res["context_frames"], {f["path"]: np.array(f["probs"]) for f in res["files"]}
    window, default = probs([])
    check(window == 300, "default context %d, expected the tiny model's window 300" % window)
    same, explicit = probs(["--context", "300"])
    check(same == 300 and all(np.array_equal(default[k], explicit[k]) for k in default),
          "--context 300 (the window) differs from the default")
    short_ctx, short = probs(["--context", "120"])
    check(short_ctx == 120, "JSON context_frames %d, expected 120" % short_ctx)
    # a0.wav is 1 s (~100 frames): one window either way; a3.wav is 5.5 s: 300 vs 120-frame windows.
    one = [k for k in default if k.endswith("a0.wav")][0]
    long_ = [k for k in default if k.endswith("a3.wav")][0]
    check(np.abs(default[one] - short[one]).max() < 1e-6,
          "a file shorter than the context changed with --context: %r vs %r"
          % (default[one], short[one]))
    diff = np.abs(default[long_] - short[long_]).max()
    check(diff > 1e-4,
          "a 5.5 s file is judged the same with 120- and 300-frame windows (%.2e)" % diff)
    for bad, needle in (("301", "--context 301: longer than the model's window (300 frames)"),
                        ("0", "option --context: 0 is out of range (allowed 1..1048576)"),
                        ("12x", "option --context: '12x' is not an integer")):
        r = run(emotion, ["--model", model, "--list", lst, "--context", bad, "-q"])
        check(r.returncode == 2, "--context %s: exit %d, expected 2" % (bad, r.returncode))
        one_error_line(r, needle)
    print("context: a3.wav posteriors differ by %.3f between 300- and 120-frame windows" % diff)


def check_csv(emotion, model, d):
    """The list is CSV as RFC 4180 has it (read by libcsv): columns in any order, quoted fields
    with commas and doubled quotes, CRLF endings, blank rows skipped; malformed quoting and NUL
    bytes refused with one line naming the row."""
    write_wav(os.path.join(d, "x,1.wav"), 1.5, 180, 1)
    write_wav(os.path.join(d, 'say "hi".wav'), 1.5, 260, 2)
    lst, js = os.path.join(d, "quoted.csv"), os.path.join(d, "q.json")
    with open(lst, "wb") as f:
        f.write(b'label,speaker,path\r\nneutral,s1,"x,1.wav"\r\n\r\nhappy,s2,"say ""hi"".wav"\r\n')
    r = run(emotion, ["--model", model, "--list", lst, "--json", js, "-q"])
    check(r.returncode == 0, "quoted list: exit %d: %s" % (r.returncode, r.stderr))
    res = json.load(open(js))
    check([os.path.basename(f["path"]) for f in res["files"]] == ["x,1.wav", 'say "hi".wav']
          and [f["label"] for f in res["files"]] == ["neutral", "happy"] and res["failed"] == 0,
          "quoted list read wrongly: %r" % res["files"])
    for body, needle in ((b'path,label\nx.wav,neutral\n"x.wav,neutral\n', "row 3: not valid CSV"),
                         (b'path,label\nx"1.wav,neutral\n', "row 2: not valid CSV (error "
                          "parsing data while strict checking enabled) at byte 13"),
                         (b'path,label\nx\x001.wav,neutral\n', "row 2: a field holds a NUL byte"),
                         (b'path,label\nx.wav\n', "row 2: has 1 of the 2 fields the header needs"),
                         (b'', "empty list"),
                         (b'path,label\n\n', "no files listed")):
        with open(lst, "wb") as f:
            f.write(body)
        r = run(emotion, ["--model", model, "--list", lst])
        check(r.returncode == 1, "%r: exit %d, expected 1" % (body, r.returncode))
        one_error_line(r, needle)


def main():
    emotion, case = sys.argv[1], sys.argv[2]
    src = os.environ.get("EMOTIOND_SRC") or os.path.join(os.path.dirname(__file__), "..", "..")
    model = os.path.join(src, "tests", "fixtures", "tiny.emod")
    if not os.path.isfile(model):
        print("FAIL: %s missing" % model)
        return 1
    with tempfile.TemporaryDirectory() as d:
        labels = ["neutral", "happy", "angry", "sad"]
        rows = []
        for i, lab in enumerate(labels):
            write_wav(os.path.join(d, "a%d.wav" % i), 1.0 + 1.5 * i, 150 + 60 * i, i)
            rows.append("a%d.wav,%s,spk%d" % (i, lab, i % 2))
        lst = os.path.join(d, "list.csv")
        with open(lst, "w") as f:
            f.write("path,label,speaker\n" + "\n".join(rows) + "\n")
        if case == "ok":
            js, png = os.path.join(d, "r.json"), os.path.join(d, "r.png")
            r = run(emotion, ["--model", model, "--list", lst, "--json", js, "--png", png, "-q"])
            check(r.returncode == 0, "exit %d: %s" % (r.returncode, r.stderr))
            check("accuracy" in r.stdout and "uar" in r.stdout, "no figures printed: %r" % r.stdout)
            res = json.load(open(js))
            check(res["n"] == 4 and res["failed"] == 0, "n/failed wrong: %r" % res)
            lab = res["labels"]
            cm = np.array(res["confusion"])
            check(cm.sum() == 4, "confusion sums to %d" % cm.sum())
            correct = 0
            for fobj in res["files"]:
                check(abs(sum(fobj["probs"]) - 1) < 1e-3, "probs do not sum to 1")
                check(fobj["pred"] == lab[int(np.argmax(fobj["probs"]))], "pred is not the argmax")
                check(cm[lab.index(fobj["label"]), lab.index(fobj["pred"])] >= 1, "confusion cell")
                correct += fobj["pred"] == fobj["label"]
            check(abs(res["accuracy"] - correct / 4) < 1e-6, "accuracy inconsistent")
            present = [k for k in range(len(lab)) if cm[k].sum()]
            uar = np.mean([cm[k, k] / cm[k].sum() for k in present])
            check(abs(res["uar"] - uar) < 1e-6, "UAR %.4f != %.4f" % (res["uar"], uar))
            check(open(png, "rb").read(8) == b"\x89PNG\r\n\x1a\n", "PNG not written")
        elif case == "bad_label":
            with open(lst, "a") as f:
                f.write("a0.wav,bored,spk0\n")
            r = run(emotion, ["--model", model, "--list", lst])
            check(r.returncode == 1, "exit %d, expected 1" % r.returncode)
            one_error_line(r, "label 'bored' is not one of the model's labels")
        elif case == "no_header":
            with open(lst, "w") as f:
                f.write("\n".join(rows) + "\n")
            r = run(emotion, ["--model", model, "--list", lst])
            check(r.returncode == 1, "exit %d, expected 1" % r.returncode)
            one_error_line(r, "header must name the columns 'path' and 'label'")
        elif case == "usage":
            r = run(emotion, ["--list", lst])
            check(r.returncode == 2, "exit %d, expected 2" % r.returncode)
            one_error_line(r, "missing --model")
            r = run(emotion, ["--model", model, "--list", lst, "--bogus"])
            check(r.returncode == 2, "exit %d, expected 2" % r.returncode)
            one_error_line(r, "unknown option '--bogus'")
            r = run(emotion, ["--model", model, "--list", lst, "--speaker-var-floor", "11"])
            check(r.returncode == 2, "--speaker-var-floor 11: exit %d, expected 2" % r.returncode)
            one_error_line(r, "option --speaker-var-floor: 11 is out of range")
            r = run(emotion, ["--model", os.path.join(d, "nope.emod"), "--list", lst])
            check(r.returncode == 1, "missing model: exit %d, expected 1" % r.returncode)
            one_error_line(r, "nope.emod")
        elif case == "csv":
            check_csv(emotion, model, d)
        elif case == "speaker":
            check_speaker(emotion, src, d, lst, rows)
        elif case == "context":
            check_context(emotion, model, d, lst)
        elif case == "short_file":
            write_wav(os.path.join(d, "short.wav"), 0.012, 200, 9)  # < 2 frames
            with open(lst, "a") as f:
                f.write("short.wav,sad,spk0\n")
            js = os.path.join(d, "r.json")
            r = run(emotion, ["--model", model, "--list", lst, "--json", js, "-q"])
            check(r.returncode == 1, "exit %d, expected 1" % r.returncode)
            one_error_line(r, "short.wav")
            res = json.load(open(js))
            check(res["n"] == 4 and res["failed"] == 1, "short file not counted as failed: %r"
                  % {k: res[k] for k in ("n", "failed")})
        else:
            print("unknown case %r" % case)
            return 2
    print("ok: eval %s" % case)
    return 0


if __name__ == "__main__":
    sys.exit(main())

#!/usr/bin/python3
"""Model runtime benchmark (not a test): the C streaming runner (nn-bench) and, in the same run
over the same features, the PyTorch alternative a user would otherwise run: the same network
re-evaluated on a sliding 3 s window (the model's window) at 10 Hz, one thread. Prints both side
by side with the CPU-time ratio.

  /usr/bin/python3 tools/bench/nn-bench.py [--build DIR] [--model M.emod] [--seconds S]
                                           [--passes N] [--corpus DIR | --synthetic]

Model: --model, else the shipped models/emotiond-default.emod, else a default-size model with
random weights made by make_tiny_model.py --size default (cost depends on the architecture only).
The PyTorch side runs the same .emod (export.emod_to_model), so both compute the same numbers.
Features: real corpus speech when the corpus is present (up to --seconds of files from
ravdess/ and emodb/, through `emotion features`, i.e. the C front end), else synthetic voiced
audio through the same front end.
"""
import argparse
import glob
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
SRC = os.path.normpath(os.path.join(HERE, "..", ".."))
sys.path.insert(0, os.path.join(SRC, "tools", "train"))
import one_blas_thread  # noqa: E402,F401  (PyTorch's side also runs on one BLAS thread)
import numpy as np  # noqa: E402


def find_build(arg):
    for d in ([arg] if arg else []) + [os.environ.get("EMOTIOND_BUILD", ""), os.path.join(SRC, "build")]:
        if d and os.access(os.path.join(d, "tools", "bench", "nn-bench"), os.X_OK):
            return d
    sys.exit("nn-bench.py: no build dir with tools/bench/nn-bench (give --build DIR)")


def front_end_options(config, dsp):
    """The `emotion features` options of a model's input: its suppressor, and its pitch."""
    import features as FE
    opts = ["--denoise-db", str(dsp["denoise_db"])] if dsp.get("denoise_db") else []
    if config["prosody"]:
        opts += FE.pitch_options(config["pitch_input"], alone=False)
    return opts


def corpus_features(build, corpus, seconds, tmp, options):
    files = sorted(glob.glob(os.path.join(corpus, "ravdess", "**", "*.flac"), recursive=True))[::37]
    files += sorted(glob.glob(os.path.join(corpus, "emodb", "**", "*.flac"), recursive=True))[::11]
    feats, total = [], 0
    for i, f in enumerate(files):
        out = os.path.join(tmp, "f%d.npy" % i)
        r = subprocess.run([os.path.join(build, "tools", "emotion"), "features"] + options + [f, "-o", out],
                           capture_output=True, text=True)
        if r.returncode:
            continue
        a = np.load(out).astype(np.float32)
        feats.append(a)
        total += len(a)
        if total >= seconds * 100:
            break
    if not feats:
        return None, 0
    return np.concatenate(feats), len(feats)


def torch_sliding(model, frames, window, min_frames, every=10):
    import torch
    torch.set_num_threads(1)
    x = torch.from_numpy(frames)[None]
    lat = []
    n_eval = 0
    c0 = time.thread_time()
    with torch.no_grad():
        for t in range(min_frames - 1, len(frames), every):
            a = time.perf_counter()
            torch.softmax(model(x[:, max(0, t + 1 - window):t + 1]), -1)
            lat.append(time.perf_counter() - a)
            n_eval += 1
    cpu = time.thread_time() - c0
    return cpu, n_eval, statistics.median(lat)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--build")
    ap.add_argument("--model")
    ap.add_argument("--seconds", type=float, default=60)
    ap.add_argument("--passes", type=int, default=3)
    ap.add_argument("--corpus")
    ap.add_argument("--synthetic", action="store_true", help="ignore the corpus")
    a = ap.parse_args()
    build = find_build(a.build)
    import export
    import make_tiny_model

    with tempfile.TemporaryDirectory() as tmp:
        model_path, model_note = a.model, "given"
        shipped = os.path.join(SRC, "models", "emotiond-default.emod")
        if not model_path and os.path.exists(shipped):
            model_path, model_note = shipped, "shipped model"
        if not model_path:
            model_path = os.path.join(tmp, "default-random.emod")
            make_tiny_model.main([model_path, "--size", "default"])
            model_note = "default-size architecture, random weights"

        model, labels, dsp, name = export.emod_to_model(model_path)
        corpus = a.corpus or os.environ.get("EMOTIOND_DATA") or os.path.join(SRC, "..", "shared", "data")
        frames, n_files = (None, 0)
        if not a.synthetic and os.path.isdir(corpus):
            frames, n_files = corpus_features(build, corpus, a.seconds, tmp,
                                              front_end_options(model.config, dsp))
        cmd = [os.path.join(build, "tools", "bench", "nn-bench"), model_path, "--passes", str(a.passes)]
        if frames is not None:
            fpath = os.path.join(tmp, "frames.f32")
            frames.tofile(fpath)
            cmd += ["--frames", fpath]
            input_note = "%d corpus files (RAVDESS + EMO-DB), %.1f s" % (n_files, len(frames) / 100)
        else:
            fpath = os.path.join(tmp, "frames.f32")
            cmd += ["--seconds", str(a.seconds), "--dump", fpath]
            input_note = "synthetic voiced audio, %.0f s" % a.seconds
        env = dict(os.environ, OPENBLAS_NUM_THREADS="1")
        c = json.loads(subprocess.run(cmd, capture_output=True, text=True, check=True, env=env).stdout)

        if frames is None:   # the synthetic features the C side made and dumped
            frames = np.fromfile(fpath, dtype=np.float32).reshape(
                -1, model.config["n_mels"] + model.config["prosody"])
        W, minf = model.config["window"], model.config["min_frames"]
        t_cpu, n_eval, t_lat = torch_sliding(model, frames, W, minf)
        audio_s = len(frames) / 100.0
        torch_cpu_per_s = t_cpu / audio_s

    ratio = torch_cpu_per_s / c["stream_cpu_s_per_audio_s"]
    print("model: %s (%s)" % (c["model"], model_note))
    print("input: %s; one thread (OpenBLAS 1 thread, torch.set_num_threads(1))" % input_note)
    print("")
    print("%-48s %14s %14s" % ("", "C stream (nn/)", "PyTorch 3s@10Hz"))
    print("%-48s %14.1f %14s" % ("per hop (10 ms) median, us", c["hop_us_median"], "-"))
    print("%-48s %14.1f %14s" % ("per hop p25 (odd frames: CMVN + conv-1), us", c["hop_us_p25"], "-"))
    print("%-48s %14.1f %14s" % ("per hop p75 (even frames: + both lanes' step), us", c["hop_us_p75"], "-"))
    print("%-48s %14.1f %14s" % ("per hop p99, us", c["hop_us_p99"], "-"))
    print("%-48s %14s %14.1f" % ("per evaluation (3 s window) median, ms", "-", t_lat * 1e3))
    print("%-48s %14.5f %14.5f" % ("CPU s per audio s", c["stream_cpu_s_per_audio_s"], torch_cpu_per_s))
    print("%-48s %14.1f %14s" % ("posterior updates per s", 100.0, "10"))
    print("")
    print("CPU ratio PyTorch sliding window / C stream: %.0fx" % ratio)
    print("C offline (eval windows, hop W/2): %.0fx real time; one run over all frames: %.0fx"
          % (c["offline_x_realtime"], c["offline_whole_x_realtime"]))
    print(json.dumps({"c": c, "torch": {"cpu_s_per_audio_s": torch_cpu_per_s, "evals": n_eval,
                                        "eval_ms_median": t_lat * 1e3}, "ratio": ratio,
                      "model_note": model_note, "input": input_note}))


if __name__ == "__main__":
    main()

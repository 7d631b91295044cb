#!/usr/bin/python3
"""Front-end benchmark (not a test): runs dsp-bench (C) and, in the same run over the same audio,
an obvious numpy log-mel, and prints both side by side with their ratio.

numpy reference, single thread:
  - per hop: slice the newest 400 samples, window, np.fft.rfft(n=512), |.|^2, @ mel matrix, log
    (one frame per 10 ms hop, timed with perf_counter_ns around each);
  - offline: strided frame matrix [frames, 400] * window, rfft along rows, |.|^2 @ mel.T, log.
It runs in a child interpreter with OPENBLAS_CORETYPE and OPENBLAS_L2_SIZE unset (they slow a
current numpy on this machine) and OPENBLAS_NUM_THREADS=1, in that command alone.

usage: /usr/bin/python3 tools/bench/dsp-bench.py [--build DIR] [--seconds S] [--passes N]
"""
import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
SRC = os.path.normpath(os.path.join(HERE, "..", ".."))


def numpy_part(path, passes):
    import numpy as np
    sys.path.insert(0, os.path.join(SRC, "tests", "dsp"))
    from test_reference import mel_filterbank  # the independent reference's filterbank

    x = np.fromfile(path, dtype=np.float32)
    rate, win, hop, n_fft, floor = 16000, 400, 160, 512, 1e-10
    fb = mel_filterbank(rate, n_fft, 128, 0.0, 8000.0, "slaney")
    fbt = np.ascontiguousarray(fb.T)
    window = 0.54 - 0.46 * np.cos(2 * np.pi * np.arange(win) / win)
    n_frames = 1 + (len(x) - win) // hop

    def batch():
        frames = np.lib.stride_tricks.sliding_window_view(x, win)[::hop] * window
        power = np.abs(np.fft.rfft(frames, n=n_fft, axis=1)) ** 2
        return np.log(np.maximum(power @ fbt, floor))

    times = []
    for _ in range(passes * 3):
        t0 = time.perf_counter()
        out = batch()
        times.append(time.perf_counter() - t0)
    assert out.shape == (n_frames, 128)
    batch_s = statistics.median(times)

    hop_ns = []
    for _ in range(passes):
        for i in range(n_frames):
            t0 = time.perf_counter_ns()
            frame = x[i * hop:i * hop + win] * window
            power = np.abs(np.fft.rfft(frame, n=n_fft)) ** 2
            np.log(np.maximum(power @ fbt, floor))
            hop_ns.append(time.perf_counter_ns() - t0)
    hop_ns.sort()
    info = {}
    try:
        from threadpoolctl import threadpool_info
        info = {"blas": [(d.get("internal_api"), d.get("architecture"), d.get("num_threads"))
                         for d in threadpool_info()]}
    except ImportError:
        info = {"blas": "threadpoolctl not installed"}
    return {
        "audio_s": len(x) / rate,
        "hop_median_us": hop_ns[len(hop_ns) // 2] / 1e3,
        "hop_p99_us": hop_ns[min(len(hop_ns) - 1, int(0.99 * len(hop_ns)))] / 1e3,
        "batch_s": batch_s,
        "batch_xrt": len(x) / rate / batch_s,
        "batch_best_xrt": len(x) / rate / min(times),
        "numpy": np.__version__,
        **info,
    }


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--build", default=os.path.join(SRC, "build"))
    ap.add_argument("--seconds", type=float, default=60)
    ap.add_argument("--passes", type=int, default=3)
    ap.add_argument("--numpy-part", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.numpy_part:
        print(json.dumps(numpy_part(args.numpy_part, args.passes)))
        return 0

    exe = os.path.join(args.build, "tools", "bench", "dsp-bench")
    if not os.access(exe, os.X_OK):
        print(f"dsp-bench: {exe} not built (ninja -C {args.build} tools/bench/dsp-bench)",
              file=sys.stderr)
        return 1
    load_before = open("/proc/loadavg").read().split()[0]
    with tempfile.TemporaryDirectory() as tmp:
        audio = os.path.join(tmp, "audio.f32")
        c = json.loads(subprocess.run(
            [exe, "--json", "--seconds", str(args.seconds), "--passes", str(args.passes),
             "--dump-audio", audio], check=True, capture_output=True, text=True).stdout)
        env = dict(os.environ, OPENBLAS_NUM_THREADS="1")
        env.pop("OPENBLAS_CORETYPE", None)
        env.pop("OPENBLAS_L2_SIZE", None)
        py = json.loads(subprocess.run(
            ["/usr/bin/python3", os.path.abspath(__file__), "--numpy-part", audio,
             "--passes", str(args.passes)], env=env, check=True, capture_output=True,
            text=True).stdout)

    print(f"audio: {c['audio_s']:.1f} s of {c['source']} ({c['files']} files), "
          f"{c['hops']} hops x {c['passes']} passes; numpy {py['numpy']}, BLAS {py['blas']}")
    print(f"{'':34s}{'dsp (C)':>14s}{'numpy':>14s}{'numpy/C':>10s}")
    rows = [("per hop median (us)", c["hop_median_us"], py["hop_median_us"]),
            ("per hop p99 (us)", c["hop_p99_us"], py["hop_p99_us"]),
            ("offline, median (x real time)", c["batch_xrt"], py["batch_xrt"]),
            ("offline, best run (x real time)", c["batch_best_xrt"], py["batch_best_xrt"])]
    for name, cv, pv in rows:
        ratio = pv / cv if "real time" not in name else cv / pv
        print(f"{name:34s}{cv:14.2f}{pv:14.2f}{ratio:9.1f}x")
    print(f"{'48k stereo resample+log-mel/hop':34s}{c['hop48_median_us']:14.2f}"
          f"{'':>14s}   (median; p99 {c['hop48_p99_us']:.2f} us)")
    print("(numpy/C: how many times faster the C front end is; load average "
          f"{load_before} before, {open('/proc/loadavg').read().split()[0]} after, "
          f"on {os.cpu_count()} cores)")
    return 0


if __name__ == "__main__":
    sys.exit(main())

#!/usr/bin/python3
"""Training-step cost of the shipped recipe's network, as the protocols run it: two jobs side by
side on the machine (one per core), each with torch.set_num_threads(1).

Compares, side by side in one run and in alternating order per round, the conv memory format
(NCHW, PyTorch's default, vs channels-last NHWC, model.CONV_MEMORY_FORMAT) and the OpenBLAS
thread count (as many as cores, OpenBLAS's default, vs one, one_blas_thread.py). Each round runs
two workers of one variant at once; a worker times `--steps` training steps (train.step_loss over
the supervised prefixes, backward, Adam) on a random batch [batch, frames, n_mels] and reports wall and
process CPU time per step. Prints the medians over rounds and workers and the ratios to the
variant the recipe used before (NCHW, OpenBLAS default).

    /usr/bin/python3 tools/bench/train-bench.py [--rounds 3] [--steps 20] [--config tools/train/configs/stream.json]
"""
import argparse
import json
import os
import statistics
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
SRC = os.path.normpath(os.path.join(HERE, "..", ".."))
TRAIN = os.path.join(SRC, "tools", "train")

# (name, conv memory format, OpenBLAS threads: 0 = one per core, OpenBLAS's own default)
VARIANTS = [("NCHW, OpenBLAS per core", "nchw", 0),
            ("NCHW, 1 OpenBLAS thread", "nchw", 1),
            ("NHWC, OpenBLAS per core", "nhwc", 0),
            ("NHWC, 1 OpenBLAS thread (now)", "nhwc", 1)]


def worker(a):
    sys.path.insert(0, TRAIN)
    import torch
    import model as M
    import train as T
    if a.worker == "nchw":
        M.CONV_MEMORY_FORMAT = torch.contiguous_format
    cfg = T.full_config(T.load_config(a.config))
    torch.set_num_threads(1)
    torch.manual_seed(0)
    net = M.make_model(cfg["model"], ["l%d" % i for i in range(8)])
    net.train()
    x = torch.randn(a.batch, a.frames, net.config["n_mels"])
    y = torch.randint(0, 8, (a.batch,))
    lengths = torch.full((a.batch,), a.frames - a.frames % net.config["time_pool"])
    opt = torch.optim.Adam(net.parameters(), lr=1e-3)

    def step():   # train.py's step: its loss over the supervised prefixes
        loss = T.step_loss(net, x, lengths, y, cfg, None)
        opt.zero_grad()
        loss.backward()
        opt.step()

    for _ in range(2):
        step()
    w0, c0 = time.perf_counter(), time.process_time()
    for _ in range(a.steps):
        step()
    print(json.dumps({"wall": (time.perf_counter() - w0) / a.steps,
                      "cpu": (time.process_time() - c0) / a.steps,
                      "threads": len(os.listdir("/proc/self/task"))}))


def run_pair(a, fmt, blas):
    env = dict(os.environ)
    env["OPENBLAS_NUM_THREADS"] = str(blas or os.cpu_count())
    cmd = [sys.executable, os.path.abspath(__file__), "--worker", fmt, "--steps", str(a.steps),
           "--batch", str(a.batch), "--frames", str(a.frames), "--config", a.config]
    procs = [subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, text=True) for _ in range(2)]
    out = []
    for p in procs:
        o, _ = p.communicate()
        if p.returncode:
            sys.exit("train-bench: worker failed (%s)" % " ".join(cmd))
        out.append(json.loads(o))
    return out


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--steps", type=int, default=20)
    ap.add_argument("--batch", type=int, default=16)
    ap.add_argument("--frames", type=int, default=300)
    ap.add_argument("--config", default=os.path.join(TRAIN, "configs", "stream.json"))
    ap.add_argument("--worker", choices=["nchw", "nhwc"], help=argparse.SUPPRESS)
    a = ap.parse_args()
    if a.worker:
        return worker(a)
    res = {v[0]: [] for v in VARIANTS}
    for r in range(a.rounds):
        order = VARIANTS if r % 2 == 0 else VARIANTS[::-1]
        for name, fmt, blas in order:
            res[name] += run_pair(a, fmt, blas)
    print("training step, batch %d x %d frames, %s; 2 jobs side by side, %d rounds x %d steps"
          % (a.batch, a.frames, os.path.relpath(a.config, SRC), a.rounds, a.steps))
    print("%-32s %12s %12s %8s %14s" % ("variant", "wall s/step", "CPU s/step", "threads",
                                        "wall vs first"))
    base = None
    for name, _, _ in VARIANTS:
        wall = statistics.median(o["wall"] for o in res[name])
        cpu = statistics.median(o["cpu"] for o in res[name])
        base = base or wall
        print("%-32s %12.3f %12.3f %8d %13.2fx" % (name, wall, cpu, res[name][0]["threads"],
                                                   base / wall))


if __name__ == "__main__":
    main()

#!/usr/bin/python3
"""Does this machine train the same weights as another? Trains the protocol network (the p2
configs' size: convs 16/32/32, LSTM 128, time_pool 4) for a few epochs on random features made
from a fixed seed, with train.py's own loop, and prints a hash of the weights with the kernel
pins in force (same_kernels.py) and the CPU. Two machines that print the same hash train the
same runs bit for bit; a different hash means their figures are not paired.

    /usr/bin/python3 tools/train/kernel_fingerprint.py [--epochs 2]

Run it under other kernels to see what the pins guard against, e.g.
ATEN_CPU_CAPABILITY=default or OPENBLAS_CORETYPE=Sandybridge before the command.
"""

import one_blas_thread  # noqa: F401  (before numpy/torch)
import same_kernels  # noqa: F401  (before numpy/torch)
import argparse
import hashlib
import os
import platform
import sys
import tempfile

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import train as T  # noqa: E402

NET = {"c1": 16, "c2": 32, "c3": 32, "lstm_hidden": 128, "dense": 64, "time_pool": 4}
LABELS = ["a", "b", "c"]


class RandomStore:
    """Features of 150-299 random frames per utterance, fixed by the utterance's index."""

    def check(self, *a):
        pass

    def get(self, key, version="orig"):
        rng = np.random.default_rng(int(key.rsplit("_", 1)[1].split(".")[0]))
        return rng.standard_normal((int(rng.integers(150, 300)), 128)).astype(np.float32)


def cpu_name():
    return same_kernels.cpuinfo_field("model name") or platform.processor() or "unknown"


def fingerprint(epochs):
    items = [{"corpus": "emodb", "path": "u_%d.flac" % i, "speaker": "emodb:%02d" % (i % 4),
              "label": i % 3, "label_name": LABELS[i % 3], "native": LABELS[i % 3]}
             for i in range(24)]
    cfg = {"name": "fingerprint", "epochs": epochs, "batch": 8, "versions": ["orig"],
           "model": NET, "crop_min": 150, "crop_max": 200, "validation": "train", "seed": 1}
    with tempfile.TemporaryDirectory() as d:
        model, meta = T.train(cfg, items, [], LABELS, RandomStore(), d, log=open(os.devnull, "w"))
    h = hashlib.sha256()
    for name, v in sorted(model.state_dict().items()):
        h.update(name.encode())
        h.update(v.numpy().tobytes())
    return h.hexdigest()[:16], meta["history"][-1]["loss"]


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--epochs", type=int, default=2)
    a = ap.parse_args(argv)
    digest, loss = fingerprint(a.epochs)
    pins = " ".join("%s=%s" % (k, os.environ.get(k, "-")) for k in sorted(same_kernels.PINS))
    print("weights %s  final loss %.9f  (%d epochs; %s; %s)" % (digest, loss, a.epochs, pins,
                                                                  cpu_name()))


if __name__ == "__main__":
    main()

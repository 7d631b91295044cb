"""Imported for its side effect, before numpy or torch, by the entry points that train
(train.py, protocols.py, tools/bench/train-bench.py): on an x86 CPU with AVX2 and FMA, OpenBLAS,
PyTorch's own kernels and oneDNN (its convolutions) use their AVX2 code, whatever wider code the
CPU offers. A variable already set is kept.

Why: each library picks its kernels by CPU at load time, and kernels of another width sum in
another order, so one config and seed trained different weights on different machines (single
p2 RAVDESS folds moved by up to 7.5 points; BENCHMARKS.md "Runs across machines"). AVX2 is what
the training machine of 2026-12-06 (AMD EPYC without AVX-512) runs by default, so pinning it
changes nothing there (same weights, bit for bit) and makes a machine with AVX-512 train the
same network. A CPU without AVX2 keeps the libraries' own choice (pinning would stop it with an
illegal instruction)."""

import os

PINS = {"OPENBLAS_CORETYPE": "Haswell", "ATEN_CPU_CAPABILITY": "avx2", "ONEDNN_MAX_CPU_ISA": "AVX2"}


def pins(cpu_flags):
    """The variables to set for a CPU with these /proc/cpuinfo flags (a set of words)."""
    return dict(PINS) if {"avx2", "fma"} <= set(cpu_flags) else {}


def cpuinfo_field(name, path="/proc/cpuinfo"):
    """The first core's value of a /proc/cpuinfo field, or None (no such field or file)."""
    try:
        with open(path) as f:
            for line in f:
                if line.split(":", 1)[0].strip() == name:
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return None


def cpu_flags(path="/proc/cpuinfo"):
    return set((cpuinfo_field("flags", path) or "").split())


for _name, _value in pins(cpu_flags()).items():
    os.environ.setdefault(_name, _value)

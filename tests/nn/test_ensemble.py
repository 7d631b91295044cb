#!/usr/bin/python3
"""Ensemble model files (format version 2; suite 'nn', always runs, no corpus).

    test_ensemble.py NN_TOOL

Three random members of different networks (LSTM 16 and 24 units, a CNN-only one with a mean
readout) sharing one speaker prior: C offline == the mean of the members' C offline posteriors,
C streaming == the mean of the members' C streams at every frame (defined on the same frames),
and both == PyTorch's EnsembleNet (export.emod_to_model) within 1e-4. Then crafted ensembles the
loader must refuse with one line naming the problem, random header damage with a valid checksum
(refused with one printable line or loaded, never a crash), and `ensemble.py build`.
"""

import hashlib
import os
import struct
import subprocess
import sys
import tempfile

import numpy as np
import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import test_parity as TP  # noqa: E402  (check, run_tool, NN_TOOL from argv[1], export, ...)

export, make_tiny_model, model_lib = TP.export, TP.make_tiny_model, TP.model_lib
check, run_tool = TP.check, TP.run_tool
ENSEMBLE_PY = os.path.join(TP.SRC, "tools", "train", "ensemble.py")
SPK = dict(make_tiny_model.TINY, cmvn="speaker")
MEMBER_CFGS = [dict(SPK), dict(SPK, lstm_hidden=24, dense=8), dict(SPK, lstm=False, readout="mean")]
# Members that read the voice's pitch (two columns after the bands), as a pitch recipe's seeds.
PITCH_CFGS = [dict(SPK, prosody=2), dict(SPK, prosody=2, lstm_hidden=24, dense=8)]


def member(cfg, seed, like=None, labels=None):
    """A random member; like: the model whose normalisation and speaker prior it takes."""
    m = make_tiny_model.random_model(dict(cfg), labels, seed)
    return make_tiny_model.share_normalisation(m, like) if like is not None else m


def emod_bytes(tmp, m, labels=None, name="member", kv_change=None):
    kvs, tens = export.emod_contents(m, labels or model_lib.DEFAULT_LABELS[:m.config["n_labels"]],
                                     None, name, {})
    if kv_change:
        kvs = [(k, t, kv_change[k]) if k in kv_change else (k, t, v) for k, t, v in kvs]
    path = os.path.join(tmp, "member.emod")
    export.write_emod(path, kvs, tens)
    with open(path, "rb") as f:
        return f.read()


def posteriors(kind, path, fpath):
    r = run_tool(kind, path, fpath)
    check(r.returncode == 0, "%s %s failed: %s" % (kind, path, r.stderr.strip()))
    if kind == "offline":
        return np.array(r.stdout.split(), dtype=np.float64)
    return [line.split() for line in r.stdout.splitlines()]


def test_parity(tmp, cfgs=MEMBER_CFGS, tag="ensemble"):
    first = member(cfgs[0], 11)
    nets = [first] + [member(c, 12 + j, first) for j, c in enumerate(cfgs[1:])]
    paths = []
    for j, m in enumerate(nets):
        paths.append(os.path.join(tmp, "m%d.emod" % j))
        export.model_to_emod(m, model_lib.DEFAULT_LABELS, None, "m%d" % j, {}, paths[-1])
    ens = os.path.join(tmp, "ens.emod")
    r = subprocess.run([sys.executable, ENSEMBLE_PY, "build", ens] + paths + ["--name", "ens-test"],
                       capture_output=True, text=True)
    check(r.returncode == 0 and "ens-test@sha256:" in r.stdout, "ensemble.py build: %r %r"
          % (r.stdout, r.stderr))
    r = run_tool("check", ens)
    check(r.returncode == 0 and r.stdout.startswith("ens-test@sha256:")
          and "members %d\n" % len(nets) in r.stdout, "check of the %s: %r" % (tag, r.stdout))
    n = 777
    frames = export.synthetic_frames(n, 128, 4, first.config["prosody"])
    fpath = os.path.join(tmp, "f.f32")
    frames.tofile(fpath)

    off = [posteriors("offline", p, fpath) for p in paths]
    off_e = posteriors("offline", ens, fpath)
    d_mean = np.abs(off_e - np.mean(off, 0)).max()
    check(d_mean <= 1e-6, "C offline ensemble vs the mean of its members %.3g" % d_mean)
    spread = max(np.abs(a - b).max() for a in off for b in off)
    check(spread > 0.02, "members too alike for a meaningful test (spread %.3g)" % spread)
    net, labels, dsp, name = export.emod_to_model(ens)
    check(name == "ens-test" and labels == list(model_lib.DEFAULT_LABELS),
          "emod_to_model of the ensemble: %r %r" % (name, labels))
    with torch.no_grad():
        t = torch.softmax(net(torch.from_numpy(frames)[None]), -1)[0].numpy()
    d_torch = np.abs(off_e - t).max()
    check(d_torch <= TP.TOL, "C offline ensemble vs torch EnsembleNet %.3g" % d_torch)

    rows = [posteriors("stream", p, fpath) for p in paths]
    rows_e = posteriors("stream", ens, fpath)
    check(len(rows_e) == n, "%d stream rows for %d frames" % (len(rows_e), n))
    worst, defined = 0.0, 0
    for t_ in range(min(n, len(rows_e))):
        flags = {rows_e[t_][0]} | {r_[t_][0] for r_ in rows}
        check(len(flags) == 1, "frame %d: ensemble and members disagree on readiness %r"
              % (t_, flags))
        if rows_e[t_][0] == "1":
            defined += 1
            mean = np.mean([np.array(r_[t_][1:], dtype=np.float64) for r_ in rows], 0)
            worst = max(worst, np.abs(np.array(rows_e[t_][1:], dtype=np.float64) - mean).max())
    check(defined > n // 2, "only %d defined frames" % defined)
    check(worst <= 1e-6, "C stream ensemble vs the mean of its members' streams %.3g" % worst)
    # Against torch on the published lane's frames, at the lane's output steps.
    W, tp, minf = net.config["window"], net.config["time_pool"], net.config["min_frames"]
    ref = TP.torch_probs_all(net, frames[:W])
    w_torch = max(np.abs(np.array(rows_e[t_][1:], dtype=np.float64) - ref[(t_ + 1) // tp - 1]).max()
                  for t_ in range(minf - 1, W))
    check(w_torch <= TP.TOL, "C stream ensemble vs torch %.3g" % w_torch)
    print("%s of %d: offline vs mean of members %.1e, vs torch %.1e; stream vs mean %.1e "
          "(%d frames), vs torch %.1e" % (tag, len(nets), d_mean, d_torch, worst, defined, w_torch))
    return [open(p, "rb").read() for p in paths], first


def claim_strings(path, key, count):
    """Rewrites the string count of key's string-array value (checksum recomputed)."""
    body = open(path, "rb").read()[:-32]
    head = struct.pack("<I", len(key)) + key.encode() + struct.pack("<I", 5)
    at = body.index(head) + len(head)
    body = body[:at] + struct.pack("<I", count) + body[at + 4:]
    with open(path, "wb") as f:
        f.write(body + hashlib.sha256(body).digest())


def test_rejections(tmp, blobs, first):
    good = blobs[:2]
    fixtures = os.path.join(TP.SRC, "tests", "fixtures")
    b64 = open(os.path.join(fixtures, "tiny-speaker-64.emod"), "rb").read()
    plain = open(os.path.join(fixtures, "tiny.emod"), "rb").read()
    six = emod_bytes(tmp, member(MEMBER_CFGS[0], 5, first, model_lib.DEFAULT_LABELS[:6]),
                     model_lib.DEFAULT_LABELS[:6])
    renamed = emod_bytes(tmp, member(MEMBER_CFGS[0], 5, first),
                         list(model_lib.DEFAULT_LABELS[:6]) + ["calm"])
    window = emod_bytes(tmp, member(MEMBER_CFGS[0], 5, first), kv_change={"arch.window": 200})
    own_prior = emod_bytes(tmp, member(MEMBER_CFGS[0], 5))
    pitched = emod_bytes(tmp, member(PITCH_CFGS[0], 5))
    nested = os.path.join(tmp, "nested.emod")
    export.write_ensemble(nested, good, "inner")
    flipped = bytearray(good[1])
    flipped[len(flipped) // 2] ^= 0x10
    cases = [
        ("one member", good[:1], {}, -4, "an ensemble of 1 members, expected 2..16"),
        ("17 members", good * 8 + good[:1], {}, -4, "an ensemble of 17 members, expected 2..16"),
        ("labels count", [good[0], six], {}, -6,
         "member 1 differs from member 0 in the number of labels"),
        ("label names", [good[0], renamed], {}, -6, "member 1 differs from member 0 in the labels"),
        ("features", [good[0], good[1], b64], {}, -6,
         "member 2 differs from member 0 in the feature"),
        ("window", [good[0], window], {}, -6, "in the window, minimum frames or time pool"),
        ("normalisation mode", [good[0], plain], {}, -6, "in the input normalisation mode"),
        ("speaker prior", [good[0], own_prior], {}, -6, "in the speaker normaliser"),
        ("pitch input", [good[0], pitched], {}, -6, "member 1 differs from member 0 in the pitch input"),
        ("nested", [good[0], open(nested, "rb").read()], {}, -5,
         "member 1: model format version 2, this build reads version 1 (an ensemble's member)"),
        ("member corrupt", [good[0], bytes(flipped)], {}, -4, "member 1: checksum mismatch"),
        ("member not a model", [good[0], b"\0" * 100], {}, -4,
         "member 1: not an emotiond model file"),
        ("unknown key", good, {"extra": [("arch.c1", 1, 4)]}, -4,
         "unknown key 'arch.c1' in the ensemble"),
        ("name twice", good, {"extra": [("general.name", 4, "x")]}, -4,
         "key 'general.name' appears twice"),
        ("name type", good, {"extra": [("general.name", 1, 3)]}, -4,
         "key 'general.name' has type 1, expected 4"),
        ("meta truncated", good, {"extra": [("meta.z", 5, ["x"])], "count": 0xFFFFFFFF}, -4,
         "truncated value of key 'meta.z'"),
    ]
    path = os.path.join(tmp, "rej.emod")
    for name, members, opt, code, needle in cases:
        export.write_ensemble(path, members, "rej", {}, opt.get("extra", ()))
        if opt.get("count"):
            claim_strings(path, "meta.z", opt["count"])
        r = run_tool("check", path)
        ok = (r.returncode == 1 and r.stdout.startswith("error %d:" % code) and needle in r.stdout
              and r.stdout.count("\n") == 1)
        check(ok, "%s: expected code %d with %r, got rc %d %r" % (name, code, needle, r.returncode,
                                                                  r.stdout))
    # Other meta.* keys, of every value type, are stepped over.
    export.write_ensemble(path, good, "meta-ok", {}, [("meta.a", 1, 3), ("meta.b", 2, 1.5),
                                                      ("meta.c", 3, 2.5), ("meta.d", 5, ["x", "y"])])
    r = run_tool("check", path)
    check(r.returncode == 0 and "meta-ok@sha256:" in r.stdout, "meta keys skipped: %r" % r.stdout)

    # Layout damage with the checksum recomputed: a member offset, data after the last member.
    export.write_ensemble(path, good, "rej")
    body = open(path, "rb").read()[:-32]
    data_off, data_size = struct.unpack_from("<QQ", body, 16)
    table = body.rindex(struct.pack("<QQ", 0, len(good[0])), 32, data_off)
    bad = bytearray(body)
    struct.pack_into("<Q", bad, table + 16, struct.unpack_from("<Q", body, table + 16)[0] + 32)
    layout = [("member offset", bytes(bad), "member 1: offset")]
    grown = bytearray(body) + b"\0" * 32
    struct.pack_into("<Q", grown, 24, data_size + 32)
    layout.append(("data after the last member", bytes(grown),
                   "32 bytes of data after the last member"))
    for name, b, needle in layout:
        with open(path, "wb") as f:
            f.write(b + hashlib.sha256(b).digest())
        r = run_tool("check", path)
        check(r.returncode == 1 and "error -4:" in r.stdout and needle in r.stdout,
              "%s: %r" % (name, r.stdout))
    # The whole file's checksum and length.
    whole = open(nested, "rb").read()
    for name, b, needle in (("truncated", whole[:-100], "truncated"),
                            ("bit flip", whole[:500] + bytes([whole[500] ^ 1]) + whole[501:],
                             "checksum mismatch")):
        with open(path, "wb") as f:
            f.write(b)
        r = run_tool("check", path)
        check(r.returncode == 1 and needle in r.stdout, "%s: %r" % (name, r.stdout))

    # Random damage to the container's header and member table, checksum recomputed.
    seen = TP.mutate_headers(nested, path, 120, 7, 3)
    print("ensemble rejections: %d crafted files, 120 damaged headers %s"
          % (len(cases) + len(layout) + 2, seen))

    # The builder refuses what it cannot make.
    one = os.path.join(tmp, "one.emod")
    with open(one, "wb") as f:
        f.write(good[0])
    for args, needle in (([nested, one], "is itself an ensemble"),
                         ([one], "1 members, an ensemble has 2..16")):
        r = subprocess.run([sys.executable, ENSEMBLE_PY, "build", os.path.join(tmp, "x.emod")] + args,
                           capture_output=True, text=True)
        check(r.returncode == 1 and needle in r.stderr and r.stderr.count("\n") == 1,
              "ensemble.py build %s: %r" % (needle, r.stderr))


def main():
    if not os.access(TP.NN_TOOL, os.X_OK):
        print("nn-tool not found at %s" % TP.NN_TOOL)
        return 1
    torch.set_num_threads(1)
    with tempfile.TemporaryDirectory() as tmp:
        blobs, first = test_parity(tmp)
        test_parity(tmp, PITCH_CFGS, "pitch ensemble")
        test_rejections(tmp, blobs, first)
    if TP.failures:
        print("%d failure(s)" % len(TP.failures))
        return 1
    print("test_ensemble: all passed")
    return 0


if __name__ == "__main__":
    sys.exit(main())

#!/usr/bin/python3
"""Converts an emotiond checkpoint (model.py's save_checkpoint) to the .emod file nn/ loads.

    export.py CHECKPOINT.pt OUT.emod [--golden OUT.npz] [--golden-frames N] [--seed S]

The .emod format (version 1, little-endian; nn/nn_model.c is the reader and mirrors this file):

    offset  size  field
    0       4     magic "EMOD"
    4       4     u32 format version (1)
    8       4     u32 n_kv        number of key/value entries
    12      4     u32 n_tensors   number of tensor entries
    16      8     u64 data_offset absolute offset of the tensor data (multiple of 32)
    24      8     u64 data_size   bytes of tensor data
    32      ...   n_kv entries:      key (u32 len + UTF-8), u32 type, value
                  n_tensors entries: name (u32 len + UTF-8), u32 dtype (0 = f32), u32 rank (1..4),
                                     u32 dims[rank] (outermost first), u64 offset (from data_offset,
                                     multiple of 32)
                  zero padding up to data_offset
    data_offset   data_size bytes of tensor data (row-major f32), each tensor 32-byte aligned
    end - 32      32    SHA-256 of every byte before it (checksum; its first 16 hex digits are the
                        model id: "<general.name>@sha256:<16 hex>")

    Value types: 1 = i32, 2 = f32, 3 = f64, 4 = string (u32 len + UTF-8),
                 5 = string array (u32 count, then count strings).

Keys (all required except meta.*, arch.freq_stride, arch.time_pool, dsp.denoise_db, spk.* and
arch.prosody / arch.pitch_input; unknown keys outside meta.* are rejected by the loader):
    general.name STR, labels STR_ARRAY,
    dsp.sample_rate, dsp.win_length, dsp.hop_length, dsp.n_fft, dsp.n_mels, dsp.mel_scale I32,
    dsp.f_min, dsp.f_max, dsp.log_floor F32,
    arch.n_mels, arch.window, arch.min_frames, arch.c1, arch.c2, arch.c3, arch.lstm_hidden
    (0 = CNN-only), arch.lstm_layers, arch.dense I32,
    arch.freq_stride I32 (1 or 2; written only when not 2, absent = 2, so files of the default
    architecture are byte-identical to those written before the key existed),
    arch.time_pool I32 (2 or 4 frames per LSTM step; written only when not 2, absent = 2),
    dsp.denoise_db I32 (-90..-1: speexdsp noise suppression before the log-mel; written only
    when not 0, absent = 0 = off),
    arch.cmvn STR ("cumulative"|"none"|"speaker"|"speaker-mean"),
    arch.cmvn_eps F64, arch.readout STR ("attention"|"mean"), meta.json STR (checkpoint "meta"),
    spk.level_floor F64 (c in (0, 10]) and spk.prior_level F64 (nats): both or neither, only with
    cmvn speaker(-mean) and level_floor > 0 (absent: no floor; nn_speaker's level floor),
    arch.prosody I32 (2: each input frame has dsp_pitch's ln F0 and periodicity after the bands)
    and arch.pitch_input STR ("raw" | "suppressed": the tracker's flags, DSP_PITCH_SUPPRESSED):
    both or neither, written only for a model that reads pitch (absent: the bands alone; not
    with cmvn cumulative or a level floor).

Tensors (batch norm folded into the conv weights and biases):
    norm.mean [M'], norm.std [M']                    global z-score after cmvn; M' = M + prosody
    spk.prior_mean [M'], spk.prior_var [M']          if cmvn = speaker(-mean): nn_speaker's starting
                                                     estimate (the training speakers' average)
    conv1.weight [c1,1,3,3]   conv1.bias [c1]         dims (out, in, time, freq) as in torch
    conv2.weight [c2,c1,3,3]  conv2.bias [c2]
    conv3.weight [c3,c2,3,3]  conv3.bias [c3]
    lstm.l<k>.w_ih [4H, in], lstm.l<k>.w_hh [4H, H], lstm.l<k>.bias [4H]   (b_ih + b_hh; gates
                                                     i, f, g, o), k = 0..lstm_layers-1, if lstm;
                                                     in = c3 * F3 + prosody for k = 0
    att.weight [S]                                   if readout = attention
    fc1.weight [D, S], fc1.bias [D], fc2.weight [K, D], fc2.bias [K]

Ensembles (format version 2; nn/nn_ensemble.c reads it): several version-1 files whose
posteriors the runtime averages, written by write_ensemble (tools/train/ensemble.py build):

    0       32    the version-1 header with version 2 and n_tensors = n_members (2..16)
    32      ...   n_kv entries: general.name STR (required), meta.json STR, other meta.* keys
                  n_members entries: u64 offset (from data_offset), u64 size
                  zero padding up to data_offset
    data_offset   the members, each a complete version-1 file, at 32-byte aligned offsets in
                  order, only alignment padding between them and none after the last
    end - 32      32    SHA-256 of every byte before it (the ensemble's id)

The members must share labels, feature parameters, window, min_frames, time pool, the pitch
input and the speaker normaliser (mode, eps, prior, level floor) bit for bit; their networks may
differ.

--golden OUT.npz writes reference data for the C side: "frames" [N, M'] (float32 log-mel-like
inputs, or --frames FILE.npy), "probs_all" [N//2, K] (softmax of forward_all: posteriors after
frames 0..2j+1), "probs" [K] (after all frames).
"""

import argparse
import hashlib
import json
import os
import struct
import sys

import numpy as np
import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import model as model_lib  # noqa: E402

MAGIC = b"EMOD"
FORMAT_VERSION = 1
ENSEMBLE_VERSION = 2
MAX_MEMBERS = 16
ALIGN = 32
T_I32, T_F32, T_F64, T_STR, T_STRARR = 1, 2, 3, 4, 5
DT_F32 = 0


def _str(s):
    b = s.encode("utf-8")
    return struct.pack("<I", len(b)) + b


def _kv_bytes(key, typ, value):
    out = _str(key) + struct.pack("<I", typ)
    if typ == T_I32:
        out += struct.pack("<i", int(value))
    elif typ == T_F32:
        out += struct.pack("<f", float(value))
    elif typ == T_F64:
        out += struct.pack("<d", float(value))
    elif typ == T_STR:
        out += _str(value)
    elif typ == T_STRARR:
        out += struct.pack("<I", len(value)) + b"".join(_str(v) for v in value)
    else:
        raise ValueError("bad kv type %r" % typ)
    return out


def write_emod(path, kvs, tensors, version=FORMAT_VERSION, magic=MAGIC):
    """Low-level writer. kvs: list of (key, type, value); tensors: list of (name, ndarray).
    Also used by the tests to craft malformed files."""
    kv_blob = b"".join(_kv_bytes(k, t, v) for k, t, v in kvs)
    data = bytearray()
    infos = []
    for name, arr in tensors:
        a = np.ascontiguousarray(np.asarray(arr, dtype="<f4"))
        pad = (-len(data)) % ALIGN
        data += b"\0" * pad
        infos.append(_str(name) + struct.pack("<II", DT_F32, a.ndim)
                     + struct.pack("<%dI" % a.ndim, *a.shape) + struct.pack("<Q", len(data)))
        data += a.tobytes()
    info_blob = b"".join(infos)
    head_len = 32 + len(kv_blob) + len(info_blob)
    data_offset = head_len + ((-head_len) % ALIGN)
    header = magic + struct.pack("<IIIQQ", version, len(kvs), len(tensors), data_offset, len(data))
    body = header + kv_blob + info_blob + b"\0" * (data_offset - head_len) + bytes(data)
    return _write_checksummed(path, body)


def _write_checksummed(path, body):
    digest = hashlib.sha256(body).digest()
    tmp = path + ".tmp"
    with open(tmp, "wb") as f:
        f.write(body + digest)
    os.replace(tmp, path)
    return "%s" % digest.hex()


def write_ensemble(path, members, name, meta=None, extra_kvs=()):
    """An ensemble file of members (the bytes of version-1 .emod files, 2..16 of them); returns
    the hex SHA-256. Compatibility of the members is the loader's to check (so that the tests
    can write incompatible ones)."""
    members = [bytes(b) for b in members]
    meta_json = json.dumps(meta or {}, sort_keys=True, default=str)
    kvs = [("general.name", T_STR, name), ("meta.json", T_STR, meta_json)] + list(extra_kvs)
    kv_blob = b"".join(_kv_bytes(k, t, v) for k, t, v in kvs)
    data, table = bytearray(), b""
    for b in members:
        data += b"\0" * ((-len(data)) % ALIGN)
        table += struct.pack("<QQ", len(data), len(b))
        data += b
    head_len = 32 + len(kv_blob) + len(table)
    data_offset = head_len + ((-head_len) % ALIGN)
    header = MAGIC + struct.pack("<IIIQQ", ENSEMBLE_VERSION, len(kvs), len(members), data_offset,
                                 len(data))
    return _write_checksummed(path, header + kv_blob + table + b"\0" * (data_offset - head_len)
                              + bytes(data))


def ensemble_members(b, path="model"):
    """(member files' bytes, the ensemble's keys) of an ensemble file's bytes b (checksum
    verified), or ([b], None) for a version-1 file."""
    if len(b) < 64 or b[:4] != MAGIC:
        raise ValueError("%s: not an emotiond model file" % path)
    version, n_kv, n_m, data_offset, data_size = struct.unpack_from("<IIIQQ", b, 4)
    if version == FORMAT_VERSION:
        return [b], None
    if version != ENSEMBLE_VERSION:
        raise ValueError("%s: format version %d, this reads 1 and 2" % (path, version))
    if data_offset + data_size + 32 != len(b) or hashlib.sha256(b[:-32]).digest() != b[-32:]:
        raise ValueError("%s: truncated or corrupt (size or checksum mismatch)" % path)
    kv, pos = _read_kvs(b, 32, n_kv, path)
    out = []
    for j in range(n_m):
        off, size = struct.unpack_from("<QQ", b, pos + 16 * j)
        out.append(b[data_offset + off:data_offset + off + size])
    return out, kv


class EnsembleNet(torch.nn.Module):
    """What nn/ computes for an ensemble file: the mean of the members' posteriors. forward and
    forward_all return its log, so softmax(output) is that mean, as for one EmotionNet."""

    def __init__(self, members):
        super().__init__()
        self.members = torch.nn.ModuleList(members)
        self.config = members[0].config

    def _mean(self, outs):
        return torch.log(torch.stack([torch.softmax(o, -1) for o in outs]).mean(0))

    def forward(self, x, *a, **k):
        return self._mean([m(x, *a, **k) for m in self.members])

    def forward_all(self, x, *a, **k):
        return self._mean([m.forward_all(x, *a, **k) for m in self.members])


def _fold_bn(sd, conv, bn):
    w = sd[conv + ".weight"].double()
    b = sd[conv + ".bias"].double()
    gamma, beta = sd[bn + ".weight"].double(), sd[bn + ".bias"].double()
    mean, var = sd[bn + ".running_mean"].double(), sd[bn + ".running_var"].double()
    scale = gamma / torch.sqrt(var + 1e-5)  # nn.BatchNorm2d default eps
    return (w * scale.view(-1, 1, 1, 1)).float().numpy(), ((b - mean) * scale + beta).float().numpy()


def emod_contents(model, labels, dsp_params, name, meta):
    """The (kvs, tensors) lists write_emod takes for model (an EmotionNet)."""
    cfg = model.config
    if cfg["bidirectional"]:
        raise ValueError("this model is the offline bidirectional variant (bidirectional=True): "
                         "it cannot run as a stream, so it has no .emod export; train the "
                         "unidirectional model (bidirectional=False) for the runtime")
    for bn in (model.bn1, model.bn2, model.bn3):
        if abs(bn.eps - 1e-5) > 1e-12:
            raise ValueError("batch norm eps %g, exporter folds with 1e-5" % bn.eps)
    dp = dict(model_lib.DEFAULT_DSP_PARAMS)
    dp.update(dsp_params or {})
    missing = (set(model_lib.DEFAULT_DSP_PARAMS) - set(model_lib.OPTIONAL_DSP_PARAMS)
               - set(dsp_params or {}))
    if dsp_params is not None and missing:
        raise ValueError("dsp_params lacks %s" % ", ".join(sorted(missing)))
    if int(dp["n_mels"]) != cfg["n_mels"]:
        raise ValueError("dsp_params n_mels=%d but the model's input has %d bands"
                         % (dp["n_mels"], cfg["n_mels"]))
    labels = list(labels)
    if len(labels) != cfg["n_labels"]:
        raise ValueError("%d labels for n_labels=%d" % (len(labels), cfg["n_labels"]))

    kvs = [
        ("general.name", T_STR, name),
        ("labels", T_STRARR, labels),
        ("dsp.sample_rate", T_I32, dp["sample_rate"]),
        ("dsp.win_length", T_I32, dp["win_length"]),
        ("dsp.hop_length", T_I32, dp["hop_length"]),
        ("dsp.n_fft", T_I32, dp["n_fft"]),
        ("dsp.n_mels", T_I32, dp["n_mels"]),
        ("dsp.f_min", T_F32, dp["f_min"]),
        ("dsp.f_max", T_F32, dp["f_max"]),
        ("dsp.mel_scale", T_I32, dp["mel_scale"]),
        ("dsp.log_floor", T_F32, dp["log_floor"]),
        ("arch.n_mels", T_I32, cfg["n_mels"]),
        ("arch.window", T_I32, cfg["window"]),
        ("arch.min_frames", T_I32, cfg["min_frames"]),
        ("arch.cmvn", T_STR, cfg["cmvn"]),
        ("arch.cmvn_eps", T_F64, cfg["cmvn_eps"]),
        ("arch.c1", T_I32, cfg["c1"]),
        ("arch.c2", T_I32, cfg["c2"]),
        ("arch.c3", T_I32, cfg["c3"]),
        ("arch.lstm_hidden", T_I32, cfg["lstm_hidden"] if cfg["lstm"] else 0),
        ("arch.lstm_layers", T_I32, cfg["lstm_layers"] if cfg["lstm"] else 0),
        ("arch.readout", T_STR, cfg["readout"]),
        ("arch.dense", T_I32, cfg["dense"]),
        ("meta.json", T_STR, json.dumps(meta or {}, sort_keys=True, default=str)),
    ]
    if cfg["freq_stride"] != 2:
        kvs.insert(-1, ("arch.freq_stride", T_I32, cfg["freq_stride"]))
    if cfg["time_pool"] != 2:
        kvs.insert(-1, ("arch.time_pool", T_I32, cfg["time_pool"]))
    if dp["denoise_db"]:
        kvs.insert(-1, ("dsp.denoise_db", T_I32, int(dp["denoise_db"])))
    if cfg["prosody"]:
        if cfg["pitch_input"] == "suppressed" and not dp["denoise_db"]:
            raise ValueError("the model's pitch input is the noise suppressor's output, but its "
                             "front end has no suppressor (denoise_db 0)")
        kvs.insert(-1, ("arch.prosody", T_I32, cfg["prosody"]))
        kvs.insert(-1, ("arch.pitch_input", T_STR, cfg["pitch_input"]))
    sd = {k: v.detach().cpu() for k, v in model.state_dict().items()}
    t = [("norm.mean", sd["norm_mean"].numpy()), ("norm.std", sd["norm_std"].numpy())]
    if cfg["cmvn"] in model_lib.SPEAKER_CMVN:
        t += [("spk.prior_mean", sd["spk_prior_mean"].numpy()),
              ("spk.prior_var", sd["spk_prior_var"].numpy())]
    if cfg["level_floor"]:
        kvs.insert(-1, ("spk.level_floor", T_F64, float(cfg["level_floor"])))
        kvs.insert(-1, ("spk.prior_level", T_F64, float(sd["spk_prior_level"][0])))
    for i in (1, 2, 3):
        w, b = _fold_bn(sd, "conv%d" % i, "bn%d" % i)
        t += [("conv%d.weight" % i, w), ("conv%d.bias" % i, b)]
    if cfg["lstm"]:
        for k in range(cfg["lstm_layers"]):
            t += [("lstm.l%d.w_ih" % k, sd["rnn.weight_ih_l%d" % k].numpy()),
                  ("lstm.l%d.w_hh" % k, sd["rnn.weight_hh_l%d" % k].numpy()),
                  ("lstm.l%d.bias" % k, (sd["rnn.bias_ih_l%d" % k] + sd["rnn.bias_hh_l%d" % k]).numpy())]
    if model.use_attention:
        t.append(("att.weight", sd["att.weight"].reshape(-1).numpy()))
    t += [("fc1.weight", sd["fc1.weight"].numpy()), ("fc1.bias", sd["fc1.bias"].numpy()),
          ("fc2.weight", sd["fc2.weight"].numpy()), ("fc2.bias", sd["fc2.bias"].numpy())]
    for n, a in t:
        if not np.all(np.isfinite(a)):
            raise ValueError("tensor %s has non-finite values" % n)
    return kvs, t


def model_to_emod(model, labels, dsp_params, name, meta, path):
    """Writes model (an EmotionNet) to path; returns the hex SHA-256."""
    kvs, tensors = emod_contents(model, labels, dsp_params, name, meta)
    return write_emod(path, kvs, tensors)


def _rstr(b, pos):
    (n,) = struct.unpack_from("<I", b, pos)
    return b[pos + 4:pos + 4 + n].decode("utf-8"), pos + 4 + n


def _read_kvs(b, pos, n_kv, path):
    """n_kv key/value entries from pos: (dict, position after them)."""
    kv = {}
    for _ in range(n_kv):
        k, pos = _rstr(b, pos)
        (t,) = struct.unpack_from("<I", b, pos)
        pos += 4
        if t in (T_I32, T_F32):
            kv[k] = struct.unpack_from("<i" if t == T_I32 else "<f", b, pos)[0]
            pos += 4
        elif t == T_F64:
            kv[k] = struct.unpack_from("<d", b, pos)[0]
            pos += 8
        elif t == T_STR:
            kv[k], pos = _rstr(b, pos)
        elif t == T_STRARR:
            (n,) = struct.unpack_from("<I", b, pos)
            pos += 4
            kv[k] = []
            for _ in range(n):
                v, pos = _rstr(b, pos)
                kv[k].append(v)
        else:
            raise ValueError("%s: key %s has unknown type %d" % (path, k, t))
    return kv, pos


def _read_v1_header(path, b):
    """(kv dict, number of tensors, data offset, position after the keys) of a version-1 file's
    bytes b, checksum verified."""
    if len(b) < 64 or b[:4] != MAGIC:
        raise ValueError("%s: not an emotiond model file" % path)
    version, n_kv, n_t, data_offset, data_size = struct.unpack_from("<IIIQQ", b, 4)
    if version != FORMAT_VERSION:
        raise ValueError("%s: format version %d, this reads %d" % (path, version, FORMAT_VERSION))
    if data_offset + data_size + 32 != len(b) or hashlib.sha256(b[:-32]).digest() != b[-32:]:
        raise ValueError("%s: truncated or corrupt (size or checksum mismatch)" % path)
    kv, pos = _read_kvs(b, 32, n_kv, path)
    return kv, n_t, data_offset, pos


def read_emod_keys(path, b=None):
    """The key/value dict of a version-1 .emod file (checksum verified), without its tensors."""
    if b is None:
        b = open(path, "rb").read()
    return _read_v1_header(path, b)[0]


def read_emod(path, b=None):
    """Parses a version-1 .emod file (checksum verified; b: its bytes, else read from path):
    returns (kv dict, {name: float32 ndarray})."""
    if b is None:
        b = open(path, "rb").read()
    kv, n_t, data_offset, pos = _read_v1_header(path, b)
    tensors = {}
    for _ in range(n_t):
        name, pos = _rstr(b, pos)
        dtype, rank = struct.unpack_from("<II", b, pos)
        dims = struct.unpack_from("<%dI" % rank, b, pos + 8)
        (off,) = struct.unpack_from("<Q", b, pos + 8 + 4 * rank)
        pos += 16 + 4 * rank
        cnt = int(np.prod(dims))
        tensors[name] = np.frombuffer(b, "<f4", cnt, data_offset + off).reshape(dims).copy()
    return kv, tensors


def emod_to_model(path):
    """The inverse of model_to_emod: an EmotionNet (eval mode) computing what the file computes
    (batch norm stays folded: the BN layers are set to identity), or for an ensemble file an
    EnsembleNet of its members. Returns (model, labels, dsp_params, name). Lets the benchmarks
    and tests run a shipped .emod in PyTorch."""
    b = open(path, "rb").read()
    members, kv = ensemble_members(b, path)
    if kv is None:
        return _member_to_model(path, b)
    nets = [_member_to_model("%s member %d" % (path, j), mb)[0] for j, mb in enumerate(members)]
    _, labels, dsp, _ = _member_to_model(path, members[0])
    return EnsembleNet(nets).eval(), labels, dsp, kv["general.name"]


def _member_to_model(path, b):
    kv, t = read_emod(path, b)
    hidden = kv["arch.lstm_hidden"]
    cfg = {"n_mels": kv["arch.n_mels"], "n_labels": len(kv["labels"]), "cmvn": kv["arch.cmvn"],
           "cmvn_eps": kv["arch.cmvn_eps"], "c1": kv["arch.c1"], "c2": kv["arch.c2"],
           "c3": kv["arch.c3"], "lstm": hidden > 0, "lstm_hidden": hidden or 1,
           "lstm_layers": kv["arch.lstm_layers"] or 1, "readout": kv["arch.readout"],
           "dense": kv["arch.dense"], "window": kv["arch.window"], "min_frames": kv["arch.min_frames"],
           "freq_stride": kv.get("arch.freq_stride", 2), "time_pool": kv.get("arch.time_pool", 2),
           "level_floor": kv.get("spk.level_floor", 0.0), "prosody": kv.get("arch.prosody", 0),
           "pitch_input": kv.get("arch.pitch_input", "raw")}
    m = model_lib.EmotionNet(cfg)
    sd = m.state_dict()
    f = lambda a: torch.from_numpy(np.asarray(a, dtype=np.float32))  # noqa: E731
    sd["norm_mean"], sd["norm_std"] = f(t["norm.mean"]), f(t["norm.std"])
    if cfg["cmvn"] in model_lib.SPEAKER_CMVN:
        sd["spk_prior_mean"], sd["spk_prior_var"] = f(t["spk.prior_mean"]), f(t["spk.prior_var"])
    if cfg["level_floor"]:
        sd["spk_prior_level"] = torch.tensor([kv["spk.prior_level"]], dtype=torch.float64)
    for i in (1, 2, 3):
        sd["conv%d.weight" % i], sd["conv%d.bias" % i] = f(t["conv%d.weight" % i]), f(t["conv%d.bias" % i])
        c = t["conv%d.bias" % i].shape[0]
        sd["bn%d.weight" % i], sd["bn%d.bias" % i] = torch.ones(c), torch.zeros(c)
        sd["bn%d.running_mean" % i] = torch.zeros(c)
        sd["bn%d.running_var" % i] = torch.full((c,), 1.0 - 1e-5)
    for k in range(kv["arch.lstm_layers"] if hidden else 0):
        sd["rnn.weight_ih_l%d" % k] = f(t["lstm.l%d.w_ih" % k])
        sd["rnn.weight_hh_l%d" % k] = f(t["lstm.l%d.w_hh" % k])
        sd["rnn.bias_ih_l%d" % k] = f(t["lstm.l%d.bias" % k])
        sd["rnn.bias_hh_l%d" % k] = torch.zeros(4 * hidden)
    if "att.weight" in t:
        sd["att.weight"] = f(t["att.weight"]).reshape(1, -1)
    for n in ("fc1.weight", "fc1.bias", "fc2.weight", "fc2.bias"):
        sd[n] = f(t[n])
    m.load_state_dict(sd)
    m.eval()
    dsp = {k[4:]: v for k, v in kv.items() if k.startswith("dsp.")}
    return m, kv["labels"], dsp, kv["general.name"]


def synthetic_frames(n, n_mels, seed=0, prosody=0):
    """Log-mel-like test input: a slowly varying spectral envelope plus noise, with a level offset
    (natural-log units, roughly the range dsp/ produces for speech); with prosody (2), then
    pitch-tracker-like columns: a wandering ln F0 around ln 150 Hz and a periodicity in 0..1."""
    rng = np.random.default_rng(seed)
    env = np.cumsum(rng.normal(0, 0.3, size=(n, n_mels)), axis=0) * 0.2
    base = np.linspace(-2, -9, n_mels)[None, :]
    x = (base + env + rng.normal(0, 1.0, size=(n, n_mels)) - 3.0).astype(np.float32)
    if not prosody:
        return x
    lnf0 = np.log(150.0) + np.cumsum(rng.normal(0, 0.02, size=n))
    periodicity = np.clip(0.5 + 0.5 * np.sin(np.arange(n) / 7.0) + rng.normal(0, 0.1, size=n), 0, 1)
    return np.concatenate([x, np.stack([lnf0, periodicity], 1).astype(np.float32)], 1)


def golden(model, frames, path):
    with torch.no_grad():
        x = torch.from_numpy(np.asarray(frames, dtype=np.float32))[None]
        probs_all = torch.softmax(model.forward_all(x), dim=-1)[0].numpy()
        probs = torch.softmax(model(x), dim=-1)[0].numpy()
    np.savez(path, frames=np.asarray(frames, dtype=np.float32), probs_all=probs_all, probs=probs)


def main(argv=None):
    ap = argparse.ArgumentParser(description="Export an emotiond checkpoint to .emod")
    ap.add_argument("checkpoint")
    ap.add_argument("out")
    ap.add_argument("--golden", help="also write reference inputs/outputs (.npz) for the C side")
    ap.add_argument("--frames", help="golden input frames (.npy [N, n_mels (+ 2 pitch columns for "
                    "a model that reads pitch)]); default synthetic")
    ap.add_argument("--golden-frames", type=int, default=300, help="synthetic golden length")
    ap.add_argument("--seed", type=int, default=0)
    a = ap.parse_args(argv)
    try:
        model, ckpt = model_lib.load_checkpoint(a.checkpoint)
        digest = model_to_emod(model, ckpt["labels"], ckpt["dsp_params"], ckpt.get("name", "emotiond"),
                               ckpt.get("meta"), a.out)
    except (ValueError, KeyError, OSError) as e:
        print("export.py: %s" % e, file=sys.stderr)
        return 1
    print("%s: %s@sha256:%s, %d bytes" % (a.out, ckpt.get("name", "emotiond"), digest[:16],
                                          os.path.getsize(a.out)))
    if a.golden:
        frames = (np.load(a.frames) if a.frames
                  else synthetic_frames(a.golden_frames, model.config["n_mels"], a.seed,
                                        model.config["prosody"]))
        golden(model, frames, a.golden)
        print("%s: %d frames of reference posteriors" % (a.golden, len(frames)))
    return 0


if __name__ == "__main__":
    sys.exit(main())

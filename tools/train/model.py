"""emotiond's streaming CNN-LSTM emotion model (PyTorch side).

This module is the single definition of the network. The C runtime (nn/) computes exactly what
EmotionNet.forward computes on the same frames (parity <= 1e-4, tested), so anything changed here
must be changed in nn/ too, and the export format (export.py) bumped.

Input
-----
x: float32 tensor [B, T, n_mels] of log-mel frames, exactly what dsp/ (`emotion features`)
produces for the model's dsp_params (16 kHz, 25 ms Hamming, 10 ms hop, FFT 512, 128 Slaney mels,
natural log with floor 1e-10). T >= 2. Frame 0 is the first frame after a (lane) reset: the model
always sees a stream from its start.

Layers (what the streaming runner does per 10 ms hop)
-----------------------------------------------------
0. Input normalisation.
   cmvn="cumulative": per band, cumulative mean and variance since frame 0, in float64:
       n = t+1, mu = S1/n, var = max(S2/n - mu^2, 0), y_t = (x_t - mu) / sqrt(var + cmvn_eps)
   with S1, S2 the running sums of x and x^2 over frames 0..t (so y_0 == 0). A gain change is an
   additive constant in log-mel, so this removes the input level (RAVDESS is ~22 dB quieter than
   EMO-DB) and adapts to the speaker online. cmvn="none": y = x.
   cmvn="speaker": y = x here: the frames arrive already normalised by the stream-level speaker
   normaliser, which lives OUTSIDE the lanes and the network (C: nn_speaker; training:
   features.SpeakerNormStore): y = (x - mu_spk) / sqrt(var_spk + cmvn_eps) with the running
   mean/var of the speech frames heard from this voice, starting from the buffers spk_prior_mean /
   spk_prior_var (the training speakers' average; exported as spk.prior_mean / spk.prior_var).
   Unlike "cumulative" it keeps the level and spectral tilt of an utterance relative to its
   speaker (arousal cues) and removes only the speaker's and the channel's own.
   cmvn="speaker-mean": the same with the mean only, y = x - mu_spk (no variance scaling, so
   bands that noise has made flat are not blown up to unit variance).
   Then always a global z-score: z = (y - norm_mean) / norm_std (buffers, per band, computed on
   the training set AFTER cmvn: see normalisation_stats()).
1. Conv block 1: Conv2d(1 -> c1, kernel (3 time, 3 freq), stride (1, freq_stride = 2 or 1)), zero padding 2 frames on
   the left in time (causal), 1 bin each side in freq; BatchNorm2d; ReLU; MaxPool (2 time, 2 freq)
   over frame pairs (2j, 2j+1): pooled step j exists once frame 2j+1 has arrived. Everything after
   this runs at 50 Hz. A trailing unpaired frame (odd T) is ignored: posteriors update on every
   2nd frame, and the streaming runner repeats the last posteriors on the frames in between.
2. Conv blocks 2, 3: Conv2d (3 time x 3 freq, stride 1, causal: 2 zero steps on the left in time,
   freq pad 1), BatchNorm2d, ReLU, MaxPool (1 time, 2 freq). Dropout after each block (training).
   time_pool=4: block 2 pools (2 time, 2 freq) over 50 Hz step pairs (2j, 2j+1), so block 3, the
   LSTM and the readout run at 25 Hz (step j exists once frame 4j+3 has arrived; trailing frames
   of an unfinished step are ignored) at about half the training cost.
   Frequency bins: n_mels=128 -> 64 (stride) -> 32 (pool) -> 32 -> 16 -> 16 -> 8; with
   freq_stride=1: 128 -> 64 -> 32 -> 16 (twice the frequency resolution, ~2.4x the training step).
   Max pooling in frequency floors an odd bin count (drops the last bin), as torch does.
3. Flatten per step: feature index = channel * F3 + freq (F3 = bins after block 3; 8 by default),
   i.e. [B, T2, c3 * F3] = 256 by default.
4. Unidirectional LSTM (lstm_layers layers, lstm_hidden units), state carried step to step from
   zeros at frame 0. PyTorch gate order i, f, g, o.
5. Readout over all steps so far (O(1) per step when run as a stream):
   readout="attention": s_t = w . h_t (no bias: softmax is shift invariant), pooled_T =
       sum_t softmax(s)_t h_t (the C runner keeps a running max, a running sum of exp(s - max)
       and a running weighted sum of h, rescaled when the max grows: the online softmax).
   readout="mean": pooled_T = mean_t h_t.
6. Dense(dense) + ReLU (+ dropout) -> Dense(n_labels) -> logits (softmax in C gives posteriors).

Variants (for baselines; config flags):
- bidirectional=True: offline BiLSTM (seed 000 style), readout forced to "mean" over the whole
  sequence. Not causal: export.py refuses it with a clear message.
- lstm=False: CNN-only; readout (attention or mean) directly over the per-step conv features.
  Causal, so exportable.

Streaming scheme (bounded context, DESIGN.md section 3): the C runner keeps two lanes, each a full
copy of this network's state, staggered by s frames (s = the first multiple of time_pool from
window/2 on, so that both lanes' steps fall on the same frames and run as one batch), each reset
every `window` frames.
Posteriors come from the older lane. So the model only ever sees 1..window frames from a reset,
as in training on crops of <= window frames. min_frames: the stream reports posteriors only once
the older lane has seen that many frames.

Config keys (EmotionNet(config) / checkpoint["config"]; defaults in DEFAULT_CONFIG)
---------------------------------------------------------------------------------
  n_mels        int   input bands; must equal dsp_params["n_mels"]                    (128)
  n_labels      int   classes K (set from the label list by make_model)               (7)
  cmvn          str   "cumulative" | "none" | "speaker" | "speaker-mean"              ("cumulative")
  cmvn_eps      float variance floor added before sqrt                                (1e-3)
  level_floor   float cmvn "speaker" only: c > 0 adds c x exp(speaker level) to every band's
                      mel power before the normaliser (features.apply_floor); 0 = off     (0.0)
  c1, c2, c3    int   conv channels of blocks 1, 2, 3                                 (16, 32, 32)
  lstm          bool  False: CNN-only variant                                         (True)
  lstm_hidden   int   LSTM units                                                      (128)
  lstm_layers   int   stacked LSTM layers                                             (1)
  bidirectional bool  offline BiLSTM variant (not exportable)                         (False)
  readout       str   "attention" | "mean"                                            ("attention")
  dense         int   hidden dense units                                              (64)
  dropout       float dropout after conv blocks, between LSTM layers, after dense    (0.3)
  freq_stride   int   conv 1's stride in frequency, 2 or 1                           (2)
  time_pool     int   frames per LSTM step, 2 (50 Hz) or 4 (25 Hz)                    (2)
  window        int   frames per streaming lane before reset (multiple of time_pool, >= 4) (300)
  min_frames    int   frames the older lane needs before posteriors are reported,
                      time_pool..window/2                                             (50)
  prosody       int   0, or 2: the input has the pitch tracker's columns (ln F0, periodicity;
                      features.FeatureStore pitch=True) after the n_mels bands; normalised
                      with the bands, they skip the convolutions, are averaged over each
                      LSTM step's time_pool frames and join its input (C: nn_model_pitch).
                      Not with cmvn "cumulative" or a level floor                         (0)
  pitch_input   str   with prosody: the tracker the columns come from, "raw" (the model-rate
                      samples) | "suppressed" (the noise suppressor's output, dsp_params
                      denoise_db). The network does not read it; the exporter writes it
                      (arch.pitch_input) so the runtime feeds the same tracker. train.py sets
                      it from the run key pitch_input                                  ("raw")

Checkpoint (save_checkpoint / load_checkpoint; what export.py reads), a dict saved by torch.save:
  "format": "emotiond-checkpoint", "version": 1,
  "name": model name (str, e.g. "emotiond-default"),
  "config": dict as above (complete, n_labels included),
  "labels": list of label names (str), len == n_labels,
  "dsp_params": dict with every dsp_params field (DEFAULT_DSP_PARAMS keys; mel_scale 0=slaney, 1=htk),
  "state_dict": EmotionNet.state_dict() (includes the norm_mean / norm_std buffers),
  "meta": free-form dict (training run, figures...), optional.
"""

import copy

import torch
import torch.nn as nn
import torch.nn.functional as F

# Conv weights and activations are channels-last (NHWC): the same numbers as NCHW, about 20 % less
# CPU per training step, mostly in block 1's pooling and convolutions (tools/bench/train-bench.py
# measures both).
CONV_MEMORY_FORMAT = torch.channels_last

DEFAULT_LABELS = ["neutral", "happy", "sad", "angry", "fearful", "disgust", "surprised"]

# Mirrors dsp_params_default() in dsp/ (dsp/dsp.h). mel_scale: 0 = Slaney, 1 = HTK; denoise_db:
# 0 = off, else speexdsp's noise suppression in dB (the features must have been made with it).
DEFAULT_DSP_PARAMS = {
    "sample_rate": 16000,
    "win_length": 400,
    "hop_length": 160,
    "n_fft": 512,
    "n_mels": 128,
    "f_min": 0.0,
    "f_max": 8000.0,
    "mel_scale": 0,
    "log_floor": 1e-10,
    "denoise_db": 0,
}
# Keys a checkpoint may lack (written before they existed): their default is what it was made with.
OPTIONAL_DSP_PARAMS = ("denoise_db",)

DEFAULT_CONFIG = {
    "n_mels": 128,
    "n_labels": 7,
    "cmvn": "cumulative",
    "cmvn_eps": 1e-3,
    "level_floor": 0.0,
    "c1": 16,
    "c2": 32,
    "c3": 32,
    "lstm": True,
    "lstm_hidden": 128,
    "lstm_layers": 1,
    "bidirectional": False,
    "readout": "attention",
    "dense": 64,
    "dropout": 0.3,
    "window": 300,
    "min_frames": 50,
    "freq_stride": 2,
    "time_pool": 2,
    "prosody": 0,
    "pitch_input": "raw",
}

# The cmvn modes normalised by the stream-level speaker normaliser (nn_speaker), outside the net.
SPEAKER_CMVN = ("speaker", "speaker-mean")

CHECKPOINT_FORMAT = "emotiond-checkpoint"
CHECKPOINT_VERSION = 1


def full_config(config=None):
    """DEFAULT_CONFIG updated with `config`; rejects unknown keys and bad values."""
    cfg = copy.deepcopy(DEFAULT_CONFIG)
    for k, v in (config or {}).items():
        if k not in cfg:
            raise ValueError("unknown model config key %r (known: %s)" % (k, ", ".join(sorted(cfg))))
        cfg[k] = v
    if cfg["cmvn"] not in SPEAKER_CMVN + ("cumulative", "none"):
        raise ValueError("cmvn must be 'cumulative', 'none', 'speaker' or 'speaker-mean', got %r"
                         % (cfg["cmvn"],))
    if not (0.0 <= float(cfg["level_floor"]) <= 10.0):
        raise ValueError("level_floor must be in [0, 10], got %r" % (cfg["level_floor"],))
    if cfg["level_floor"] and cfg["cmvn"] not in SPEAKER_CMVN:
        raise ValueError("level_floor needs cmvn 'speaker' or 'speaker-mean', got %r"
                         % (cfg["cmvn"],))
    if cfg["readout"] not in ("attention", "mean"):
        raise ValueError("readout must be 'attention' or 'mean', got %r" % (cfg["readout"],))
    if cfg["window"] < 4 or cfg["window"] % 2:
        raise ValueError("window must be even and >= 4, got %r" % (cfg["window"],))
    if not 2 <= cfg["min_frames"] <= cfg["window"] // 2:
        raise ValueError("min_frames must be in [2, window/2], got %r" % (cfg["min_frames"],))
    for k in ("n_mels", "n_labels", "c1", "c2", "c3", "lstm_hidden", "lstm_layers", "dense"):
        if int(cfg[k]) < 1:
            raise ValueError("%s must be >= 1, got %r" % (k, cfg[k]))
    if cfg["time_pool"] not in (2, 4):
        raise ValueError("time_pool must be 2 or 4, got %r" % (cfg["time_pool"],))
    if cfg["window"] % cfg["time_pool"] or cfg["min_frames"] < cfg["time_pool"]:
        raise ValueError("window (%r) must be a multiple of time_pool (%r) and min_frames (%r) at "
                         "least time_pool" % (cfg["window"], cfg["time_pool"], cfg["min_frames"]))
    if cfg["prosody"] not in (0, 2):
        raise ValueError("prosody must be 0 or 2 (ln F0, periodicity), got %r" % (cfg["prosody"],))
    if cfg["pitch_input"] not in ("raw", "suppressed"):
        raise ValueError("pitch_input must be 'raw' or 'suppressed', got %r" % (cfg["pitch_input"],))
    if cfg["prosody"] and (cfg["cmvn"] == "cumulative" or cfg["level_floor"]):
        # The runtime's two lanes share one prosody mean per step, and the level floor's
        # statistics are of bands: neither is defined for pitch columns.
        raise ValueError("prosody (pitch columns) does not go with cmvn 'cumulative' or a level "
                         "floor (cmvn %r, level_floor %r)" % (cfg["cmvn"], cfg["level_floor"]))
    if cfg["freq_stride"] not in (1, 2):
        raise ValueError("freq_stride must be 1 or 2, got %r" % (cfg["freq_stride"],))
    if conv_out_bins(cfg["n_mels"], cfg["freq_stride"]) < 1:
        raise ValueError("n_mels=%d leaves no frequency bins after the conv blocks" % cfg["n_mels"])
    return cfg


def conv_out_bins(n_mels, freq_stride=2):
    """Frequency bins after block 3 (conv 1 strides freq_stride in frequency, each block pools 2)."""
    f1 = (n_mels + 2 - 3) // freq_stride + 1
    return ((f1 // 2) // 2) // 2


def cmvn_cumulative(x, eps):
    """Causal cumulative mean/variance normalisation along time. x [B, T, M] -> same shape.

    Float64 running sums, as the C runner keeps them (see the module docstring)."""
    xd = x.double()
    n = torch.arange(1, x.shape[1] + 1, dtype=torch.float64, device=x.device).view(1, -1, 1)
    mu = torch.cumsum(xd, dim=1) / n
    var = torch.clamp(torch.cumsum(xd * xd, dim=1) / n - mu * mu, min=0.0)
    return ((xd - mu) / torch.sqrt(var + eps)).to(x.dtype)


class EmotionNet(nn.Module):
    def __init__(self, config=None):
        super().__init__()
        cfg = full_config(config)
        self.config = cfg
        m = self.in_dim = cfg["n_mels"] + cfg["prosody"]  # input columns: bands, then prosody
        self.register_buffer("norm_mean", torch.zeros(m))
        self.register_buffer("norm_std", torch.ones(m))
        if cfg["cmvn"] in SPEAKER_CMVN:
            self.register_buffer("spk_prior_mean", torch.zeros(m))
            self.register_buffer("spk_prior_var", torch.ones(m))
        if cfg["level_floor"]:
            # the normaliser's level before it has heard speech (exported as spk.prior_level)
            self.register_buffer("spk_prior_level", torch.zeros(1, dtype=torch.float64))
        self.conv1 = nn.Conv2d(1, cfg["c1"], (3, 3), stride=(1, cfg["freq_stride"]))
        self.bn1 = nn.BatchNorm2d(cfg["c1"])
        self.conv2 = nn.Conv2d(cfg["c1"], cfg["c2"], (3, 3))
        self.bn2 = nn.BatchNorm2d(cfg["c2"])
        self.conv3 = nn.Conv2d(cfg["c2"], cfg["c3"], (3, 3))
        self.bn3 = nn.BatchNorm2d(cfg["c3"])
        for conv in (self.conv1, self.conv2, self.conv3):
            conv.to(memory_format=CONV_MEMORY_FORMAT)
        self.drop = nn.Dropout(cfg["dropout"])
        self.feat_dim = cfg["c3"] * conv_out_bins(cfg["n_mels"], cfg["freq_stride"]) + cfg["prosody"]
        if cfg["lstm"]:
            self.rnn = nn.LSTM(self.feat_dim, cfg["lstm_hidden"], num_layers=cfg["lstm_layers"],
                               batch_first=True, bidirectional=bool(cfg["bidirectional"]),
                               dropout=cfg["dropout"] if cfg["lstm_layers"] > 1 else 0.0)
            seq_dim = cfg["lstm_hidden"] * (2 if cfg["bidirectional"] else 1)
        else:
            if cfg["bidirectional"]:
                raise ValueError("bidirectional=True needs lstm=True")
            self.rnn = None
            seq_dim = self.feat_dim
        self.seq_dim = seq_dim
        self.use_attention = cfg["readout"] == "attention" and not cfg["bidirectional"]
        self.att = nn.Linear(seq_dim, 1, bias=False) if self.use_attention else None
        self.fc1 = nn.Linear(seq_dim, cfg["dense"])
        self.fc2 = nn.Linear(cfg["dense"], cfg["n_labels"])

    # ---- normalisation statistics ----
    def set_normalisation(self, mean, std):
        """Global per-band z-score applied after cmvn (see normalisation_stats)."""
        mean = torch.as_tensor(mean, dtype=torch.float32).reshape(-1)
        std = torch.as_tensor(std, dtype=torch.float32).reshape(-1)
        if mean.numel() != self.in_dim or std.numel() != self.in_dim:
            raise ValueError("normalisation stats need %d columns" % self.in_dim)
        if not torch.all(std > 0):
            raise ValueError("normalisation std must be > 0 in every band")
        self.norm_mean.copy_(mean)
        self.norm_std.copy_(std)

    def set_speaker_prior(self, mean, var, level=None):
        """The speaker normaliser's starting estimate (cmvn="speaker" only); level (nats) is the
        level floor's starting level, required with level_floor and refused without."""
        if self.config["cmvn"] not in SPEAKER_CMVN:
            raise ValueError("set_speaker_prior: model cmvn is %r, not a speaker mode" % self.config["cmvn"])
        mean = torch.as_tensor(mean, dtype=torch.float32).reshape(-1)
        var = torch.as_tensor(var, dtype=torch.float32).reshape(-1)
        if mean.numel() != self.in_dim or var.numel() != self.in_dim:
            raise ValueError("speaker prior needs %d columns" % self.in_dim)
        if not torch.all(var >= 0):
            raise ValueError("speaker prior variance must be >= 0")
        if (level is None) != (not self.config["level_floor"]):
            raise ValueError("set_speaker_prior: a prior level is needed exactly when level_floor "
                             "> 0 (level_floor %r, level %r)" % (self.config["level_floor"], level))
        self.spk_prior_mean.copy_(mean)
        self.spk_prior_var.copy_(var)
        if level is not None:
            self.spk_prior_level.fill_(float(level))

    def normalise_input(self, x):
        if self.config["cmvn"] == "cumulative":
            x = cmvn_cumulative(x, self.config["cmvn_eps"])
        return (x - self.norm_mean) / self.norm_std

    # ---- network ----
    def _block(self, x, conv, bn, time_pool):
        # Causal in time: 2 zero steps on the left, none on the right; freq padded 1 each side.
        x = F.pad(x, (1, 1, 2, 0)).contiguous(memory_format=CONV_MEMORY_FORMAT)
        x = F.relu(bn(conv(x)))
        x = F.max_pool2d(x, (time_pool, 2))
        return self.drop(x)

    def sequence(self, x):
        """x [B, T, in_dim] (n_mels bands, then the prosody columns if any) -> per-step
        sequence features [B, T // time_pool, seq_dim] (LSTM outputs, or conv features for the
        CNN-only variant)."""
        if x.dim() != 3 or x.shape[2] != self.in_dim:
            raise ValueError("expected x [B, T, %d], got %s" % (self.in_dim, tuple(x.shape)))
        tp, m = self.config["time_pool"], self.config["n_mels"]
        if x.shape[1] < tp:
            raise ValueError("need at least %d frames, got %d" % (tp, x.shape[1]))
        xn = self.normalise_input(x)
        z = xn[:, :, :m].unsqueeze(1)                      # [B, 1, T, M]
        z = self._block(z, self.conv1, self.bn1, 2)        # [B, c1, T//2, F1/2]
        z = self._block(z, self.conv2, self.bn2, tp // 2)
        z = self._block(z, self.conv3, self.bn3, 1)        # [B, c3, T2, F3]
        b, c, t2, f = z.shape
        z = z.permute(0, 2, 1, 3).reshape(b, t2, c * f)  # index = channel * F3 + freq
        if self.config["prosody"]:
            # Step j of the convolutions has read frames up to (j + 1) * tp - 1: the mean of
            # frames j * tp .. (j + 1) * tp - 1 keeps the step causal.
            p = xn[:, :t2 * tp, m:].reshape(b, t2, tp, self.config["prosody"]).mean(2)
            z = torch.cat([z, p], dim=2)
        if self.rnn is not None:
            z, _ = self.rnn(z)
        return z

    def head(self, pooled):
        h = self.drop(F.relu(self.fc1(pooled)))
        return self.fc2(h)

    def forward(self, x, lengths=None):
        """Logits [B, K] at the final step (what the stream reports after these frames).

        lengths (optional, [B] frame counts <= T): sequences right-padded to T; each item's
        logits are those after its own frames (causality makes right padding harmless)."""
        seq = self.sequence(x)
        b, t2, _ = seq.shape
        if lengths is None:
            mask = None
        else:
            steps = torch.as_tensor(lengths, device=x.device).long() // self.config["time_pool"]
            if torch.any(steps < 1) or torch.any(steps > t2):
                raise ValueError("lengths must be in [2, T]")
            mask = torch.arange(t2, device=x.device).view(1, -1) < steps.view(-1, 1)
            if self.config["bidirectional"]:
                raise ValueError("lengths are not supported by the bidirectional variant")
        if self.use_attention:
            s = self.att(seq).squeeze(-1)                  # [B, T2]
            if mask is not None:
                s = s.masked_fill(~mask, float("-inf"))
            w = torch.softmax(s, dim=1)
            pooled = torch.bmm(w.unsqueeze(1), seq).squeeze(1)
        elif mask is None:
            pooled = seq.mean(dim=1)
        else:
            mf = mask.to(seq.dtype).unsqueeze(-1)
            pooled = (seq * mf).sum(dim=1) / mf.sum(dim=1)
        return self.head(pooled)

    def forward_all(self, x):
        """Logits [B, T//2, K] after every pooled step (what the stream reports after frames
        0..2j+1), for deep supervision on streaming crops. Not for the bidirectional variant."""
        return self.head(self.pooled_all(x))

    def pooled_all(self, x):
        """The readout's pooled embedding [B, T//2, seq_dim] after every pooled step: what
        forward_all's head reads (and the speaker adversary, adversary.py)."""
        if self.config["bidirectional"]:
            raise ValueError("forward_all and pooled_all need a causal model (bidirectional=False)")
        seq = self.sequence(x)
        t2 = seq.shape[1]
        if self.use_attention:
            # Prefix softmax: exp(s - global max) in float64 (no underflow at any realistic
            # score spread), cumulative sums; equal to the online softmax the C runner keeps.
            s = self.att(seq).squeeze(-1).double()
            e = torch.exp(s - s.max(dim=1, keepdim=True).values)
            num = torch.cumsum(e.unsqueeze(-1) * seq.double(), dim=1)
            den = torch.cumsum(e, dim=1).clamp_min(1e-300).unsqueeze(-1)
            pooled = (num / den).to(seq.dtype)
        else:
            n = torch.arange(1, t2 + 1, dtype=seq.dtype, device=seq.device).view(1, -1, 1)
            pooled = torch.cumsum(seq, dim=1) / n
        return pooled


def make_model(config=None, labels=None):
    """EmotionNet with n_labels taken from labels (default DEFAULT_LABELS)."""
    labels = list(labels or DEFAULT_LABELS)
    cfg = dict(config or {})
    cfg["n_labels"] = len(labels)
    return EmotionNet(cfg)


def normalisation_stats(features, config=None):
    """Per-band mean and std of the (cmvn'd) training frames: the global z-score stats.

    features: iterable of [T, M] arrays/tensors (e.g. the training crops or utterances; cmvn runs
    from each item's first frame, as the stream does from a lane reset). Returns (mean, std) as
    float32 tensors [M]; std floored at 1e-3."""
    cfg = full_config(config)
    s1 = s2 = None
    n = 0
    for f in features:
        x = torch.as_tensor(f, dtype=torch.float32).unsqueeze(0)
        if cfg["cmvn"] == "cumulative":
            x = cmvn_cumulative(x, cfg["cmvn_eps"])
        x = x[0].double()
        if s1 is None:
            s1 = torch.zeros(x.shape[1], dtype=torch.float64)
            s2 = torch.zeros(x.shape[1], dtype=torch.float64)
        s1 += x.sum(0)
        s2 += (x * x).sum(0)
        n += x.shape[0]
    if n == 0:
        raise ValueError("normalisation_stats: no frames")
    mean = s1 / n
    std = torch.sqrt(torch.clamp(s2 / n - mean * mean, min=0.0)).clamp_min(1e-3)
    return mean.float(), std.float()


def save_checkpoint(path, model, labels, dsp_params=None, name="emotiond", meta=None):
    """Writes the checkpoint dict documented above."""
    labels = list(labels)
    if len(labels) != model.config["n_labels"]:
        raise ValueError("%d labels for a model with n_labels=%d" % (len(labels), model.config["n_labels"]))
    dp = dict(DEFAULT_DSP_PARAMS)
    dp.update(dsp_params or {})
    if dp["n_mels"] != model.config["n_mels"]:
        raise ValueError("dsp_params n_mels=%d but model n_mels=%d" % (dp["n_mels"], model.config["n_mels"]))
    ckpt = {
        "format": CHECKPOINT_FORMAT,
        "version": CHECKPOINT_VERSION,
        "name": str(name),
        "config": dict(model.config),
        "labels": labels,
        "dsp_params": dp,
        "state_dict": {k: v.detach().cpu() for k, v in model.state_dict().items()},
        "meta": dict(meta or {}),
    }
    torch.save(ckpt, path)


def load_checkpoint(path):
    """Returns (model in eval mode, checkpoint dict)."""
    ckpt = torch.load(path, map_location="cpu")
    if not isinstance(ckpt, dict) or ckpt.get("format") != CHECKPOINT_FORMAT:
        raise ValueError("%s: not an emotiond checkpoint (no format=%r)" % (path, CHECKPOINT_FORMAT))
    if ckpt.get("version") != CHECKPOINT_VERSION:
        raise ValueError("%s: checkpoint version %r, this code reads %d"
                         % (path, ckpt.get("version"), CHECKPOINT_VERSION))
    model = EmotionNet(ckpt["config"])
    model.load_state_dict(ckpt["state_dict"])
    model.eval()
    return model, ckpt


def count_parameters(model):
    return sum(p.numel() for p in model.parameters())


if __name__ == "__main__":
    m = make_model()
    m.eval()
    x = torch.randn(2, 300, 128)
    with torch.no_grad():
        y = m(x)
        ya = m.forward_all(x)
    assert torch.allclose(y, ya[:, -1], atol=1e-5), (y, ya[:, -1])
    print("EmotionNet default: %d parameters, logits %s, per-step %s"
          % (count_parameters(m), tuple(y.shape), tuple(ya.shape)))

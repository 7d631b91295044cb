"""Speaker-adversarial training of the streaming network (train.py): a speaker classifier on the
network's pooled embedding whose gradient reaches the network reversed (Ganin & Lempitsky 2015).

Config key "speaker_adversary" (run_config.DEFAULTS; {} = off):
    {"weight": 0.5, "hidden": 64}
The classifier (Linear(seq_dim, hidden), ReLU, Linear(hidden, training speakers)) reads the
pooled embedding after every supervised step (what the emotion head reads) and learns the
crop's speaker with a plain cross-entropy, averaged per utterance like the emotion loss. The
network receives that loss's gradient multiplied by -lambda(p), lambda(p) = weight x (2 / (1 +
exp(-10 p)) - 1), p = the fraction of training steps done: near 0 while the classifier is still
random, `weight` at the end (Ganin's schedule). The classifier is training-only: the checkpoint
holds the emotion network alone, so export and the C runtime are unchanged.

Why: speaker variation is the largest loss speaker-independently (p2 RAVDESS 60 %, EMO-DB UAR
77-80 % against 82-91 % on random splits). The speaker normaliser removes each voice's per-band
mean and variance at the input; what identifies the speaker beyond that (pitch range, timbre,
speaking rate) can still reach the embedding, and the reversed gradient pushes it out.
"""

import math

import torch
import torch.nn as nn
import torch.nn.functional as F


def check_config(d):
    """Validates a "speaker_adversary" config dict; returns it with defaults filled ({} stays {})."""
    if not d:
        return {}
    if not isinstance(d, dict):
        raise ValueError("speaker_adversary must be a dict ({} = off), got %r" % (d,))
    unknown = set(d) - {"weight", "hidden"}
    if unknown:
        raise ValueError("speaker_adversary: unknown key(s) %s (known: weight, hidden)"
                         % ", ".join(sorted(unknown)))
    out = {"weight": 0.5, "hidden": 64}
    out.update(d)
    w, h = out["weight"], out["hidden"]
    if not (isinstance(w, (int, float)) and not isinstance(w, bool) and 0.0 < w < math.inf):
        raise ValueError("speaker_adversary.weight must be a finite number > 0, got %r" % (w,))
    if not (isinstance(h, int) and not isinstance(h, bool) and h >= 1):
        raise ValueError("speaker_adversary.hidden must be an integer >= 1, got %r" % (h,))
    return out


def reversal_scale(weight, progress):
    """lambda(p): the factor on the reversed gradient after a fraction p in [0, 1] of training."""
    p = min(max(float(progress), 0.0), 1.0)
    return weight * (2.0 / (1.0 + math.exp(-10.0 * p)) - 1.0)


class _Reverse(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x, scale):
        ctx.scale = scale
        return x.view_as(x)

    @staticmethod
    def backward(ctx, grad):
        return -ctx.scale * grad, None


def reverse_gradient(x, scale):
    """Identity forward; the gradient flowing back through it is multiplied by -scale."""
    return _Reverse.apply(x, float(scale))


class SpeakerAdversary(nn.Module):
    """The speaker classifier and its per-utterance loss, for one run's training speakers."""

    def __init__(self, d, seq_dim, speakers):
        super().__init__()
        if len(speakers) < 2:
            raise ValueError("speaker_adversary needs at least 2 training speakers, got %d"
                             % len(speakers))
        self.config = d
        self.index = {s: i for i, s in enumerate(sorted(speakers))}
        self.fc1 = nn.Linear(seq_dim, d["hidden"])
        self.fc2 = nn.Linear(d["hidden"], len(self.index))
        self.scale = 0.0      # lambda of the current step (set_progress)
        self.correct = 0      # supervised steps whose speaker was named right, since reset_counts
        self.total = 0

    def set_progress(self, p):
        self.scale = reversal_scale(self.config["weight"], p)

    def targets(self, items):
        return torch.tensor([self.index[it["speaker"]] for it in items])

    def loss(self, pooled, spk, mask):
        """pooled [B, T2, D] (the network's pooled embedding after each step), spk [B] speaker
        indices, mask [B, T2] the supervised steps: mean over utterances of the mean speaker
        cross-entropy over each one's supervised steps."""
        b, t2, _ = pooled.shape
        z = reverse_gradient(pooled, self.scale)
        logits = self.fc2(F.relu(self.fc1(z)))            # [B, T2, S]
        yy = spk.view(-1, 1).expand(b, t2)
        ce = F.cross_entropy(logits.reshape(b * t2, -1), yy.reshape(-1),
                             reduction="none").view(b, t2)
        m = mask.float()
        with torch.no_grad():
            hit = (logits.argmax(-1) == yy) & mask
            self.correct += int(hit.sum())
            self.total += int(mask.sum())
        return ((ce * m).sum(1) / m.sum(1)).mean()

    def reset_counts(self):
        """The supervised steps' speaker accuracy since the last reset (None before any)."""
        acc = self.correct / self.total if self.total else None
        self.correct = self.total = 0
        return acc

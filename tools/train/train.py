"""Training of the streaming CNN-LSTM (model.py) on cached C front-end features.

Usage (the shipped model):
    /usr/bin/python3 tools/train/train.py --config tools/train/configs/default.json \
        --out runs/default
writes runs/default/{checkpoint.pt, run.json, config.json}. protocols.py calls train() per fold.

What a run does (all of it reproducible from the config's seed):
- split: "shipped" = every speaker except data.HELDOUT_SPEAKERS, with data.SHIPPED_VAL_SPEAKERS as
  the validation (early stopping) set; protocols pass explicit train/val lists instead.
- each epoch visits every training utterance once, in a version drawn at random ("orig" with
  probability p_orig, else one of the augmented versions: speed, pitch, noise: augment.py;
  uniformly, or in proportion to version_weights); a per-split version ("babblesame",
  augment.SPLIT_VERSIONS) becomes the split's own copies before training
  (features.prepare_split_versions; protocols.py per fold, main() for the shipped split);
- crops (batches.py): one length per batch drawn uniformly in [crop_min, crop_max] frames
  (1.5-3 s: what the streaming runner's older lane has seen when it publishes), each utterance
  cropped at a random offset (shorter utterances taken whole, right-padded by wrapping and
  masked);
- gain_db: a random gain in [-gain_db, +gain_db] dB per crop (exact in the log-mel domain), so
  that input level cannot carry the label when the model runs without cmvn;
- SpecAugment-style masking on the raw log-mel crop (masked cells set to the crop's band mean);
- loss: class-weighted cross-entropy on the logits after EVERY pooled step from supervise_from
  frames to the crop's end (model.forward_all), so the stream is right at every context length it
  publishes from, not only at the crop's end; end_weight w in [0, 1] mixes in the crop's final
  step: per utterance (1 - w) mean(every supervised step) + w CE(final step). Why: supervising
  only the final step (supervise_from = crop_max) gained 2.6 points on p1 RAVDESS and 8.5 on p2
  RAVDESS but lost 4 causally at 3 s on the shipped recipe; a weight keeps the prefixes in the
  loss (w = 0.5 measured: BENCHMARKS.md; 0 in every shipped config);
- mixup (alpha > 0): each batch is mixed with a permutation of itself, x = lam x + (1 - lam) x',
  lam ~ Beta(alpha, alpha), and the loss mixed the same way (Zhang et al. 2018). Why: on p1
  RAVDESS seed 0 (90 epochs) the network gets 93 % of its clean training files right and 73 %
  of its test files, a gap that regularising might close where more epochs did not (measured
  at 60 epochs with ema: it did not, the network fitted less; BENCHMARKS.md, off by default);
- ema (decay > 0): an exponential moving average of the weights and batch-norm statistics,
  updated after every step, is what validation measures and what is kept (one model, so it
  exports and streams as any other); 0 keeps the raw weights;
- distill ({"teachers": [run dirs], "weight": a, "temperature": T}; {} = off): each crop also
  learns its file's posteriors from trained teachers (distill.py): per supervised step
  (1 - a) x the cross-entropy + a x T^2 x KL(teachers || step / T). Why: an ensemble's gain at
  one network's cost in the daemon;
- speaker_adversary ({"weight": w, "hidden": h}; {} = off): a speaker classifier on the pooled
  embedding of every supervised step, whose gradient reaches the network reversed and scaled
  (adversary.py); its speaker accuracy per epoch goes into the history. Why: speaker variation
  is the largest loss speaker-independently;
- extra_corpora (protocols only; [] = off): the other corpus' utterances of the classes both
  corpora name (data.extra_items) join the training part, never validation or test; each epoch
  visits every target-corpus utterance and a fresh random draw of extra_ratio x as many extra
  ones (all of them if fewer); class weights count every utterance of the pool. Why: speaker
  variation is the largest loss speaker-independently, and the other corpus brings more
  voices; drawing per epoch keeps the target corpus' epochs as they were;
- Adam, cosine learning-rate decay over `epochs`, early stopping on validation UAR (patience);
  the best epoch's weights are kept. Validation uses eval_file(), the file-level rule below.
  select_window k > 1 judges epoch e by the mean validation UAR of epochs e-k+1..e (from epoch
  k on) and keeps e's weights. Why: with two validation speakers one epoch's UAR can spike (a
  v5 run of p2 RAVDESS fold 1 kept epoch 14 of 60 that way: 40.8 % on its test speakers), and
  a trailing mean needs no earlier epoch's weights kept (k = 3 measured: BENCHMARKS.md; 1 in
  every shipped config). select_compare [k', ...] also keeps, from the same history, the epoch
  each other window k' would keep, as checkpoint_select<k'>.pt (run.json "select_compare"), so
  that two rules can be compared on one training run (compare_select.py); early stopping
  follows select_window alone.
- validation ("select" | "train"): "train" moves the validation part into the training part and
  keeps the final epoch (no early stopping: the cosine schedule ends at zero after `epochs`).
  Why: on p2 EMO-DB two of the nine non-test voices only ever judged epochs, and more voices is
  what speaker independence lacks; the epoch count is then fixed in the config, never picked on
  the fold. On the shipped split the validation speakers train too (the held-out speakers
  never), and ship.py then reports no validation figures;
- noise_pairs ({"versions": [noisy versions], "weight": w, "twin_ce": true}; {} = off): every
  clean crop gets a noisy twin in the same batch (batches.py says how and why) and the twin's
  loss adds w x KL(clean posteriors || twin's) per supervised step (pair_consistency). With
  "twin_ce": false the twins get no cross-entropy: the labels' loss stays the clean rows' (and
  the batch's other noisy crops'), and the twins learn only to agree with their clean rows;
- partial_speaker_stats p in [0, 1] (0 = off; cmvn "speaker"/"speaker-mean" without a level
  floor): each crop is, with probability p, normalised with the estimate the daemon's
  normaliser holds after hearing only some of its speaker's other utterances (none to all,
  batches.draw_heard), starting from the model's prior (features.SpeakerNormStore.get_heard),
  instead of the statistics of all of them. Why: the protocols and the converged held-out row
  judge with a voice's full statistics, the daemon with what it has heard so far; the end-only
  loss gained on the first and lost on the second (BENCHMARKS.md, "The end-only loss with the
  validation actors"), i.e. the network can lean on statistics the daemon lacks;
- vtlp ({"p": p, "alpha": a}; {} = off): with probability p a crop's mel bands are warped as a
  vocal tract 1 - a .. 1 + a times as long would move them (batches.py says how and why).

File-level decision (eval_file; `emotion eval` in C does the same): posteriors = mean of the softmax
of offline windows of `window` frames at a hop of window/2, the last window aligned to the file's
end; a file shorter than one window is one window.
"""

import one_blas_thread  # noqa: F401  (before numpy/torch)
import same_kernels  # noqa: F401  (before numpy/torch)
import copy
import math
import os
import sys
import time

import numpy as np
import torch
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import adversary as AD  # noqa: E402
import batches as B  # noqa: E402
import data as D  # noqa: E402
import distill as DI  # noqa: E402
import epoch_pick as EP  # noqa: E402
import features as FE  # noqa: E402
import metrics as MX  # noqa: E402
import model as M  # noqa: E402

# The run config (keys, defaults, bases, checks) lives in run_config.py; these names stay here
# for the callers that read them as train.*.
from run_config import DEFAULTS, full_config, load_config, model_config  # noqa: E402,F401


def training_parts(cfg, train_items, val_items):
    """The (training, validation) parts a run with cfg uses: the validation part joins training
    under validation "train"."""
    if full_config(cfg)["validation"] == "train":
        return list(train_items) + list(val_items), []
    return train_items, val_items


# ---- file-level inference (the rule `emotion eval` implements in C) ----

def windows(n_frames, window):
    if n_frames <= window:
        return [(0, n_frames)]
    hop = window // 2
    starts = list(range(0, n_frames - window + 1, hop))
    if starts[-1] + window < n_frames:
        starts.append(n_frames - window)
    return [(s, s + window) for s in starts]


@torch.no_grad()
def eval_file(model, x, temperature=1.0):
    """x [T, M] -> mean softmax(logits / temperature) over the file's windows (numpy [K])."""
    window = model.config["window"]
    x = np.asarray(x, dtype=np.float32)
    if x.shape[0] < 2:
        raise ValueError("utterance shorter than 2 frames")
    w = windows(x.shape[0], window)
    batch = torch.from_numpy(np.stack([x[a:b] for a, b in w]))
    return torch.softmax(model(batch) / temperature, dim=1).mean(0).numpy()


@torch.no_grad()
def evaluate(model, items, store, labels, version="orig"):
    model.eval()
    probs = np.stack([eval_file(model, store.get(D.item_key(it), version)) for it in items])
    pred = probs.argmax(1)
    fig = MX.figures([it["label"] for it in items], pred, labels)
    return fig, probs


# ---- losses ----

def supervised_steps(lengths, t2, time_pool, supervise_from):
    """(last [B, 1]: each crop's number of valid pooled steps, mask [B, t2]: the steps its loss
    supervises, from supervise_from frames to the crop's end)."""
    steps = torch.arange(t2).view(1, -1)
    last = (lengths // time_pool).view(-1, 1)          # valid steps: j < last
    first = max(supervise_from // time_pool - 1, 0)
    # Short utterances (< supervise_from frames) still supervise their final step.
    lo = torch.clamp(last - 1, max=first)
    return last, (steps < last) & (steps >= lo)


def step_loss(model, x, lengths, y, cfg, weight, mix=None, soft=None, adversary=None, spk=None,
              twins=None):
    """Mean over utterances of (1 - end_weight) x the mean cross-entropy of the supervised steps
    + end_weight x the cross-entropy of the final step. mix = (perm, lam):
    x is already lam x + (1 - lam) x[perm] (mix_batch) and the loss is mixed the same way.
    soft [B, K]: the teachers' targets (distill.py); each step's loss is then (1 - a) x its
    cross-entropy + a x T^2 KL(soft || step / T). adversary (adversary.SpeakerAdversary) with
    spk [B] speaker indices: + its speaker loss over the same supervised steps. twins
    [(clean row, twin row)] (batches.make_batch, noise_pairs): + weight x the mean over pairs of
    pair_consistency; with twin_ce false the twin rows are left out of the cross-entropy's mean."""
    pooled = model.pooled_all(x)
    logits = model.head(pooled)                        # [B, T2, K]
    b, t2, k = logits.shape
    last, mask = supervised_steps(lengths, t2, model.config["time_pool"], cfg["supervise_from"])

    def ce_of(labels):
        yy = labels.view(-1, 1).expand(b, t2)
        return F.cross_entropy(logits.reshape(-1, k), yy.reshape(-1), weight=weight,
                               reduction="none", label_smoothing=cfg["label_smoothing"]).view(b, t2)
    if mix is None:
        ce = ce_of(y)
    else:
        perm, lam = mix
        ce = lam * ce_of(y) + (1.0 - lam) * ce_of(y[perm])
    if soft is not None:
        a, t = cfg["distill"]["weight"], cfg["distill"]["temperature"]
        ce = (1.0 - a) * ce + a * DI.soft_cross_entropy(logits, soft.unsqueeze(1), t)
    m = mask.float()
    # Each utterance counts once, whatever its number of supervised steps.
    per_step = (ce * m).sum(1) / m.sum(1)
    w = cfg["end_weight"]
    if w:
        final = ce.gather(1, last - 1).squeeze(1)
        per_step = (1.0 - w) * per_step + w * final
    if twins and not cfg["noise_pairs"]["twin_ce"]:
        keep = torch.ones_like(per_step)
        keep[[p[1] for p in twins]] = 0.0
        loss = (per_step * keep).sum() / keep.sum()
    else:
        loss = per_step.mean()
    if adversary is not None:
        loss = loss + adversary.loss(pooled, spk, mask)
    if twins:
        loss = loss + cfg["noise_pairs"]["weight"] * pair_consistency(logits, twins, mask)
    return loss


def pair_consistency(logits, twins, mask):
    """Mean over pairs of the mean over the twin's supervised steps of KL(p_clean || p_twin),
    p_clean held fixed (no gradient): the clean crop teaches, the noisy twin learns to agree."""
    a = torch.tensor([p[0] for p in twins])
    b = torch.tensor([p[1] for p in twins])
    p_clean = torch.softmax(logits[a], dim=-1).detach()
    kl = (p_clean * (torch.log(p_clean.clamp_min(1e-12)) - torch.log_softmax(logits[b], dim=-1))
          ).sum(-1)
    m = mask[b].float()
    return ((kl * m).sum(1) / m.sum(1)).mean()


def ema_model(model, decay):
    """The weights' exponential moving average (batch-norm statistics included; integer buffers,
    the batch counters, are copied)."""
    def average(avg, new, n):
        return decay * avg + (1.0 - decay) * new if avg.is_floating_point() else new
    return torch.optim.swa_utils.AveragedModel(model, avg_fn=average, use_buffers=True)


# ---- the run ----

def train(cfg, train_items, val_items, labels, store, out_dir, log=sys.stderr, dsp_params=None):
    cfg = full_config(cfg)
    os.makedirs(out_dir, exist_ok=True)
    torch.set_num_threads(int(cfg["threads"]))
    torch.manual_seed(cfg["seed"])
    rng = np.random.default_rng(cfg["seed"])
    versions = list(cfg["versions"])
    unresolved = [v for v in versions if v in FE.A.SPLIT_VERSIONS]
    if unresolved:
        raise ValueError("version %s is made per split: features.prepare_split_versions names "
                         "this split's copies (protocols.py and train.py call it)" % unresolved[0])
    store.check(train_items, versions)
    store.check(val_items, ["orig"])
    model = M.make_model(model_config(cfg), labels)
    if model.config["cmvn"] in M.SPEAKER_CMVN:
        if not isinstance(store, FE.SpeakerNormStore):
            raise ValueError("cmvn %r needs a features.SpeakerNormStore (speaker_store())"
                             % model.config["cmvn"])
        model.set_speaker_prior(*store.prior(D.speakers(train_items)))
    if cfg["partial_speaker_stats"] and (model.config["cmvn"] not in M.SPEAKER_CMVN
                                         or model.config["level_floor"]):
        raise ValueError("partial_speaker_stats needs cmvn \"speaker\" or \"speaker-mean\" "
                         "without a level floor (model: cmvn %r, level_floor %r)"
                         % (model.config["cmvn"], model.config["level_floor"]))
    prior = None
    if cfg["partial_speaker_stats"]:
        prior = (model.spk_prior_mean.double().numpy(), model.spk_prior_var.double().numpy())
    if model.config["bidirectional"]:
        if cfg["distill"] or cfg["speaker_adversary"] or cfg["noise_pairs"]:
            raise ValueError("distill, speaker_adversary and noise_pairs: only streaming "
                             "(unidirectional) models")
        cfg["supervise_from"] = 10 ** 9  # offline variant: only the full-crop logits exist
    if (cfg["validation"] == "train") != (not val_items):
        raise ValueError("validation %r with %d validation utterances: training_parts() gives "
                         "the parts" % (cfg["validation"], len(val_items)))
    teachers = None
    if cfg["distill"]:
        teachers = DI.Teachers(cfg["distill"], labels, model.config, store, train_items,
                               val_items, eval_file, cfg["denoise_db"])
    # Global z-score statistics after cmvn, from the training utterances' first window (the
    # stream normalises from a lane reset).
    W = model.config["window"]
    mean, std = M.normalisation_stats(
        (np.asarray(store.get(D.item_key(it), "orig")[:W]) for it in train_items), model.config)
    model.set_normalisation(mean, std)
    counts = D.class_counts(train_items, len(labels))
    if cfg["class_weights"]:
        present = [c for c in counts if c]
        w = [(sum(present) / (len(present) * c)) if c else 0.0 for c in counts]
        weight = torch.tensor(w, dtype=torch.float32)
    else:
        weight = None
    adversary = None
    params = list(model.parameters())
    if cfg["speaker_adversary"]:
        adversary = AD.SpeakerAdversary(cfg["speaker_adversary"], model.seq_dim,
                                        D.speakers(train_items))
        params += list(adversary.parameters())
    opt = torch.optim.Adam(params, lr=cfg["lr"], weight_decay=cfg["weight_decay"])
    core, extra = epoch_pools(train_items, cfg)
    n_extra = min(len(extra), int(round(cfg["extra_ratio"] * len(core))))
    n_batches = math.ceil((len(core) + n_extra) / cfg["batch"])
    total_steps = cfg["epochs"] * n_batches
    sched = torch.optim.lr_scheduler.LambdaLR(
        opt, lambda s: 0.5 * (1 + math.cos(math.pi * min(s, total_steps) / total_steps)))
    y_all = torch.tensor([it["label"] for it in train_items])
    pick = (EP.FinalEpoch() if cfg["validation"] == "train"
            else EP.EpochPick(cfg["select_window"]))
    compared = [EP.EpochPick(k) for k in cfg["select_compare"]]
    history = []
    t0 = time.time()
    print("train %s: %d train (%d extra, %d per epoch) / %d val utterances, %d params, "
          "%d batches/epoch, labels %s"
          % (cfg["name"], len(train_items), len(extra), n_extra, len(val_items),
             M.count_parameters(model), n_batches, ",".join(labels)), file=log, flush=True)
    bad = 0
    ema = ema_model(model, cfg["ema"]) if cfg["ema"] else None
    kept = ema.module if ema else model     # what validation measures and the run keeps
    for epoch in range(1, cfg["epochs"] + 1):
        model.train()
        order = core if not n_extra else np.concatenate(
            [core, rng.choice(extra, n_extra, replace=False)])
        order = rng.permutation(order)
        tl, te = 0.0, time.time()
        for bi in range(n_batches):
            idx = order[bi * cfg["batch"]:(bi + 1) * cfg["batch"]]
            if len(idx) < 2:
                continue
            chosen = [] if teachers else None
            twins = [] if cfg["noise_pairs"] else None
            rows = [train_items[i] for i in idx]
            x, lengths = B.make_batch(rows, store, cfg, rng, versions, model.config["time_pool"],
                                      chosen=chosen, twins=twins, prior=prior,
                                      dsp=M.DEFAULT_DSP_PARAMS)
            y = y_all[idx]
            if twins:
                src = [a for a, _ in twins]
                rows = rows + [rows[a] for a in src]
                y = torch.cat([y, y[src]])
            mix = None
            if cfg["mixup"]:
                x, lengths, mix = B.mix_batch(x, lengths, rng, cfg["mixup"])
            if model.config["bidirectional"]:
                logits = model(x[:, :int(lengths.min())])
                loss = F.cross_entropy(logits, y, weight=weight,
                                       label_smoothing=cfg["label_smoothing"])
                if mix:
                    loss = mix[1] * loss + (1.0 - mix[1]) * F.cross_entropy(
                        logits, y[mix[0]], weight=weight, label_smoothing=cfg["label_smoothing"])
            else:
                spk = None
                if adversary:
                    adversary.set_progress(((epoch - 1) * n_batches + bi) / total_steps)
                    spk = adversary.targets(rows)
                loss = step_loss(model, x, lengths, y, cfg, weight, mix,
                                 teachers.targets(chosen) if teachers else None, adversary, spk,
                                 twins)
            opt.zero_grad()
            loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), 5.0)
            if adversary:
                torch.nn.utils.clip_grad_norm_(adversary.parameters(), 5.0)
            opt.step()
            sched.step()
            if ema:
                ema.update_parameters(model)
            tl += float(loss)
        vfig = evaluate(kept, val_items, store, labels)[0] if val_items else None
        rec = {"epoch": epoch, "loss": tl / n_batches,
               "val_acc": vfig["accuracy"] if vfig else None,
               "val_uar": vfig["uar"] if vfig else None, "seconds": time.time() - te}
        if adversary:
            # Near chance (1 / training speakers) = the embedding no longer names the speaker.
            rec["adv_speaker_acc"] = adversary.reset_counts()
            rec["adv_scale"] = adversary.scale
        history.append(rec)
        improved = pick.update(history, epoch == cfg["epochs"], kept)
        if improved:
            bad = 0
        elif improved is not None:
            bad += 1
        for other in compared:
            other.update(history, epoch == cfg["epochs"], kept)
        adv = ("  speaker acc %.1f %%" % (100 * rec["adv_speaker_acc"])
               if rec.get("adv_speaker_acc") is not None else "")
        val = ("val acc %.1f %% UAR %.1f %%" % (100 * vfig["accuracy"], 100 * vfig["uar"])
               if vfig else "no validation part")
        print("  epoch %2d  loss %.3f  %s%s  %.0f s%s"
              % (epoch, rec["loss"], val, adv, rec["seconds"], "  *" if improved else ""),
              file=log, flush=True)
        if bad >= cfg["patience"]:
            break
    best = pick.best
    model.load_state_dict(pick.state)
    model.eval()
    elapsed = time.time() - t0
    meta = {"train_config": cfg, "best_epoch": best["epoch"], "epochs_run": len(history),
            "val_uar": best["uar"], "val_acc": best["acc"], "selection_score": best["score"],
            "train_seconds": elapsed,
            "n_train": len(train_items), "n_val": len(val_items),
            "train_speakers": D.speakers(train_items), "val_speakers": D.speakers(val_items),
            "history": history}
    if teachers:
        meta["distill"] = teachers.summary()
    if adversary:
        meta["speaker_adversary"] = dict(cfg["speaker_adversary"],
                                         speakers=len(adversary.index),
                                         final_speaker_acc=history[-1]["adv_speaker_acc"])
    if dsp_params is None:
        dsp_params = {"denoise_db": cfg["denoise_db"]}
    M.save_checkpoint(os.path.join(out_dir, "checkpoint.pt"), model, labels, dsp_params,
                      name=cfg["name"], meta=meta)
    if compared:
        meta["select_compare"] = {}
    for other in compared:
        # The same history's pick by another window, for a paired test of the rules
        # (compare_select.py); early stopping followed select_window alone.
        alt = copy.deepcopy(model)
        alt.load_state_dict(other.state)
        alt.eval()
        name = "checkpoint_select%d.pt" % other.k
        M.save_checkpoint(os.path.join(out_dir, name), alt, labels, dsp_params, name=cfg["name"],
                          meta=dict(meta, best_epoch=other.best["epoch"],
                                    val_uar=other.best["uar"], val_acc=other.best["acc"],
                                    selection_score=other.best["score"], select_window=other.k))
        meta["select_compare"][str(other.k)] = dict(other.best, checkpoint=name)
    MX.save_json(os.path.join(out_dir, "run.json"), meta)
    print("train %s: %s epoch %d%s, %.0f s" % (
        cfg["name"], "best" if val_items else "final", best["epoch"],
        " (val UAR %.1f %%)" % (100 * best["uar"]) if val_items else "", elapsed),
        file=log, flush=True)
    return model, meta


def epoch_pools(train_items, cfg):
    """Indices of the target corpora's training utterances (every epoch visits all) and of the
    extra corpora's (drawn per epoch): extra = a corpus not in cfg["corpora"]."""
    core = [i for i, it in enumerate(train_items) if it["corpus"] in cfg["corpora"]]
    extra = [i for i, it in enumerate(train_items) if it["corpus"] not in cfg["corpora"]]
    if extra and not cfg["extra_corpora"]:
        raise ValueError("training utterances of corpora %s outside the run's corpora %s"
                         % (sorted({train_items[i]["corpus"] for i in extra}), cfg["corpora"]))
    return np.array(core, dtype=np.int64), np.array(extra, dtype=np.int64)


def feature_store(cache, cfg):
    """The cached features a run config reads: its versions and noise suppression, with the pitch
    columns when its model takes them (model key prosody)."""
    return FE.FeatureStore(cache, cfg["versions"], cfg["denoise_db"], pitch=FE.run_pitch(cfg))



def speaker_store(store, cfg, items):
    """The store the run's model reads: per-speaker normalised features for cmvn "speaker"."""
    mcfg = M.full_config(cfg["model"])
    if mcfg["cmvn"] in M.SPEAKER_CMVN:
        return FE.SpeakerNormStore(store, items, mcfg["cmvn_eps"], mcfg["cmvn"] == "speaker-mean",
                                   mcfg["level_floor"])
    return store


def shipped_split(items):
    pool = D.without_speakers(items, D.HELDOUT_SPEAKERS)
    val = D.by_speakers(pool, D.SHIPPED_VAL_SPEAKERS)
    tr = D.without_speakers(pool, D.SHIPPED_VAL_SPEAKERS)
    return tr, val, D.by_speakers(items, D.HELDOUT_SPEAKERS)


def shipped_parts(cfg, items):
    """The shipped split's (training, validation, held-out) parts a run with cfg uses: under
    validation "train" the validation speakers train too; the held-out speakers never do."""
    tr, val, held = shipped_split(items)
    return training_parts(cfg, tr, val) + (held,)


def main(argv=None):
    import argparse
    ap = argparse.ArgumentParser(description="train the emotiond model on cached features")
    ap.add_argument("--config", required=True, help="JSON run config (keys: run_config.DEFAULTS)")
    ap.add_argument("--out", required=True, help="run directory (checkpoint.pt, run.json)")
    ap.add_argument("--cache", default=FE.DEFAULT_CACHE)
    ap.add_argument("--data", default=None)
    ap.add_argument("--epochs", type=int, default=None, help="override the config's epochs")
    ap.add_argument("--seed", type=int, default=None,
                    help="override the config's seed (an ensemble's members differ only in it)")
    a = ap.parse_args(argv)
    cfg = full_config(load_config(a.config))
    if a.epochs:
        cfg["epochs"] = a.epochs
    if a.seed is not None:
        cfg["seed"] = a.seed
    if cfg["split"] != "shipped":
        raise SystemExit("train.py: split %r: only 'shipped' from the command line; protocols.py "
                         "runs the others" % cfg["split"])
    if cfg["extra_corpora"]:
        raise SystemExit("train.py: extra_corpora is for the per-corpus protocols (protocols.py); "
                         "the shipped split trains on every corpus in 'corpora' already")
    items, labels = D.load_items(cfg["corpora"], cfg["label_set"], a.data)
    tr, val, held = shipped_parts(cfg, items)
    cfg = FE.prepare_split_versions(cfg, items, val + held, cfg["denoise_db"], a.data, a.cache,
                                    pitch=FE.run_pitch(cfg))
    os.makedirs(a.out, exist_ok=True)
    MX.save_json(os.path.join(a.out, "config.json"), cfg)
    store = speaker_store(feature_store(a.cache, cfg), cfg, items)
    model, meta = train(cfg, tr, val, labels, store, a.out)
    fig, _ = evaluate(model, held, store, labels)
    meta["heldout_pytorch"] = fig
    meta["config_file"] = os.path.relpath(os.path.abspath(a.config), FE.REPO)
    MX.save_json(os.path.join(a.out, "run.json"), meta)
    print("held-out (PyTorch, %s): %s" % (",".join(D.HELDOUT_SPEAKERS), MX.fmt(fig)), file=sys.stderr)


if __name__ == "__main__":
    main()

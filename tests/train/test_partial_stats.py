#!/usr/bin/python3
"""Training on partial speaker statistics (train config "partial_speaker_stats",
batches.draw_heard, features.SpeakerNormStore.get_heard) without corpora: the config's refusals
and the daemon's constants, the draw of what a crop has heard, the estimate by hand, batches
that use it with the probability asked (twins with the same part of the voice), and runs that
train with it. Its parity with the C normaliser is train-eval-speaker's (`--speaker-stats
running`).

    test_partial_stats.py CASE      CASE: config | draw | batch | run
"""

import math
import os
import re
import sys
import tempfile

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from test_train_py import (SRC, TINY_NET, SyntheticStore, check, check_refused,  # noqa: E402
                           fake_items, run_case, tiny_run_config)
from test_noise_pairs import TwinStore  # noqa: E402  ("n1" = clean + 1: noise that keeps time)

import batches as B  # noqa: E402  (test_train_py put tools/train on the path)
import data as D  # noqa: E402
import features as FE  # noqa: E402

LABELS = ["a", "b", "c"]
DEVNULL = open(os.devnull, "w")
SPEAKER_NET = dict(TINY_NET, cmvn="speaker")


def speaker_store(items, mean_only=False):
    return FE.SpeakerNormStore(SyntheticStore(), items, 1e-5, mean_only)


def t_config():
    """Off by default; a probability or refused naming the key; refused in train() without
    speaker statistics or with a level floor; the constants are the daemon's (nn/nn.h)."""
    import train as T
    check(T.full_config({})["partial_speaker_stats"] == 0.0, "off by default")
    check(T.full_config({"partial_speaker_stats": 1})["partial_speaker_stats"] == 1, "1 accepted")
    check_refused("partial_speaker_stats", -0.1, 1.5, True, "0.5", None, math.nan)
    items = fake_items("emodb", 2, 2, LABELS)
    for model, store, why in ((dict(TINY_NET), SyntheticStore(), "without speaker cmvn"),
                              (dict(SPEAKER_NET, level_floor=0.3),
                               FE.SpeakerNormStore(SyntheticStore(), items, 1e-5, False, 0.3),
                               "with a level floor")):
        try:
            T.train(tiny_run_config(partial_speaker_stats=0.5, model=model), items, [], LABELS,
                    store, tempfile.mkdtemp(), log=DEVNULL)
        except ValueError as e:
            check("partial_speaker_stats" in str(e), "%s: the error names the key: %s" % (why, e))
        else:
            check(False, "partial_speaker_stats accepted %s" % why)
    with open(os.path.join(SRC, "nn", "nn.h")) as f:
        h = f.read()

    def define(name):
        m = re.search(r"#define\s+%s\s+([0-9.]+)" % name, h)
        check(m is not None, "nn/nn.h defines %s" % name)
        return float(m.group(1))
    check(FE.DAEMON_PRIOR_FRAMES == round(define("NN_SPEAKER_DEFAULT_PRIOR_S") * 100),
          "DAEMON_PRIOR_FRAMES %d is not nn.h's prior (100 frames/s)" % FE.DAEMON_PRIOR_FRAMES)
    check(FE.DAEMON_VAR_FLOOR == define("NN_SPEAKER_DEFAULT_VAR_FLOOR"),
          "DAEMON_VAR_FLOOR %g is not nn.h's" % FE.DAEMON_VAR_FLOOR)


def t_draw():
    """draw_heard: distinct utterances of the crop's own speaker, never the crop's, from none to
    all the others, none with probability ln 2 / ln(K + 2); the same seed, the same draw."""
    items = fake_items("emodb", 3, 7, LABELS)        # 21 utterances per speaker: K = 20 others
    store = speaker_store(items)
    key = D.item_key(items[5])
    own = set(store.by_speaker[items[5]["speaker"]]) - {key}
    rng = np.random.default_rng(3)
    sizes = []
    for _ in range(4000):
        h = B.draw_heard(store, key, rng)
        check(len(set(h)) == len(h) and set(h) <= own, "distinct others of the same speaker: %r" % h)
        sizes.append(len(h))
    sizes = np.array(sizes)
    check(sizes.min() == 0 and sizes.max() == 20, "from none to all: %d..%d"
          % (sizes.min(), sizes.max()))
    p0 = float((sizes == 0).mean())
    check(abs(p0 - math.log(2) / math.log(22)) < 0.03, "P(none) %.3f, expected %.3f"
          % (p0, math.log(2) / math.log(22)))
    check(float((sizes <= 5).mean()) > 0.5, "small parts drawn more often than large ones")
    a = [B.draw_heard(store, key, np.random.default_rng(9)) for _ in range(2)]
    check(a[0] == a[1], "one seed, one draw")
    lone = fake_items("emodb", 1, 1, ["a"])
    check(B.draw_heard(speaker_store(lone), D.item_key(lone[0]), rng) == [],
          "a voice with one utterance has heard nothing else")


def t_batch():
    """get_heard by hand (prior weighted 300 frames, the heard utterances' speech frames, the
    variance floored at half the prior's; nothing heard = the prior; a level floor refused);
    batches use it for about the share of rows asked, never outside training and never without
    the prior, and a twin hears what its clean row heard."""
    import train as T
    items = fake_items("emodb", 2, 4, LABELS)
    pm, pv = np.linspace(-1.0, 1.0, 128), np.linspace(0.5, 4.0, 128)
    for mean_only in (False, True):
        store = FE.SpeakerNormStore(TwinStore(), items, 1e-5, mean_only)
        keys = store.by_speaker[items[0]["speaker"]]
        x = store.store.get(keys[0]).astype(np.float64)
        heard = keys[1:4]
        f = np.concatenate([FE.speech_frames(store.store.get(k)) for k in heard])
        for w0 in (300, 10):     # with 10 prior frames the floor binds in the high bands
            n = w0 + len(f)
            mean = (w0 * pm + f.sum(0)) / n
            var = (w0 * (pv + pm * pm) + (f * f).sum(0)) / n - mean * mean
            check(w0 == 300 or (var < 0.5 * pv).any(), "the floor binds somewhere")
            var = np.maximum(var, 0.5 * pv)
            want = x - mean if mean_only else (x - mean) / np.sqrt(var + 1e-5)
            got = store.get_heard(keys[0], "orig", heard, (pm, pv), prior_frames=w0)
            check(np.abs(got - want).max() < 1e-4, "estimate by hand (mean_only %s, prior %d): "
                  "%.3g" % (mean_only, w0, np.abs(got - want).max()))
        want = x - pm if mean_only else (x - pm) / np.sqrt(pv + 1e-5)
        got = store.get_heard(keys[0], "orig", [], (pm, pv))
        check(np.abs(got - want).max() < 1e-4, "nothing heard: the prior (mean_only %s)"
              % mean_only)
    try:
        FE.SpeakerNormStore(TwinStore(), items, 1e-5, False, 0.3).get_heard(
            keys[0], "orig", heard, (pm, pv))
    except ValueError as e:
        check("level floor" in str(e), "a level floor refused: %s" % e)
    else:
        check(False, "get_heard with a level floor accepted")

    versions = ["orig", "n1"]
    store = FE.SpeakerNormStore(TwinStore(), items, 1e-5)
    calls = []
    real = store.get_heard

    def spy(key, version, heard, prior):
        calls.append((key, version, tuple(heard)))
        return real(key, version, heard, prior)
    store.get_heard = spy
    prior = (pm, pv)
    # Crops of at least 200 frames: every row is its whole utterance (TwinStore: < 200 frames).
    cfg = T.full_config({"versions": versions, "p_orig": 0.5, "crop_min": 200, "crop_max": 240,
                         "specaug": {}, "partial_speaker_stats": 0.3,
                         "noise_pairs": {"versions": ["n1"], "weight": 1}})
    rows = partial = 0
    for seed in range(60):
        calls.clear()
        chosen, twins = [], []
        x, lengths = B.make_batch(items, store, cfg, np.random.default_rng(seed), versions, 4,
                                  chosen=chosen, twins=twins, prior=prior)
        twin_of = {a: b for a, b in twins}
        for i, (key, v) in enumerate(chosen[:len(items)]):
            mine = [c for c in calls if c[0] == key]
            n = int(lengths[i])
            rows += 1
            if not mine:
                check(np.array_equal(x[i, :n].numpy(), store.get(key, v)[:n]),
                      "a row without partial statistics has the converged ones")
                continue
            partial += 1
            check(mine[0][1] == v and
                  np.allclose(x[i, :n].numpy(), real(key, v, mine[0][2], prior)[:n]),
                  "the row is the utterance with the statistics it heard")
            if i in twin_of:
                check(len(mine) == 2 and mine[1][1] == "n1" and mine[1][2] == mine[0][2],
                      "a twin hears what its clean row heard: %r" % mine)
                check(np.allclose(x[twin_of[i], :n].numpy(),
                                  real(key, "n1", mine[0][2], prior)[:n]),
                      "the twin row is its utterance in n1 with those statistics")
            else:
                check(len(mine) == 1, "one estimate per row without a twin: %r" % mine)
    share = partial / rows
    check(abs(share - 0.3) < 0.06, "share of rows with partial statistics %.3f, asked 0.3" % share)
    try:
        B.make_batch(items, store, cfg, np.random.default_rng(0), versions, 4)
    except ValueError as e:
        check("partial_speaker_stats" in str(e) and "prior" in str(e), "no prior: %s" % e)
    else:
        check(False, "partial statistics without the prior accepted")
    calls.clear()
    B.make_batch(items, store, cfg, np.random.default_rng(0), versions, 4, train=False,
                 prior=prior)
    check(not calls, "no partial statistics outside training")


def t_run():
    """A run with the key trains, records it and ends elsewhere than without it; with
    speaker-mean too."""
    import torch
    import train as T
    torch.set_num_threads(1)
    items = fake_items("emodb", 4, 2, LABELS)
    runs = {}
    with tempfile.TemporaryDirectory() as root:
        for name, p, cmvn in (("off", 0.0, "speaker"), ("on", 0.5, "speaker"),
                              ("mean", 0.5, "speaker-mean")):
            model, meta = T.train(tiny_run_config(epochs=2, partial_speaker_stats=p,
                                                  model=dict(TINY_NET, cmvn=cmvn)),
                                  items[:16], items[16:], LABELS,
                                  speaker_store(items, cmvn == "speaker-mean"),
                                  os.path.join(root, name), log=DEVNULL)
            runs[name] = (model.state_dict(), meta)
    a, b = runs["off"][0], runs["on"][0]
    check(max(float((a[k].float() - b[k].float()).abs().max()) for k in a) > 1e-4,
          "partial statistics change the weights")
    check(runs["on"][1]["train_config"]["partial_speaker_stats"] == 0.5, "run.json records the key")
    check(all(math.isfinite(h["loss"]) for n in runs for h in runs[n][1]["history"]),
          "finite losses")


CASES = {"config": t_config, "draw": t_draw, "batch": t_batch, "run": t_run}

if __name__ == "__main__":
    run_case(CASES)

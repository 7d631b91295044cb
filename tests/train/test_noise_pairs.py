#!/usr/bin/python3
"""Noisy twins with a consistency loss (tools/train/batches.py, train.py's "noise_pairs" key)
without corpora: the config's refusals, twins that match their clean crop cell for cell, the
consistency term and its one-way gradient, and runs that train with it (alone and with the
speaker adversary, whose rows must line up with the twins').

    test_noise_pairs.py CASE      CASE: config | batch | loss | run
"""

import math
import os
import sys
import tempfile

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from test_train_py import (TINY_NET, check, check_refused, fake_items,  # noqa: E402
                           run_case, tiny_run_config)

import batches as B  # noqa: E402  (test_train_py put tools/train on the path)
import data as D  # noqa: E402

LABELS = ["a", "b", "c"]
DEVNULL = open(os.devnull, "w")
VERSIONS = ["orig", "sp", "n1", "n2"]


class TwinStore:
    """Random clean frames per utterance; "n1" / "n2" = clean + 1 / + 2 in every cell (noise
    that keeps time, as augment.py's white* / babble*), "sp" = another length (as a speed
    version)."""

    def __init__(self):
        self.rng = np.random.default_rng(4)
        self.m = {}

    def check(self, *a):
        pass

    def get(self, key, v="orig"):
        if (key, "orig") not in self.m:
            self.m[(key, "orig")] = self.rng.standard_normal(
                (int(self.rng.integers(60, 200)), 128)).astype(np.float32)
        x = self.m[(key, "orig")]
        return {"orig": x, "n1": x + 1.0, "n2": x + 2.0, "sp": x[: len(x) * 9 // 10]}[v]


def t_config():
    import train as T
    base = {"versions": VERSIONS}
    check(T.full_config(base)["noise_pairs"] == {}, "off by default")
    got = T.full_config(dict(base, noise_pairs={"versions": ["n1"], "weight": 2}))["noise_pairs"]
    check(got == {"versions": ["n1"], "weight": 2.0, "twin_ce": True}, "checked config: %r" % got)
    got = T.full_config(dict(base, noise_pairs={"versions": ["n1"], "weight": 1,
                                                "twin_ce": False}))["noise_pairs"]
    check(got["twin_ce"] is False, "twin_ce false kept: %r" % got)
    for bad in ([1], {"versions": ["n1"]}, {"weight": 1.0}, {"versions": [], "weight": 1.0},
                {"versions": "n1", "weight": 1.0}, {"versions": ["orig"], "weight": 1.0},
                {"versions": ["white9"], "weight": 1.0}, {"versions": ["n1"], "weight": -1},
                {"versions": ["n1"], "weight": math.inf}, {"versions": ["n1"], "weight": True},
                {"versions": ["n1"], "weight": "1"}, {"versions": ["n1"], "weight": 1, "t": 2},
                {"versions": ["n1"], "weight": 1, "twin_ce": 0}):
        try:
            T.full_config(dict(base, noise_pairs=bad))
        except ValueError as e:
            check("noise_pairs" in str(e), "the error names the key: %s" % e)
        else:
            check(False, "noise_pairs %r accepted" % (bad,))
    check_refused("noise_pairs", [1.0])
    try:
        T.full_config(dict(base, mixup=0.4, noise_pairs={"versions": ["n1"], "weight": 1.0}))
    except ValueError as e:
        check("noise_pairs" in str(e) and "mixup" in str(e), "names both keys: %s" % e)
    else:
        check(False, "noise_pairs with mixup accepted")
    try:
        T.train(tiny_run_config(versions=VERSIONS, noise_pairs={"versions": ["n1"], "weight": 1},
                                model=dict(TINY_NET, bidirectional=True, readout="mean")),
                [], [], LABELS, TwinStore(), tempfile.mkdtemp(), log=DEVNULL)
    except ValueError as e:
        check("noise_pairs" in str(e) and "unidirectional" in str(e), "bidirectional: %s" % e)
    else:
        check(False, "a bidirectional model with noise_pairs accepted")


def t_batch():
    """Each clean row has one twin in a listed version, appended in order, at the same offset,
    length, gain and masked cells: with noise = +1 / +2 in every cell the twin is its clean row
    plus 1 or 2 everywhere. Augmented rows get none; a version of another length is refused."""
    import train as T
    items = fake_items("emodb", 2, 4, LABELS)
    store = TwinStore()
    cfg = T.full_config({"versions": VERSIONS, "p_orig": 0.5, "gain_db": 6.0, "crop_min": 40,
                         "crop_max": 120, "noise_pairs": {"versions": ["n1", "n2"], "weight": 1},
                         "specaug": {"freq_masks": 2, "freq_width": 20, "time_masks": 2,
                                     "time_width": 30}})
    seen = set()
    for seed in range(20):
        chosen, twins = [], []
        x, lengths = B.make_batch(items, store, cfg, np.random.default_rng(seed), VERSIONS, 4,
                                  chosen=chosen, twins=twins)
        n = len(items)
        clean = [i for i in range(n) if chosen[i][1] == "orig"]
        check([a for a, _ in twins] == clean, "one twin per clean row, in order: %r" % twins)
        check([b for _, b in twins] == list(range(n, n + len(twins))) and
              x.shape[0] == len(chosen) == n + len(twins), "twin rows follow the batch's own")
        for a, b in twins:
            key, v = chosen[b]
            seen.add(v)
            check(key == chosen[a][0] and v in ("n1", "n2"), "twin of %s: %r" % (chosen[a], v))
            check(int(lengths[a]) == int(lengths[b]), "twin length")
            la = int(lengths[a])
            d = (x[b, :la] - x[a, :la]).numpy()
            want = 1.0 if v == "n1" else 2.0
            check(np.allclose(d, want, atol=1e-5),
                  "twin = clean + noise cell for cell (offset, gain, masks shared): %g..%g"
                  % (d.min(), d.max()))
        # The same draws without the twin list: the rows the batch has of its own are unchanged.
        plain, _ = B.make_batch(items, store, cfg, np.random.default_rng(seed), VERSIONS, 4,
                                chosen=[])
        check(plain.shape[0] == n, "no twin list, no twins")
    check(seen == {"n1", "n2"}, "both listed versions drawn: %s" % seen)
    bad = T.full_config(dict(cfg, noise_pairs={"versions": ["sp"], "weight": 1}, p_orig=1.0))
    try:
        B.make_batch(items, store, bad, np.random.default_rng(0), VERSIONS, 4, twins=[])
    except ValueError as e:
        check("noise_pairs" in str(e) and D.item_key(items[0]) in str(e) and "'sp'" in str(e),
              "a version of another length named with its file: %s" % e)
    else:
        check(False, "a twin version that moves the audio in time accepted")
    evalb, _ = B.make_batch(items, store, cfg, np.random.default_rng(0), VERSIONS, 4,
                            train=False, twins=(t := []))
    check(evalb.shape[0] == len(items) and t == [], "no twins outside training")


def t_loss():
    """pair_consistency = the mean KL(p_clean || p_twin) over the twin's supervised steps; 0 for a
    twin equal to its clean row; its gradient reaches the twin's logits only and lowers the KL;
    step_loss adds weight x it to the loss without twins."""
    import torch
    import model as M
    import train as T
    torch.set_num_threads(1)
    torch.manual_seed(0)
    logits = torch.randn(3, 5, 4, requires_grad=True)
    mask = torch.tensor([[0, 1, 1, 1, 1], [0, 0, 1, 1, 0], [0, 0, 0, 1, 1]], dtype=torch.bool)
    twins = [(0, 1), (0, 2)]
    got = T.pair_consistency(logits, twins, mask)
    p = torch.softmax(logits.detach(), -1)
    want = 0.0
    for a, b in twins:
        steps = [t for t in range(5) if mask[b, t]]
        want += sum(float((p[a, t] * (p[a, t] / p[b, t]).log()).sum()) for t in steps) / len(steps)
    check(abs(float(got) - want / 2) < 1e-5, "KL by hand %g, got %g" % (want / 2, float(got)))
    got.backward()
    g = logits.grad
    check(float(g[0].abs().max()) == 0.0, "no gradient to the clean row (it teaches)")
    check(float(g[1, mask[1]].abs().max()) > 0 and float(g[1, ~mask[1]].abs().max()) == 0.0,
          "the twin's supervised steps only")
    with torch.no_grad():
        after = T.pair_consistency(logits - 0.1 * g, twins, mask)
    check(float(after) < float(got), "a step down the gradient brings the twins closer")
    same = torch.randn(2, 5, 4)
    same[1] = same[0]
    check(float(T.pair_consistency(same, [(0, 1)], mask[:2])) < 1e-6, "identical twin: 0")

    cfg = T.full_config({"supervise_from": 20, "versions": VERSIONS,
                         "noise_pairs": {"versions": ["n1"], "weight": 0.7}})
    net = M.make_model(TINY_NET, LABELS)
    net.eval()
    x = torch.randn(3, 64, 128)
    x[2] = x[0] + 0.5 * torch.randn(64, 128)
    lengths = torch.tensor([64, 48, 64])
    y = torch.tensor([0, 1, 0])
    with torch.no_grad():
        plain = T.step_loss(net, x, lengths, y, cfg, None)
        paired = T.step_loss(net, x, lengths, y, cfg, None, twins=[(0, 2)])
        logits = net.head(net.pooled_all(x))
        _, m = T.supervised_steps(lengths, logits.shape[1], net.config["time_pool"], 20)
        cons = T.pair_consistency(logits, [(0, 2)], m)
    check(float(cons) > 0, "a changed twin disagrees")
    check(abs(float(paired) - float(plain) - 0.7 * float(cons)) < 1e-5,
          "loss = plain + weight x consistency: %g vs %g + 0.7 x %g"
          % (float(paired), float(plain), float(cons)))
    # twin_ce false: the twin (row 2) leaves the cross-entropy; the consistency term stays.
    no_ce = T.full_config(dict(cfg, noise_pairs={"versions": ["n1"], "weight": 0.7,
                                                  "twin_ce": False}))
    with torch.no_grad():
        clean_rows = T.step_loss(net, x[:2], lengths[:2], y[:2], cfg, None)
        got = T.step_loss(net, x, lengths, y, no_ce, None, twins=[(0, 2)])
    check(abs(float(clean_rows) - float(plain)) > 1e-3, "the twin's cross-entropy moves the mean")
    check(abs(float(got) - float(clean_rows) - 0.7 * float(cons)) < 1e-5,
          "twin_ce false: loss = the other rows' loss + weight x consistency: %g vs %g + 0.7 x %g"
          % (float(got), float(clean_rows), float(cons)))


def t_run():
    """Runs with twins train, record the key and end elsewhere than without (and without the
    twins' cross-entropy elsewhere than with it); with the speaker
    adversary the twins' rows carry their speakers (a misaligned row count would fail)."""
    import torch
    import train as T
    torch.set_num_threads(1)
    items = fake_items("emodb", 4, 2, LABELS)
    store = TwinStore()
    pairs = {"versions": ["n1", "n2"], "weight": 1.0}
    runs = {}
    with tempfile.TemporaryDirectory() as root:
        for name, keys in (("plain", {}), ("pairs", {"noise_pairs": pairs}),
                           ("pairs_no_ce", {"noise_pairs": dict(pairs, twin_ce=False)}),
                           ("pairs_adv", {"noise_pairs": pairs,
                                          "speaker_adversary": {"weight": 1.0, "hidden": 8}})):
            model, meta = T.train(tiny_run_config(epochs=2, versions=VERSIONS, p_orig=0.7, **keys),
                                  items[:16], items[16:], LABELS, store,
                                  os.path.join(root, name), log=DEVNULL)
            runs[name] = (model.state_dict(), meta)
    a, b = runs["plain"][0], runs["pairs"][0]
    check(max(float((a[k].float() - b[k].float()).abs().max()) for k in a) > 1e-4,
          "twins change the weights")
    c = runs["pairs_no_ce"][0]
    check(max(float((b[k].float() - c[k].float()).abs().max()) for k in b) > 1e-4,
          "twin_ce false changes the weights")
    check(runs["pairs"][1]["train_config"]["noise_pairs"] == dict(pairs, twin_ce=True),
          "run.json records the key")
    check(all(math.isfinite(h["loss"]) for n in runs for h in runs[n][1]["history"]),
          "finite losses")
    check(runs["pairs_adv"][1]["speaker_adversary"]["speakers"] == 3, "adversary over 3 speakers")


CASES = {"config": t_config, "batch": t_batch, "loss": t_loss, "run": t_run}

if __name__ == "__main__":
    run_case(CASES)

#!/usr/bin/python3
"""Speaker-adversarial training (tools/train/adversary.py, train.py's "speaker_adversary" key)
without corpora: the config's refusals, the reversal schedule, the reversed gradient reaching
the network, the step loss with the adversary, a run that trains with it and keeps only the
emotion network, and the linear speaker probe (speaker_probe.py) that measures its effect.

    test_adversary.py CASE      CASE: config | reversal | loss | run | probe
"""

import math
import os
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from test_train_py import (TINY_NET, SyntheticStore, check, check_refused,  # noqa: E402
                           fake_items, run_case, tiny_run_config)

import adversary as AD  # noqa: E402  (test_train_py put tools/train on the path)

LABELS = ["a", "b", "c"]
DEVNULL = open(os.devnull, "w")


def t_config():
    import train as T
    check(T.full_config({})["speaker_adversary"] == {}, "off by default")
    check(T.full_config({"speaker_adversary": {"hidden": 8}})["speaker_adversary"]
          == {"weight": 0.5, "hidden": 8}, "defaults filled in")
    check_refused("speaker_adversary", [0.5], {"weight": 0}, {"weight": -1.0},
                  {"weight": math.inf}, {"weight": math.nan}, {"weight": True},
                  {"hidden": 0}, {"hidden": 1.5}, {"hidden": True}, {"scale": 1.0})
    for keys, names in (({"mixup": 0.4}, "mixup"),):
        try:
            T.full_config(dict(keys, speaker_adversary={"weight": 0.5}))
        except ValueError as e:
            check("speaker_adversary" in str(e) and names in str(e), "names both keys: %s" % e)
        else:
            check(False, "speaker_adversary with %s accepted" % names)
    try:
        T.train(tiny_run_config(speaker_adversary={"weight": 0.5},
                                model=dict(TINY_NET, bidirectional=True, readout="mean")),
                [], [], LABELS, SyntheticStore(), tempfile.mkdtemp(), log=DEVNULL)
    except ValueError as e:
        check("speaker_adversary" in str(e) and "unidirectional" in str(e),
              "bidirectional refused: %s" % e)
    else:
        check(False, "a bidirectional model with an adversary accepted")
    try:
        AD.SpeakerAdversary({"weight": 0.5, "hidden": 4}, 8, ["emodb:03"])
    except ValueError as e:
        check("2 training speakers" in str(e), "one speaker refused: %s" % e)
    else:
        check(False, "an adversary over one speaker accepted")


def t_reversal():
    import torch
    check(AD.reversal_scale(0.5, 0.0) == 0.0, "lambda(0) = 0")
    end = 0.5 * (2.0 / (1.0 + math.exp(-10.0)) - 1.0)
    check(abs(AD.reversal_scale(0.5, 1.0) - end) < 1e-12, "lambda(1) = weight x (2/(1+e^-10) - 1)")
    check(AD.reversal_scale(0.5, 3.0) == AD.reversal_scale(0.5, 1.0), "progress clamped to 1")
    ps = [i / 20 for i in range(21)]
    s = [AD.reversal_scale(2.0, p) for p in ps]
    check(all(a < b for a, b in zip(s, s[1:])), "lambda grows with progress")
    x = torch.randn(3, 4, requires_grad=True)
    y = AD.reverse_gradient(x, 0.7)
    check(torch.equal(y, x), "identity forward")
    g = torch.randn(3, 4)
    y.backward(g)
    check(torch.allclose(x.grad, -0.7 * g), "backward = -scale x the incoming gradient")


def t_loss():
    """The step loss adds the adversary's speaker loss; through the network that part's gradient
    is the speaker loss's own gradient times -lambda, while the classifier gets it unreversed."""
    import torch
    import model as M
    import train as T
    torch.set_num_threads(1)
    torch.manual_seed(0)
    net = M.make_model(TINY_NET, LABELS)
    net.eval()
    x = torch.randn(4, 64, 128)
    lengths = torch.tensor([64, 48, 64, 30])
    y = torch.tensor([0, 1, 2, 1])
    speakers = ["emodb:03", "emodb:08", "emodb:09"]
    items = [{"speaker": s} for s in ("emodb:08", "emodb:03", "emodb:09", "emodb:08")]
    cfg = T.full_config({"supervise_from": 20, "speaker_adversary": {"weight": 0.5, "hidden": 6}})
    adv = AD.SpeakerAdversary(cfg["speaker_adversary"], net.seq_dim, speakers)
    spk = adv.targets(items)
    check(spk.tolist() == [1, 0, 2, 1], "speaker indices in sorted order")

    def grads(scale, with_adv=True):
        adv.scale = scale
        net.zero_grad()
        adv.zero_grad()
        loss = T.step_loss(net, x, lengths, y, cfg, None, None, None,
                           adv if with_adv else None, spk if with_adv else None)
        loss.backward()
        g = torch.cat([p.grad.reshape(-1) for p in net.parameters() if p.grad is not None])
        ga = torch.cat([p.grad.reshape(-1) for p in adv.parameters()]) if with_adv else None
        return float(loss), g, ga

    plain, g0, _ = grads(0.0, with_adv=False)
    l0, g_zero, ga_zero = grads(0.0)
    l1, g_half, ga_half = grads(0.5)
    check(l0 > plain + 0.1, "the speaker loss is added (%.4f vs %.4f)" % (l0, plain))
    check(abs(l0 - l1) < 1e-6, "lambda does not change the loss value")
    check(torch.allclose(g_zero, g0, atol=1e-6), "lambda 0: the network sees the emotion loss alone")
    check(torch.allclose(ga_zero, ga_half, atol=1e-6), "the classifier's gradient is not reversed")
    # The speaker loss alone, with ordinary gradients through the network:
    net.zero_grad()
    adv.zero_grad()
    pooled = net.pooled_all(x)
    _, mask = T.supervised_steps(lengths, pooled.shape[1], net.config["time_pool"],
                                 cfg["supervise_from"])
    reverse = AD.reverse_gradient
    AD.reverse_gradient = lambda z, scale: z      # the gradient passes unchanged
    try:
        adv.loss(pooled, spk, mask).backward()
    finally:
        AD.reverse_gradient = reverse
    g_spk = torch.cat([p.grad.reshape(-1) for p in net.parameters() if p.grad is not None])
    check(float(g_spk.abs().max()) > 1e-4, "the speaker loss reaches the network")
    check(torch.allclose(g_half, g0 - 0.5 * g_spk, atol=1e-5),
          "network gradient = emotion gradient - lambda x speaker gradient")
    check(adv.reset_counts() is not None and adv.reset_counts() is None,
          "speaker accuracy counted and reset")


def t_run():
    """A run with the adversary records it, keeps only the emotion network's weights and ends
    elsewhere than without it."""
    import torch
    import train as T
    torch.set_num_threads(1)
    items = fake_items("emodb", 4, 2, LABELS)
    store = SyntheticStore()
    runs = {}
    with tempfile.TemporaryDirectory() as root:
        for name, adv in (("plain", {}), ("adv", {"weight": 1.0, "hidden": 8})):
            model, meta = T.train(tiny_run_config(epochs=2, speaker_adversary=adv),
                                  items[:16], items[16:], LABELS, store,
                                  os.path.join(root, name), log=DEVNULL)
            saved = torch.load(os.path.join(root, name, "checkpoint.pt"), weights_only=False)
            runs[name] = (model.state_dict(), meta, saved)
    a, b = runs["plain"][0], runs["adv"][0]
    check(sorted(a) == sorted(b), "the checkpoint holds the emotion network alone")
    check(max(float((a[k].float() - b[k].float()).abs().max()) for k in a) > 1e-4,
          "the reversed gradient reaches the weights")
    meta = runs["adv"][1]
    rec = meta["speaker_adversary"]
    check(rec["weight"] == 1.0 and rec["hidden"] == 8 and rec["speakers"] == 3,
          "run.json records the adversary: %r" % rec)
    accs = [h["adv_speaker_acc"] for h in meta["history"]]
    check(all(0.0 <= v <= 1.0 for v in accs), "speaker accuracy per epoch: %r" % accs)
    scales = [h["adv_scale"] for h in meta["history"]]
    check(0.0 < scales[0] < scales[1] <= 1.0, "lambda grows over the run: %r" % scales)
    check("speaker_adversary" not in runs["plain"][1] and
          "adv_speaker_acc" not in runs["plain"][1]["history"][0], "a plain run records none")
    check(sorted(runs["adv"][2]["state_dict"]) == sorted(runs["plain"][2]["state_dict"]),
          "no adversary weights saved in checkpoint.pt")


def t_probe():
    """speaker_probe.py: the probe names speakers from embeddings that carry them, is near chance
    on embeddings that do not, and reads the embedding the emotion head reads."""
    import numpy as np
    import torch
    import model as M
    import speaker_probe as P
    rng = np.random.default_rng(3)
    spk = np.repeat(np.arange(6), 30)
    centres = rng.standard_normal((6, 16)) * 2.0
    carried = P.probe(centres[spk] + rng.standard_normal((180, 16)), spk)
    blind = P.probe(rng.standard_normal((180, 16)), spk)
    check(carried > 0.9, "speakers in the embedding: probe %.2f" % carried)
    check(blind < 0.35, "no speakers in the embedding: probe %.2f (chance 0.17)" % blind)

    class Store:
        def get(self, key, v):
            return np.full((90, 128), float(len(key)), dtype=np.float32)
    torch.manual_seed(0)
    net = M.make_model(dict(TINY_NET, time_pool=4), LABELS)
    net.eval()
    items = [{"corpus": "emodb", "path": "x" * n + ".flac"} for n in (1, 5)]
    emb = P.embeddings(net, Store(), items)
    tp = net.config["time_pool"]
    with torch.no_grad():       # "emodb/x.flac": 12 characters, 90 frames -> whole time_pool steps
        want = net.pooled_all(torch.full((1, 90 - 90 % tp, 128), 12.0))[0, -1].numpy()
    check(emb.shape == (2, net.seq_dim) and np.allclose(emb[0], want, atol=1e-6),
          "embedding = pooled readout after the file's first window (frames cut to time_pool)")


CASES = {"config": t_config, "reversal": t_reversal, "loss": t_loss, "run": t_run,
         "probe": t_probe}

if __name__ == "__main__":
    run_case(CASES)

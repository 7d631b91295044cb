#!/usr/bin/python3
"""Distillation (tools/train/distill.py, train.py's "distill" key) without corpora: the soft
loss's value, the mixed step loss, the teachers' targets and their caching, the checks that keep
a teacher from leaking another split into a student, and a run that trains with teachers.

    test_distill.py CASE      CASE: loss | teachers | run
"""

import os
import sys
import tempfile

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from test_train_py import (TINY_NET, SyntheticStore, check, check_refused,  # noqa: E402
                           fake_items, run_case, tiny_run_config)

import data as D  # noqa: E402  (test_train_py put tools/train on the path)
import distill as DI  # noqa: E402

LABELS = ["a", "b", "c"]
DEVNULL = open(os.devnull, "w")


def t_loss():
    import torch
    import torch.nn.functional as F
    import model as M
    import train as T
    torch.set_num_threads(1)
    torch.manual_seed(0)
    logits = torch.randn(5, 3)
    p = torch.softmax(torch.randn(5, 3), dim=1)
    for t in (1.0, 2.0, 4.0):
        want = t * t * F.kl_div(F.log_softmax(logits / t, dim=1), p, reduction="none").sum(1)
        check(torch.allclose(DI.soft_cross_entropy(logits, p, t), want, atol=1e-6),
              "soft loss = T^2 KL(target || softmax(logits / T)) at T %g" % t)
        q = torch.softmax(logits / t, dim=1)
        check(float(DI.soft_cross_entropy(logits, q, t).abs().max()) < 1e-6,
              "zero when the student already says the target")
    onehot = torch.eye(3)[[0, 2, 1, 1, 0]]
    check(torch.allclose(DI.soft_cross_entropy(logits, onehot, 1.0),
                         F.cross_entropy(logits, torch.tensor([0, 2, 1, 1, 0]), reduction="none"),
                         atol=1e-6), "a one-hot target at T 1 is the cross-entropy")

    net = M.make_model(TINY_NET, LABELS)
    net.eval()
    x = torch.randn(4, 64, 128)
    lengths = torch.tensor([64, 48, 64, 30])
    y = torch.tensor([0, 1, 2, 1])
    soft = torch.softmax(torch.randn(4, 3), dim=1)

    def loss(distill, target, weight=None, **keys):
        cfg = T.full_config(dict(keys, supervise_from=20,
                                 distill=dict(distill, teachers=["x"]) if distill else {}))
        with torch.no_grad():
            return float(T.step_loss(net, x, lengths, y, cfg, weight, None, target))
    hard = loss({}, None)
    kd_only = loss({"weight": 1.0, "temperature": 2.0}, soft)
    check(abs(kd_only - hard) > 1e-3, "the test's hard and soft losses differ")
    half = loss({"weight": 0.3, "temperature": 2.0}, soft)
    check(abs(half - (0.7 * hard + 0.3 * kd_only)) < 1e-5, "weight 0.3 = 0.7 hard + 0.3 soft")
    check(abs(loss({"weight": 1.0, "temperature": 1.0}, torch.eye(3)[y])
              - loss({}, None, label_smoothing=0.0)) < 1e-5,
          "one-hot targets at T 1, weight 1 = the plain loss (no label smoothing)")
    w = torch.tensor([1.0, 2.0, 0.5])
    check(abs(loss({"weight": 1.0, "temperature": 2.0}, soft, w) - kd_only) < 1e-6,
          "class weights act on the hard part only")
    check(abs(loss({"weight": 0.5, "temperature": 2.0}, soft, end_weight=1.0)
              - 0.5 * loss({}, None, end_weight=1.0)
              - 0.5 * loss({"weight": 1.0, "temperature": 2.0}, soft, end_weight=1.0)) < 1e-5,
          "with the final step only, the mix applies to that step")

    check_refused("distill", {"teachers": []}, {"teachers": ["a"], "weight": 0.0},
                  {"teachers": ["a"], "weight": 1.5}, {"teachers": ["a"], "temperature": 0},
                  {"teachers": ["a"], "alpha": 0.5}, {"weight": 0.5})
    try:
        T.full_config({"distill": {"teachers": ["a"]}, "mixup": 0.4})
    except ValueError as e:
        check("distill" in str(e) and "mixup" in str(e), "names both keys: %s" % e)
    else:
        check(False, "distill with mixup accepted")


def train_teacher(d, items, seed, store):
    import train as T
    cfg = tiny_run_config(seed=seed, epochs=1)
    T.train(cfg, items[:16], items[16:], LABELS, store, d, log=DEVNULL)


def t_teachers():
    import torch
    import model as M
    import train as T
    torch.set_num_threads(1)
    items = fake_items("emodb", 4, 2, LABELS)
    store = SyntheticStore()
    with tempfile.TemporaryDirectory() as root:
        dirs = [os.path.join(root, "t%d" % i) for i in (1, 2)]
        for i, d in enumerate(dirs):
            train_teacher(d, items, i + 1, store)
        cfg = DI.check_config({"teachers": dirs, "temperature": 3.0})
        student = M.full_config(TINY_NET)
        te = DI.Teachers(cfg, LABELS, student, store, items[:16], items[16:], T.eval_file)
        key = D.item_key(items[0])
        x = store.get(key, "orig")
        want = np.mean([T.eval_file(M.load_checkpoint(os.path.join(d, "checkpoint.pt"))[0], x, 3.0)
                        for d in dirs], axis=0)
        got = te.targets([(key, "orig"), (key, "orig")])
        check(got.shape == (2, 3) and np.allclose(got.numpy(), want, atol=1e-6),
              "target = mean of the teachers' file posteriors at T")
        check(abs(float(got[0].sum()) - 1.0) < 1e-5, "targets sum to 1")
        sharp = np.mean([T.eval_file(M.load_checkpoint(os.path.join(d, "checkpoint.pt"))[0], x)
                         for d in dirs], axis=0)
        check(np.abs(sharp - want).max() > 1e-4, "T changes the targets (the test can tell)")
        te.targets([(key, "orig")])
        check(te.summary()["targets"] == 1, "one target per (file, version), computed once")

        def refused(what, **change):
            kw = dict(d=cfg, labels=LABELS, student_config=student, store=store,
                      train_items=items[:16], val_items=items[16:], file_posteriors=T.eval_file)
            kw.update(change)
            try:
                DI.Teachers(**kw)
            except ValueError as e:
                check(what in str(e), "error names %r: %s" % (what, e))
            else:
                check(False, "accepted: %s" % what)
        refused("other speakers or utterances", train_items=items[:12])
        refused("labels", labels=["a", "b", "z"])
        refused("cmvn", student_config=M.full_config(dict(TINY_NET, cmvn="none")))
        refused("{fold}", d=dict(cfg, teachers=[os.path.join(root, "{fold}")]))
        refused("denoise_db", denoise_db=-15)

        # Lists: the same files pass, another test list is refused.
        fold = os.path.join(root, "student")
        for d in dirs + [fold]:
            os.makedirs(os.path.join(d, "lists"), exist_ok=True)
            for part, its in (("train", items[:16]), ("val", items[16:20]), ("test", items[20:])):
                D.write_list(os.path.join(d, "lists", part + ".csv"), its)
        DI.check_lists(dirs, fold)
        D.write_list(os.path.join(dirs[1], "lists", "test.csv"), items[19:])
        try:
            DI.check_lists(dirs, fold)
        except ValueError as e:
            check("test list" in str(e) and dirs[1] in str(e), "names teacher and list: %s" % e)
        else:
            check(False, "a teacher with another test list accepted")
        check(DI.resolve(dict(cfg, teachers=["r/{fold}/x"]), "seed3")["teachers"] == ["r/seed3/x"],
              "{fold} resolved")


def t_run():
    """A run with teachers trains, records its targets, and ends elsewhere than without them."""
    import torch
    import train as T
    torch.set_num_threads(1)
    items = fake_items("emodb", 4, 2, LABELS)
    store = SyntheticStore()
    with tempfile.TemporaryDirectory() as root:
        teacher = os.path.join(root, "teacher")
        train_teacher(teacher, items, 5, store)
        runs = {}
        for name, distill in (("plain", {}), ("kd", {"teachers": [teacher], "weight": 0.9})):
            d = os.path.join(root, name)
            model, meta = T.train(tiny_run_config(distill=distill, versions=["orig", "x"]),
                                  items[:16], items[16:], LABELS, store, d, log=DEVNULL)
            runs[name] = (model.state_dict(), meta)
        kd = runs["kd"][1]["distill"]
        check(kd["teachers"] == 1 and 1 <= kd["targets"] <= 32 and kd["weight"] == 0.9,
              "run.json records the distillation: %r" % kd)
        check(0.0 < kd["mean_entropy_nats"] <= np.log(3) + 1e-6, "targets' entropy recorded")
        a, b = runs["plain"][0], runs["kd"][0]
        check(max(float((a[k].float() - b[k].float()).abs().max()) for k in a) > 1e-4,
              "the soft targets reach the weights")
        check("distill" not in runs["plain"][1], "a plain run records no distillation")


CASES = {"loss": t_loss, "teachers": t_teachers, "run": t_run}

if __name__ == "__main__":
    run_case(CASES)

"""Which epoch's weights a training run keeps (train.py; the rules are described in its
docstring: select_window, select_compare, validation "train"). No I/O; the picks copy the
weights they keep."""

import copy


def selection_score(val_uars, k):
    """What early stopping compares after epoch len(val_uars): the mean validation UAR of the
    last k epochs, or None before the k-th epoch (which then cannot be kept)."""
    if len(val_uars) < k:
        return None
    return sum(val_uars[-k:]) / k


class EpochPick:
    """The epoch the select_window k rule keeps so far, and a copy of its weights."""

    def __init__(self, k):
        self.k = k
        self.best = {"score": -1.0}
        self.state = None

    def update(self, history, final, kept):
        """After an epoch: True if it is the new pick, False if not, None if the rule cannot
        judge it yet (before the k-th epoch; the final epoch of a shorter run is judged alone)."""
        score = selection_score([h["val_uar"] for h in history], self.k)
        if score is None and final:
            score = history[-1]["val_uar"]
        if score is None:
            return None
        if score <= self.best["score"]:
            return False
        h = history[-1]
        self.best = {"score": score, "uar": h["val_uar"], "acc": h["val_acc"], "epoch": h["epoch"]}
        self.state = copy.deepcopy(kept.state_dict())
        return True


class FinalEpoch:
    """validation "train": nothing judges the epochs; the final one is kept (EpochPick's
    interface, with no validation figures)."""

    def __init__(self):
        self.best = {"score": None, "uar": None, "acc": None, "epoch": 0}
        self.state = None

    def update(self, history, final, kept):
        if not final:
            return None
        self.best = {"score": None, "uar": None, "acc": None, "epoch": history[-1]["epoch"]}
        self.state = copy.deepcopy(kept.state_dict())
        return True

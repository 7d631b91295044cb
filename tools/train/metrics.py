"""Classification figures shared by training, baselines and protocols: accuracy, macro-F1,
unweighted average recall (UAR = mean per-class recall over the classes present in the truth),
confusion matrix (rows = true, columns = predicted). Same definitions as `emotion eval` (C)."""

import json

import numpy as np


def confusion(y_true, y_pred, n):
    cm = np.zeros((n, n), dtype=np.int64)
    for t, p in zip(y_true, y_pred):
        cm[int(t), int(p)] += 1
    return cm


def figures(y_true, y_pred, labels):
    n = len(labels)
    cm = confusion(y_true, y_pred, n)
    total = cm.sum()
    acc = float(np.trace(cm)) / total if total else 0.0
    support = cm.sum(1)
    predicted = cm.sum(0)
    recalls, f1s = [], []
    for k in range(n):
        if support[k] == 0:
            continue  # a class absent from the truth (EMO-DB has no "surprised") is not averaged
        tp = cm[k, k]
        rec = tp / support[k]
        prec = tp / predicted[k] if predicted[k] else 0.0
        f1 = 2 * prec * rec / (prec + rec) if prec + rec > 0 else 0.0
        recalls.append(rec)
        f1s.append(f1)
    return {
        "n": int(total),
        "accuracy": acc,
        "macro_f1": float(np.mean(f1s)) if f1s else 0.0,
        "uar": float(np.mean(recalls)) if recalls else 0.0,
        "labels": list(labels),
        "confusion": cm.tolist(),
    }


def mean_std(values):
    v = np.asarray(values, dtype=np.float64)
    if len(v) == 0:
        return {"mean": None, "std": None, "n": 0}
    return {"mean": float(v.mean()), "std": float(v.std(ddof=1)) if len(v) > 1 else 0.0,
            "n": int(len(v))}


def pooled(results, labels):
    """Figures of the union of several folds' predictions (confusions summed)."""
    cm = np.zeros((len(labels), len(labels)), dtype=np.int64)
    for r in results:
        cm += np.asarray(r["confusion"], dtype=np.int64)
    yt, yp = [], []
    for i in range(len(labels)):
        for j in range(len(labels)):
            yt += [i] * int(cm[i, j])
            yp += [j] * int(cm[i, j])
    return figures(yt, yp, labels)


def fmt(fig):
    return "acc %.1f %%  UAR %.1f %%  macro-F1 %.3f  (n=%d)" % (
        100 * fig["accuracy"], 100 * fig["uar"], fig["macro_f1"], fig["n"])


def save_json(path, obj):
    with open(path, "w") as f:
        json.dump(obj, f, indent=1, sort_keys=True)
        f.write("\n")


def plot_confusion(fig, path, title=""):
    """PNG of the confusion matrix (row-normalised colours, counts printed)."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    cm = np.asarray(fig["confusion"], dtype=np.float64)
    labels = fig["labels"]
    rown = cm / np.maximum(cm.sum(1, keepdims=True), 1)
    f, ax = plt.subplots(figsize=(1.0 + 0.8 * len(labels), 0.8 + 0.7 * len(labels)))
    ax.imshow(rown, cmap="Blues", vmin=0, vmax=1)
    ax.set_xticks(range(len(labels)))
    ax.set_xticklabels(labels, rotation=45, ha="right")
    ax.set_yticks(range(len(labels)))
    ax.set_yticklabels(labels)
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    for i in range(len(labels)):
        for j in range(len(labels)):
            if cm[i, j]:
                ax.text(j, i, "%d" % cm[i, j], ha="center", va="center",
                        color="white" if rown[i, j] > 0.5 else "black", fontsize=8)
    ax.set_title(title or "acc %.1f %%, UAR %.1f %%" % (100 * fig["accuracy"], 100 * fig["uar"]),
                 fontsize=9)
    f.tight_layout()
    f.savefig(path, dpi=110)
    plt.close(f)

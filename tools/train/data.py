"""Corpus listing, label maps, speakers and splits for training and evaluation.

One item = one utterance: dict(corpus, path (relative to the corpus dir), speaker ("ravdess:01",
"emodb:03"), gender, native (the corpus' own label), label (index into the run's label list)).

Label sets
----------
"unified7" (the shipped model; both corpora): neutral, happy, sad, angry, fearful, disgust,
    surprised.  RAVDESS calm -> neutral and EMO-DB boredom -> neutral: both are low-arousal states
    that a live listener would not call an emotion episode, and a 7-way output that names
    "calm"/"bored" only for one language would teach the model the corpus, not the emotion.
    EMO-DB has no "surprised" (the class is learnt from RAVDESS only).
"native": the corpus' own classes (RAVDESS 8, EMO-DB 7), for per-corpus protocols comparable with
    the literature. A per-corpus run may add the other corpus as extra training data
    (extra_items()): only the classes both corpora name alike cross over (SHARED_NATIVE); RAVDESS
    calm and surprised and EMO-DB boredom have no counterpart in the other corpus and stay out.

Splits are pure functions of (items, seed) and never look at audio.
"""

import csv
import os
import random

UNIFIED7 = ["neutral", "happy", "sad", "angry", "fearful", "disgust", "surprised"]
RAVDESS_NATIVE = ["neutral", "calm", "happy", "sad", "angry", "fearful", "disgust", "surprised"]
EMODB_NATIVE = ["anger", "boredom", "disgust", "fear", "happiness", "sadness", "neutral"]

TO_UNIFIED = {
    "ravdess": {"neutral": "neutral", "calm": "neutral", "happy": "happy", "sad": "sad",
                "angry": "angry", "fearful": "fearful", "disgust": "disgust",
                "surprised": "surprised"},
    "emodb": {"anger": "angry", "boredom": "neutral", "disgust": "disgust", "fear": "fearful",
              "happiness": "happy", "sadness": "sad", "neutral": "neutral"},
}

CORPORA = ("ravdess", "emodb")

# (extra corpus, target corpus) -> {extra's native label: target's native label}.
SHARED_NATIVE = {
    ("ravdess", "emodb"): {"neutral": "neutral", "happy": "happiness", "sad": "sadness",
                           "angry": "anger", "fearful": "fear", "disgust": "disgust"},
    ("emodb", "ravdess"): {"neutral": "neutral", "happiness": "happy", "sadness": "sad",
                           "anger": "angry", "fear": "fearful", "disgust": "disgust"},
}

# Speakers never used for training or model selection of the shipped model; the regression test
# and the model card's held-out figures use exactly these (models/heldout.txt lists the files).
HELDOUT_SPEAKERS = ("ravdess:23", "ravdess:24", "emodb:15", "emodb:16")
# Validation speakers (early stopping) of the shipped model: training speakers, 1 m + 1 f each.
SHIPPED_VAL_SPEAKERS = ("ravdess:21", "ravdess:22", "emodb:03", "emodb:14")


def data_dir(explicit=None):
    d = explicit or os.environ.get("EMOTIOND_DATA") or "/work/shared/data"
    return os.path.abspath(d)


def label_list(label_set, corpus=None):
    if label_set == "unified7":
        return list(UNIFIED7)
    if label_set == "native":
        if corpus == "ravdess":
            return list(RAVDESS_NATIVE)
        if corpus == "emodb":
            return list(EMODB_NATIVE)
        raise ValueError("label_set 'native' needs exactly one corpus, got %r" % (corpus,))
    raise ValueError("unknown label_set %r (unified7 | native)" % (label_set,))


def load_corpus(corpus, root=None):
    """Rows of <root>/<corpus>/labels.csv as items without a label index."""
    if corpus not in CORPORA:
        raise ValueError("unknown corpus %r (known: %s)" % (corpus, ", ".join(CORPORA)))
    path = os.path.join(data_dir(root), corpus, "labels.csv")
    if not os.path.exists(path):
        raise FileNotFoundError("%s: no such file (is EMOTIOND_DATA the corpus dir?)" % path)
    items = []
    with open(path, newline="") as f:
        for row in csv.DictReader(f):
            items.append({
                "corpus": corpus,
                "path": row["path"],
                "speaker": "%s:%s" % (corpus, row["speaker"]),
                "gender": row["gender"],
                "native": row["label"],
                "duration": float(row["duration_s"]),
            })
    return items


def load_items(corpora, label_set, root=None):
    """Items of the given corpora with "label" (index) and "label_name" for label_set.
    Returns (items, labels)."""
    corpora = list(corpora)
    labels = label_list(label_set, corpora[0] if len(corpora) == 1 else None)
    if label_set == "native" and len(corpora) != 1:
        raise ValueError("label_set 'native' is per corpus")
    items = []
    for c in corpora:
        for it in load_corpus(c, root):
            name = TO_UNIFIED[c][it["native"]] if label_set == "unified7" else it["native"]
            it["label_name"] = name
            it["label"] = labels.index(name)
            items.append(it)
    return items, labels


def extra_items(extra_corpora, target, labels, root=None):
    """Utterances of extra_corpora labelled in the target corpus' native labels (SHARED_NATIVE);
    those of classes the target does not name are left out. For training only: a per-corpus
    protocol's validation and test parts stay the target corpus'."""
    out = []
    for c in extra_corpora:
        if c == target or (c, target) not in SHARED_NATIVE:
            raise ValueError("extra corpus %r: needs another corpus than %r (known: %s)"
                             % (c, target, ", ".join(x for x in CORPORA if x != target)))
        shared = SHARED_NATIVE[(c, target)]
        for it in load_corpus(c, root):
            if it["native"] in shared:
                it["label_name"] = shared[it["native"]]
                it["label"] = labels.index(it["label_name"])
                out.append(it)
    return out


def item_key(it):
    """Stable id of an utterance: "<corpus>/<path>" (also its relative path under the data dir)."""
    return "%s/%s" % (it["corpus"], it["path"])


def speakers(items):
    return sorted({it["speaker"] for it in items})


def by_speakers(items, spk):
    spk = set(spk)
    return [it for it in items if it["speaker"] in spk]


def without_speakers(items, spk):
    spk = set(spk)
    return [it for it in items if it["speaker"] not in spk]


# ---- splits ----

def stratified_split(items, fractions, seed):
    """Random split stratified by label (protocol 1). fractions e.g. (0.8, 0.1, 0.1); each class is
    shuffled with the seed and cut at the cumulative fractions (rounded). Returns a list of lists."""
    rng = random.Random(seed)
    parts = [[] for _ in fractions]
    by_label = {}
    for it in sorted(items, key=item_key):
        by_label.setdefault(it["label"], []).append(it)
    for lab in sorted(by_label):
        group = by_label[lab]
        rng.shuffle(group)
        n = len(group)
        edges, acc = [0], 0.0
        for f in fractions:
            acc += f
            edges.append(int(round(acc * n)))
        edges[-1] = n
        for k in range(len(fractions)):
            parts[k].extend(group[edges[k]:edges[k + 1]])
    return parts


def speaker_folds(corpus):
    """Protocol 2 test folds: RAVDESS 6 actor-disjoint folds of 4 consecutive actors (2 m + 2 f
    each), EMO-DB leave-one-speaker-out (10 folds). Lists of speaker ids."""
    if corpus == "ravdess":
        return [["ravdess:%02d" % a for a in range(4 * k + 1, 4 * k + 5)] for k in range(6)]
    if corpus == "emodb":
        return [["emodb:%s" % s] for s in ("03", "08", "09", "10", "11", "12", "13", "14", "15", "16")]
    raise ValueError("unknown corpus %r" % (corpus,))


def validation_speakers(items, test_speakers, n_per_gender=1, seed=0):
    """Validation speakers for early stopping, taken from the training speakers only (never the
    test fold): n_per_gender male and female speakers, chosen with the seed."""
    test = set(test_speakers)
    rng = random.Random("%s|%s" % (seed, ",".join(sorted(test))))
    gender = {}
    for it in items:
        if it["speaker"] not in test:
            gender[it["speaker"]] = it["gender"]
    val = []
    for g in ("male", "female"):
        cands = sorted(s for s, gg in gender.items() if gg == g)
        rng.shuffle(cands)
        val.extend(cands[:n_per_gender])
    return sorted(val)


def write_list(path, items):
    """CSV list (path relative to the data dir, label name, speaker): what `emotion eval` reads."""
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    with open(path, "w", newline="") as f:
        w = csv.writer(f, lineterminator="\n")
        w.writerow(["path", "label", "speaker"])
        for it in sorted(items, key=item_key):
            w.writerow([item_key(it), it["label_name"], it["speaker"]])


def read_list(path):
    with open(path, newline="") as f:
        return [dict(r) for r in csv.DictReader(f)]


def class_counts(items, n_labels):
    c = [0] * n_labels
    for it in items:
        c[it["label"]] += 1
    return c

#!/usr/bin/python3
"""Per-split noise versions (augment.py "babblesame": babble of the utterance's own corpus whose
talkers never include the split's validation or test files), on a corpus the test makes (always
runs, no corpora needed). Every file is one pure tone whose frequency names the file, a whole
number of cycles long, so the babble's spectrum says exactly which files talk in it.

- the talkers of every copy come from the pool: same corpus, another speaker, not a held-out
  speaker, not a left-out file; five of them;
- the SNR and gain do not depend on the split; remaking a copy gives the same bytes;
- the cache name depends on the left-out set only (not its order); a wrong set, a missing one,
  or a set given to another version is refused;
- protocols.py trains each fold on its own copies (the fold's validation and test files left out),
  with the twins' list renamed alike, and train.py the shipped split on copies without its
  validation and held-out speakers' files; train() refuses the unresolved name;
- features.py --prune-split-versions removes every split's copies (WAV and features) and keeps
  every other version.

    test_split_versions.py EMOTION_BIN
"""

import contextlib
import io
import json
import os
import sys
import tempfile

import numpy as np
import torch
from scipy.io import wavfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import test_train_py as TT  # noqa: E402  (check, TINY_NET; puts tools/train on the path)

import augment as A  # noqa: E402
import data as D  # noqa: E402
import features as FE  # noqa: E402
import protocols as P  # noqa: E402
import train as T  # noqa: E402

check = TT.check   # exits on the first failure
N = 12800          # 0.8 s at 16 kHz: bin k of the FFT is k x 1.25 Hz
LABELS = ("anger", "neutral")


def tone_bin(i):
    """The FFT bin of file i's tone (100 + 25 i Hz: 80 + 20 i whole cycles in N samples)."""
    return 80 + 20 * i


def write_corpus(data):
    """EMO-DB's ten speakers, one file per label, file i a tone in bin tone_bin(i)."""
    items = []
    for s in [s.split(":")[1] for f in D.speaker_folds("emodb") for s in f]:
        for lab in LABELS:
            items.append({"corpus": "emodb", "path": "%s%s.wav" % (s, lab[0]),
                          "speaker": "emodb:" + s, "native": lab,
                          "gender": "male" if int(s) % 2 else "female"})
    TT.write_labels_csv(data, items)
    for i, it in enumerate(items):
        # quiet: the copies' gain never meets the clip guard, so their tones compare
        x = 0.05 * np.sin(2 * np.pi * tone_bin(i) * np.arange(N) / N)
        wavfile.write(os.path.join(data, "emodb", it["path"]), 16000,
                      (x * 32767).astype(np.int16))
    return D.load_corpus("emodb", data)


def talkers(y, n_files):
    """Which files' tones a copy holds (bins with over 1 % of the strongest's magnitude)."""
    mag = np.abs(np.fft.rfft(y.astype(np.float64)))[[tone_bin(i) for i in range(n_files)]]
    return set(np.flatnonzero(mag > 0.01 * mag.max()).tolist())


def load_json(path):
    with open(path) as f:
        return json.load(f)


def read(cache, version, it):
    _, y = wavfile.read(A.wav_path(cache, version, D.item_key(it)))
    return y


def check_pool(data, cache, items):
    index = {D.item_key(it): i for i, it in enumerate(items)}
    left_out = [it for it in items if it["speaker"] in ("emodb:03", "emodb:08")] + items[4:5]
    name = A.split_version("babblesame", left_out)
    check(name == A.split_version("babblesame", list(reversed(left_out))),
          "the name does not depend on the left-out files' order")
    other = A.split_version("babblesame", left_out[:-1])
    check(name != other and name.startswith("babblesame-"), "names %s / %s" % (name, other))
    for bad, why in ((lambda: A.make_version(name, items, items, data, cache),
                      "no left-out files"),
                     (lambda: A.make_version(name, items, items, data, cache,
                                             left_out=left_out[:-1]), "another left-out set"),
                     (lambda: A.make_version("babblespk", items, items, data, cache,
                                             left_out=left_out), "a version made once"),
                     (lambda: A.split_version("babble", left_out), "not a per-split version")):
        try:
            bad()
        except ValueError as e:
            check("version" in str(e), "%s: the error says why: %s" % (why, e))
        else:
            check(False, "%s: accepted" % why)

    check(A.make_version(name, items, items, data, cache, log=None, left_out=left_out)
          == len(items), "a copy of every file")
    skip = {D.item_key(it) for it in left_out}
    for it in items:
        pool = {index[D.item_key(o)] for o in items
                if o["speaker"] != it["speaker"] and o["speaker"] not in D.HELDOUT_SPEAKERS
                and D.item_key(o) not in skip}
        heard = talkers(read(cache, name, it), len(items)) - {index[D.item_key(it)]}
        check(len(heard) == 5 and heard <= pool,
              "%s: talkers %s, want 5 of the pool %s" % (it["path"], sorted(heard), sorted(pool)))

    # The same SNR and gain whatever the pool: the copy's own tone has the same amplitude.
    check(A.make_version(other, items, items, data, cache, log=None, left_out=left_out[:-1])
          == len(items), "the other split's copies")
    for it in items[:6]:
        i = index[D.item_key(it)]
        amp = [np.abs(np.fft.rfft(read(cache, v, it).astype(np.float64)))[tone_bin(i)]
               for v in (name, other)]
        check(abs(amp[0] / amp[1] - 1) < 0.01, "%s: own tone %.0f / %.0f in the two splits"
              % (it["path"], amp[0], amp[1]))
    one = A.wav_path(cache, name, D.item_key(items[7]))
    with open(one, "rb") as f:
        before = f.read()
    os.remove(one)
    check(A.make_version(name, items, items, data, cache, log=None, left_out=left_out) == 1,
          "only the removed copy is remade")
    with open(one, "rb") as f:
        check(f.read() == before, "the remade copy is the same, byte for byte")


def check_protocol(data, cache, items):
    FE.extract("orig", cache, data, log=io.StringIO())
    cfg = {"epochs": 1, "batch": 8, "crop_min": 40, "crop_max": 60,
           "versions": ["orig", "babblesame"], "version_weights": {"babblesame": 2},
           "noise_pairs": {"versions": ["babblesame"], "weight": 1.0},
           "model": dict(TT.TINY_NET, cmvn="speaker")}
    try:
        T.train(dict(cfg, corpora=["emodb"], label_set="native"), items, items,
                D.label_list("native", "emodb"), None, os.path.join(cache, "x"))
    except ValueError as e:
        check("babblesame" in str(e) and "per split" in str(e), "unresolved name: %s" % e)
    else:
        check(False, "train() accepted the unresolved name")
    with tempfile.TemporaryDirectory() as out:
        with contextlib.redirect_stdout(io.StringIO()):
            P.run("p2", "emodb", cfg, out, {0, 3}, data, cache, noise=False, log=io.StringIO())
        names = []
        for fold in ("fold0", "fold3"):
            d = os.path.join(out, fold)
            lists = [dict(r, path=r["path"].split("/", 1)[1], corpus="emodb")
                     for p in ("val", "test") for r in D.read_list(os.path.join(d, "lists",
                                                                                p + ".csv"))]
            want = A.split_version("babblesame", lists)
            got = load_json(os.path.join(d, "run.json"))["train_config"]
            check(got["versions"] == ["orig", want] and got["noise_pairs"]["versions"] == [want]
                  and got["version_weights"] == {want: 2},
                  "%s trained on %s, want the fold's %s" % (fold, got["versions"], want))
            feats = [FE.feat_path(cache, want, D.item_key(it)) for it in items]
            check(all(os.path.exists(p) for p in feats), "%s: features of every copy" % fold)
            names.append(want)
        check(names[0] != names[1], "each fold its own copies")
        check(not os.path.exists(os.path.join(out, "fold1")), "only the folds asked for")


def check_shipped(data, cache, items):
    """train.py's shipped split: its copies leave out the validation and held-out speakers' files."""
    left_out = [it for it in items if it["speaker"] in D.SHIPPED_VAL_SPEAKERS + D.HELDOUT_SPEAKERS]
    want = A.split_version("babblesame", left_out)
    with tempfile.TemporaryDirectory() as out:
        cfg = os.path.join(out, "cfg.json")
        with open(cfg, "w") as f:
            json.dump({"corpora": ["emodb"], "epochs": 1, "batch": 8, "crop_min": 40,
                       "crop_max": 60, "versions": ["orig", "babblesame"],
                       "noise_pairs": {"versions": ["babblesame"], "weight": 1.0},
                       "model": dict(TT.TINY_NET, cmvn="speaker")}, f)
        with contextlib.redirect_stdout(io.StringIO()):
            T.main(["--config", cfg, "--out", os.path.join(out, "run"), "--cache", cache,
                    "--data", data])
        got = load_json(os.path.join(out, "run", "run.json"))["train_config"]
        check(got["versions"] == ["orig", want] and got["noise_pairs"]["versions"] == [want],
              "shipped split trained on %s, want %s" % (got["versions"], want))


def check_prune(cache):
    """features.py --prune-split-versions removes the per-split copies everywhere, nothing else."""
    def listing(top):
        return sorted(os.listdir(os.path.join(cache, top)))
    # a version made once and a suppressor's feature tree stand beside the copies
    for d in ("wav/babble10", "feat-denoise15/orig", "feat-denoise15/babblesame-0123456789"):
        os.makedirs(os.path.join(cache, d))
        open(os.path.join(cache, d, "x.npy"), "wb").close()
    made = [v for top in ("wav", "feat") for v in listing(top) if v.startswith("babblesame-")]
    check(len(made) >= 4, "copies to prune: %s" % made)
    orig = listing("feat/orig/emodb")
    err = io.StringIO()
    with contextlib.redirect_stderr(err):
        FE.main(["--cache", cache, "--prune-split-versions"])
    check("removed %d per-split" % (len(made) + 1) in err.getvalue(),
          "says what: %s" % err.getvalue())
    for top in ("wav", "feat", "feat-denoise15"):
        check(not [v for v in listing(top) if v.startswith("babblesame")],
              "%s: copies left %s" % (top, listing(top)))
    check(listing("wav") == ["babble10"] and listing("feat-denoise15") == ["orig"]
          and listing("feat/orig/emodb") == orig,
          "other versions kept: %s %s" % (listing("wav"), listing("feat-denoise15")))


def main():
    os.environ["EMOTION_BIN"] = sys.argv[1]
    torch.set_num_threads(1)
    with tempfile.TemporaryDirectory() as tmp:
        data, cache = os.path.join(tmp, "data"), os.path.join(tmp, "cache")
        items = write_corpus(data)
        check_pool(data, cache, items)
        check_protocol(data, cache, items)
        check_shipped(data, cache, items)
        check_prune(cache)
    print("ok: per-split babble versions")


if __name__ == "__main__":
    main()

"""A protocol run's folds read back from disk: the kept model of each fold and one of its lists
as items, over the feature store that fold's checkpoint was trained with (its front end's
denoise_db and its speaker normaliser). protocols.py writes RUN/<fold>/checkpoint.pt and
RUN/<fold>/lists/{train,val,test}.csv; valnoise.py and speaker_probe.py re-measure them.
"""

import glob
import os
import re

import data as D
import features as FE
import model as M


def fold_index(fold_dir):
    """The fold's number as protocols.py names it ("fold3" / "seed3" -> 3), else None."""
    m = re.fullmatch(r"(?:fold|seed)(\d+)", os.path.basename(os.path.normpath(fold_dir)))
    return int(m.group(1)) if m else None


def fold_dirs(run, part, wanted=None):
    """The run's fold directories that hold a checkpoint and lists/<part>.csv, sorted; with
    wanted (a set of fold numbers) only those folds, by name, not by position (a run may lack
    some folds)."""
    return sorted(d for d in glob.glob(os.path.join(run, "*"))
                  if os.path.exists(os.path.join(d, "checkpoint.pt"))
                  and os.path.exists(os.path.join(d, "lists", part + ".csv"))
                  and (wanted is None or fold_index(d) in wanted))


class FoldReader:
    """Reads folds; one store per distinct input (corpora, labels, front end, normaliser), so
    the folds of a run share one."""

    def __init__(self, versions, cache=FE.DEFAULT_CACHE, data=None, wrap=None):
        """wrap (optional): store -> store, applied to each FeatureStore before the speaker
        normaliser (pitch_swap.py's column swap)."""
        self.versions = list(versions)
        self.cache = cache
        self.data = data
        self.wrap = wrap
        self._stores = {}

    def read(self, fold_dir, part, checkpoint="checkpoint.pt"):
        """(model in eval mode, checkpoint dict, the list's items in its order, store, labels);
        checkpoint: another file of the fold (train.py select_compare's)."""
        model, ck = M.load_checkpoint(os.path.join(fold_dir, checkpoint))
        cfg, db = ck["config"], int(ck["dsp_params"].get("denoise_db", 0))
        tc = ck["meta"]["train_config"]
        key = (tuple(tc["corpora"]), tc["label_set"], db, cfg["cmvn"], cfg["cmvn_eps"],
               cfg.get("level_floor", 0.0), FE.run_pitch(tc))
        if key not in self._stores:
            items, labels = D.load_items(list(tc["corpora"]), tc["label_set"], self.data)
            store = FE.FeatureStore(self.cache, self.versions, db, pitch=FE.run_pitch(tc))
            if self.wrap is not None:
                store = self.wrap(store)
            if cfg["cmvn"] in M.SPEAKER_CMVN:
                store = FE.SpeakerNormStore(store, items, cfg["cmvn_eps"],
                                            cfg["cmvn"] == "speaker-mean",
                                            cfg.get("level_floor", 0.0))
            self._stores[key] = (store, {D.item_key(it): it for it in items}, labels)
        store, by_key, labels = self._stores[key]
        rows = D.read_list(os.path.join(fold_dir, "lists", part + ".csv"))
        return model, ck, [by_key[r["path"]] for r in rows], store, labels

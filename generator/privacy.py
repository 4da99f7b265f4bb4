"""Keep synthetic ECGs away from the training patients: a privacy reference and
a generation that redraws any ECG that comes too close.

"Too close" is judged against real patients the generator never saw: the
reference holds the training records of a dataset folder (its ``train`` split,
and the records of any other folder the generator learnt from: its shape and
millivolt data) and the highest similarity (``generator.similarity``) that any
of its ``val`` and ``test`` records reaches to one of them, leaving out records
filed twice; a folder with such patients of its own (PTB-XL's) is judged by
those.
A synthetic ECG at or above that ceiling is closer to a training patient than
any unseen patient comes, so it is drawn again with a new seed, and the number
of redraws is kept with it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache

import numpy as np

from generator.ecg import CANONICAL_FS
from generator.similarity import Collection, WaveformIndex, unseen_ceiling

MAX_REDRAWS = 5


@dataclass
class PrivacyReference:
    index: WaveformIndex  # the training records
    ids: list[str]
    # per training record: the closest an unseen real patient of its collection
    # comes to one of that collection's training records
    ceilings: np.ndarray

    @property
    def ceiling(self) -> float:
        """The lowest bar of any collection."""
        return float(self.ceilings.min())

    def nearest(self, signal: np.ndarray) -> tuple[float, str, float]:
        """(similarity, id, bar) of the training record closest to ``signal``
        against its collection's bar (the one it comes nearest to passing)."""
        values = self.index.similarities(signal)
        best = int((values - self.ceilings).argmax())
        return float(values[best]), self.ids[best], float(self.ceilings[best])

    def too_close(self, signal: np.ndarray) -> bool:
        similarity, _, ceiling = self.nearest(signal)
        return similarity >= ceiling


def build_reference(
    train: Sequence[np.ndarray],
    train_ids: Sequence[str],
    unseen: Sequence[np.ndarray],
    fs: float = CANONICAL_FS,
    collections: Sequence[Collection] | None = None,
) -> PrivacyReference:
    """A reference from canonical (12, L) training and unseen ECGs; with
    ``collections``, each part of ``train`` judged by its own unseen patients
    (generator.similarity.Collection), the rest by ``unseen``."""
    if not len(train) or not len(unseen):
        raise ValueError("a privacy reference needs training and unseen records")
    if collections is None:
        collections = [Collection("train", np.arange(len(train)))]
    index = WaveformIndex(fs, train[0].shape[-1])
    for signal in train:
        index.add(signal)
    ceilings = np.full(len(train), np.nan)
    for group in collections:
        judges = unseen if group.unseen is None else group.unseen
        closest = [index.similarities(signal)[group.rows].max() for signal in judges]
        ceilings[group.rows] = unseen_ceiling(np.array(closest))[0]
    if np.isnan(ceilings).any():
        raise ValueError("every training record needs a collection")
    return PrivacyReference(index=index, ids=list(train_ids), ceilings=ceilings)


@lru_cache(maxsize=2)
def load_reference(folder: str, learnt_from: tuple[str, ...] = ()) -> PrivacyReference:
    """The reference of an index.csv folder (like ../shared/ecg): its ``train``
    records and those of ``learnt_from`` (generator.data.learnt_ecgs), judged by
    its ``val`` and ``test`` records, and each ``learnt_from`` folder with such
    patients of its own by those: the same bars as generator.evaluate's audit.
    Cached per process."""
    from generator.evaluate import UNSEEN_SPLITS, learnt_set, load_split, load_unseen

    train, collections = learnt_set(
        load_split(folder, "train"), learnt_from, UNSEEN_SPLITS
    )
    return build_reference(
        train.signals,
        train.ids,
        load_unseen(folder).signals,
        collections=collections,
    )


def redraw_seed(seed: int, index: int, attempt: int) -> int:
    """The seed of the ``attempt``-th redraw of ECG ``index`` of a run seeded
    ``seed``: reproducible from what the pool stores."""
    state = np.random.SeedSequence([seed, index, attempt, 7]).generate_state(1)
    return int(state[0])


@dataclass(frozen=True)
class PrivacyCheck:
    similarity: float  # to the closest training record, of the ECG kept
    nearest: str  # that record
    redraws: int  # how many ECGs were drawn again before this one was kept


def generate_private(
    generate_one, signals: np.ndarray, seed: int, reference: PrivacyReference
) -> tuple[np.ndarray, list[PrivacyCheck]]:
    """Redraw every ECG of ``signals`` (n, 12, L) too close to a training patient.

    ``generate_one(seed)`` draws one replacement (12, L). Raises ValueError if an
    ECG is still too close after MAX_REDRAWS redraws: the generator copies that
    patient, and no draw should hide it.
    """
    kept, checks = [], []
    for i, signal in enumerate(signals):
        similarity, nearest, ceiling = reference.nearest(signal)
        attempt = 0
        while similarity >= ceiling:
            attempt += 1
            if attempt > MAX_REDRAWS:
                raise ValueError(
                    f"ECG {i} stays closer to training record {nearest} "
                    f"(similarity {similarity:.3f}) than any unseen patient comes "
                    f"({ceiling:.3f}) after {MAX_REDRAWS} redraws"
                )
            signal = generate_one(redraw_seed(seed, i, attempt))
            similarity, nearest, ceiling = reference.nearest(signal)
        kept.append(signal)
        checks.append(PrivacyCheck(similarity, nearest, attempt))
    return np.stack(kept), checks

"""The training set in memory: canonical signals, multi-hot labels, batches."""

from __future__ import annotations

import math
import zlib
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from generator.datasets import FORMATS, SourceRecord, iter_index, iter_records
from generator.ecg import (
    CANONICAL_FS,
    DURATION_S,
    EcgError,
    canonicalize,
    read_wfdb,
    reduce_to_8,
)

NORMAL_LABEL = "NORM"
RHYTHM_ORDER = ("SR", "AF", "AFL", "SB", "STach", "SA", "PACED", "other")


def record_labels(record: SourceRecord) -> list[str]:
    """A record's names in the demo vocabulary: its rhythm class, NORM if normal."""
    return [record.rhythm] + ([NORMAL_LABEL] if record.normal else [])


def label_vocabulary(records: Iterable[SourceRecord]) -> list[str]:
    """Rhythm classes that occur, in a fixed order, then NORM."""
    present = {record.rhythm for record in records}
    return [r for r in RHYTHM_ORDER if r in present] + [NORMAL_LABEL]


def multi_hot(names: Sequence[str], vocabulary: Sequence[str]) -> np.ndarray:
    """(K,) float32 with a 1 for each name; unknown names are an error."""
    unknown = [name for name in names if name not in vocabulary]
    if unknown:
        raise ValueError(
            f"unknown label(s) {unknown}; this checkpoint knows {list(vocabulary)}"
        )
    vector = np.zeros(len(vocabulary), dtype=np.float32)
    for name in names:
        vector[list(vocabulary).index(name)] = 1.0
    return vector


def split_records(
    root: str | Path,
    fmt: str = "index",
    *,
    labels_csv: str | Path | None = None,
    val_fraction: float = 0.1,
) -> tuple[list[SourceRecord], list[SourceRecord]]:
    """(train, val) records; never the test split.

    ``fmt="index"`` reads a folder with `index.csv` and its `split` column. Any
    other format (see generator.datasets.FORMATS) keeps a source's own split where
    it has one; records without one go to train, except a deterministic
    ``val_fraction`` held out by a hash of the record id. ``labels_csv`` overrides
    a source's labels (see generator.datasets.iter_records).
    """
    if fmt == "index":
        if labels_csv is not None:
            raise ValueError("--labels-csv applies to the import formats, not index")
        return list(iter_index(root, ["train"])), list(iter_index(root, ["val"]))
    if fmt not in FORMATS:
        raise ValueError(
            f"unknown format {fmt!r}; allowed: index, {', '.join(FORMATS)}"
        )
    train, val = [], []
    for record in iter_records(root, fmt, labels_csv=labels_csv):
        split = record.split
        if split is None:
            key = f"{record.dataset}/{record.record_id}".encode()
            held_out = zlib.crc32(key) % 1000 < val_fraction * 1000
            split = "val" if held_out else "train"
        if split == "train":
            train.append(record)
        elif split == "val":
            val.append(record)
    return train, val


@dataclass
class SignalSet:
    """Whole records at the canonical rate, in memory, with their labels."""

    signals: list[np.ndarray]  # each (8, N_i) float32 mV, N_i >= length
    labels: np.ndarray  # (n, K) float32 multi-hot
    rhythms: list[str]  # one per record, for balancing
    skipped: int  # records that could not be put into canonical form


def load_signals(
    records: Sequence[SourceRecord],
    vocabulary: Sequence[str],
    *,
    fs: int = CANONICAL_FS,
    progress: bool = False,
) -> SignalSet:
    """Read each record whole (as many full seconds as it has, at least 10 s)."""
    signals, labels, rhythms, skipped = [], [], [], 0
    iterator: Iterable[SourceRecord] = records
    if progress:
        from tqdm import tqdm

        iterator = tqdm(records, desc="loading ECGs", mininterval=5)
    for record in iterator:
        try:
            raw = read_wfdb(record.path)
            duration = max(DURATION_S, math.floor(raw.duration_s))
            x = canonicalize(
                raw.signal, raw.fs, target_fs=fs, duration_s=duration, record=raw.record
            )
        except EcgError:
            skipped += 1
            continue
        names = [n for n in record_labels(record) if n in vocabulary]
        signals.append(np.ascontiguousarray(reduce_to_8(x)))
        labels.append(multi_hot(names, vocabulary))
        rhythms.append(record.rhythm)
    labels_array = np.stack(labels) if labels else np.zeros((0, len(vocabulary)))
    return SignalSet(signals, labels_array.astype(np.float32), rhythms, skipped)


class BatchSampler:
    """Random 10-s windows, rare rhythms oversampled, small amplitude scaling.

    A record is drawn with probability proportional to count(rhythm)^-balance
    (0: uniform over records, 1: uniform over rhythms). The amplitude factor is
    the same for all leads, so Einthoven and Goldberger still hold.
    """

    def __init__(
        self,
        data: SignalSet,
        length: int,
        *,
        balance: float = 0.5,
        amplitude_jitter: float = 0.1,
    ):
        if not data.signals:
            raise ValueError("no training records could be loaded")
        self.data = data
        self.length = length
        self.amplitude_jitter = amplitude_jitter
        counts = Counter(data.rhythms)
        weights = np.array([counts[r] ** -balance for r in data.rhythms])
        self.probabilities = torch.tensor(weights / weights.sum())

    def sample(
        self, batch_size: int, generator: torch.Generator
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """(x_0 (B, 8, length) mV, labels (B, K))."""
        index = torch.multinomial(
            self.probabilities, batch_size, replacement=True, generator=generator
        )
        windows = []
        for i in index.tolist():
            signal = self.data.signals[i]
            spare = signal.shape[1] - self.length
            start = int(torch.randint(0, spare + 1, (1,), generator=generator))
            windows.append(signal[:, start : start + self.length])
        x = torch.from_numpy(np.stack(windows))  # (B, 8, L)
        if self.amplitude_jitter:
            u = torch.rand(batch_size, 1, 1, generator=generator)
            x = x * (1 + self.amplitude_jitter * (2 * u - 1))
        return x, torch.from_numpy(self.data.labels[index.numpy()])


def first_windows(data: SignalSet, length: int) -> tuple[torch.Tensor, torch.Tensor]:
    """The first 10 s of every record, for a deterministic validation loss."""
    x = torch.from_numpy(np.stack([s[:, :length] for s in data.signals]))
    return x, torch.from_numpy(data.labels)

"""How alike two 12-lead ECGs are, whatever their amplitude and alignment.

The similarity of two ECGs is the Pearson correlation of their waveforms at the
best common time shift (up to MAX_SHIFT_S either way), averaged over the leads:
each lead is z-scored first, so a rescaled copy is still a copy, and a copy
cropped at another instant is still found. 1 is the same ECG; two different
patients' ECGs rarely pass 0.7. It serves the memorisation audit (is a synthetic
ECG closer to a training patient than unseen patients come?) and the pool (is a
record the same ECG as one already drawn into a study?).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

MAX_SHIFT_S = 2.0
# At and above this two ECGs are one recording, filed in two collections or at
# two rates: PTB-XL's 100-Hz file of record 1 (``../shared/ecg`` val) and the
# 500-Hz copy in the CinC 2021 set (train) reach 0.966, while the closest two
# distinct patients among 481 unseen and 1,853 training ECGs reach 0.84 (PTB-XL
# records among themselves; 0.72 for the millivolt test ECGs).
DUPLICATE_SIMILARITY = 0.95


def unseen_ceiling(similarities: np.ndarray) -> tuple[float, int]:
    """(the highest similarity of an unseen real record to a training one, the
    number of unseen records left out as the same recording filed twice).

    Public collections share recordings, so an "unseen" record can be a training
    one; left in, it would set the ceiling to 1 and nothing could ever be too
    close. Without any distinct record the ceiling is DUPLICATE_SIMILARITY.
    """
    similarities = np.asarray(similarities, dtype=float)
    duplicate = similarities >= DUPLICATE_SIMILARITY
    distinct = similarities[~duplicate]
    ceiling = float(distinct.max()) if distinct.size else DUPLICATE_SIMILARITY
    return ceiling, int(duplicate.sum())


@dataclass
class Collection:
    """One collection a generator learnt from: its rows in the set of training
    ECGs, and (n, 12, L) patients of the same collection the generator never saw
    (None: judged by the unseen patients of the dataset it was trained on).

    How alike two distinct patients are depends on the collection (one device,
    one filter, one population): the closest PTB-XL `test` patient comes to 0.84
    of a PTB-XL training patient, the closest mixed millivolt `test` patient of
    ``../shared/ecg`` to 0.70 of its training patients. Each collection's bar is
    set by its own unseen patients, as a nearest-record privacy test compares
    training data with a hold-out of the same distribution."""

    name: str
    rows: np.ndarray  # indices into the training ECGs
    unseen: np.ndarray | None = None


class WaveformIndex:
    """Spectra of a set of ECGs (n, leads, samples), for fast similarities."""

    def __init__(self, fs: float, n_samples: int):
        self.n_samples = n_samples
        self.max_lag = int(round(MAX_SHIFT_S * fs))
        if not 0 < self.max_lag < n_samples:
            raise ValueError(
                f"{n_samples} samples at {fs:g} Hz are too few for shifts of "
                f"{MAX_SHIFT_S:g} s"
            )
        self.n_fft = 1 << int(np.ceil(np.log2(2 * n_samples)))
        lags = np.arange(-self.max_lag, self.max_lag + 1)
        self._lag_index = lags % self.n_fft
        self._overlap = (n_samples - np.abs(lags)).astype(float)
        self._spectra: list[np.ndarray] = []  # each (leads, n_fft // 2 + 1)

    def __len__(self) -> int:
        return len(self._spectra)

    def spectrum(self, signal: np.ndarray) -> np.ndarray:
        """The z-scored leads of one ECG (leads, samples), in the frequency domain."""
        x = self.zscored(signal)
        if x.shape[1] != self.n_samples:
            raise ValueError(f"expected {self.n_samples} samples, got {x.shape[1]}")
        return np.fft.rfft(x, n=self.n_fft, axis=1)

    def zscored(self, signal: np.ndarray) -> np.ndarray:
        """Each lead of (leads, samples), cut to n_samples, at mean 0 and SD 1."""
        x = np.asarray(signal, dtype=np.float64)[:, : self.n_samples]
        x = x - x.mean(axis=1, keepdims=True)
        return x / np.maximum(x.std(axis=1, keepdims=True), 1e-9)

    def add(self, signal: np.ndarray) -> None:
        self._spectra.append(self.spectrum(signal))

    def _by_lag(self, query: np.ndarray, block: np.ndarray) -> np.ndarray:
        """(k, lags) lead-averaged correlation of a query spectrum's conjugate (1,
        leads, F) with k indexed spectra at every shift of up to max_lag."""
        # correlation at every circular lag, then only the real lags
        products = np.fft.irfft(block * query, n=self.n_fft, axis=2)
        return (products[:, :, self._lag_index] / self._overlap).mean(axis=1)

    def similarities(self, signal: np.ndarray, *, chunk: int = 256) -> np.ndarray:
        """(len(self),) similarity of ``signal`` to every ECG of the index."""
        if not self._spectra:
            return np.zeros(0)
        query = np.conj(self.spectrum(signal))[None]  # (1, leads, F)
        out = []
        for start in range(0, len(self._spectra), chunk):
            block = np.stack(self._spectra[start : start + chunk])  # (k, leads, F)
            out.append(self._by_lag(query, block).max(axis=1))
        return np.concatenate(out)

    def best_shift(self, signal: np.ndarray, which: int) -> tuple[int, float]:
        """(lag, similarity) of ``signal`` to indexed ECG ``which`` at its best
        shift: ``signal[:, t]`` lines up with that ECG's ``[:, t + lag]``."""
        query = np.conj(self.spectrum(signal))[None]
        by_lag = self._by_lag(query, self._spectra[which][None])[0]
        best = int(by_lag.argmax())
        return best - self.max_lag, float(by_lag[best])


def nearest(
    queries: np.ndarray, references: np.ndarray, fs: float, *, exclude_self=False
) -> tuple[np.ndarray, np.ndarray]:
    """For each query ECG, its highest similarity to a reference and that
    reference's index; ``exclude_self`` skips the diagonal when both are one set."""
    index = WaveformIndex(fs, references.shape[-1])
    for reference in references:
        index.add(reference)
    best = np.empty(len(queries))
    which = np.empty(len(queries), dtype=int)
    for i, query in enumerate(queries):
        values = index.similarities(query)
        if exclude_self:
            values[i] = -np.inf
        which[i] = int(values.argmax())
        best[i] = float(values[which[i]])
    return best, which


def aligned_pair(
    a: np.ndarray, b: np.ndarray, fs: float
) -> tuple[np.ndarray, np.ndarray, int, float]:
    """Two ECGs (leads, samples) as the similarity compares them: each lead
    z-scored, ``b`` shifted by the best lag (the samples it has no partner for
    left as NaN), and that lag in samples and the similarity. For drawing a
    pair whose closeness a reader is to judge by eye."""
    index = WaveformIndex(fs, a.shape[-1])
    index.add(b)
    lag, value = index.best_shift(a, 0)
    za, zb = index.zscored(a), index.zscored(b)
    shifted = np.full_like(zb, np.nan)
    if lag >= 0:
        shifted[:, : zb.shape[1] - lag] = zb[:, lag:]
    else:
        shifted[:, -lag:] = zb[:, :lag]
    return za, shifted, lag, value


class DuplicateGuard:
    """Remembers the ECGs taken so far and tells whether a new one repeats one."""

    def __init__(self, fs: float, n_samples: int, *, threshold: float):
        self.index = WaveformIndex(fs, n_samples)
        self.threshold = threshold

    def similarity(self, signal: np.ndarray) -> float:
        """The highest similarity of ``signal`` to any ECG taken; 0 if none."""
        values = self.index.similarities(signal)
        return float(values.max()) if values.size else 0.0

    def is_near_duplicate(self, signal: np.ndarray) -> bool:
        return self.similarity(signal) >= self.threshold

    def take(self, signal: np.ndarray) -> None:
        self.index.add(signal)

"""Beat timing: R peaks of real ECGs, the timing channels, and a rhythm prior.

With ``ModelConfig.timing_channels = 2`` the denoiser is told where the beats are:
for every sample, the time since the last R peak and the time until the next one.
The morphology model then only has to draw P-QRS-T around given beats, and the
rhythm comes from a prior fitted on the training records' RR intervals: a regular
sinus rhythm stays regular and atrial fibrillation stays irregular, which a small
model trained on a few hundred ECGs does not learn reliably on its own.

The prior keeps each training record's RR sequence with its labels. To draw a
rhythm for a label set it picks a record carrying those labels, starts its RR
sequence at a random beat (wrapping around), scales it by a random factor within
+/- ``RATE_JITTER`` and puts the first beat at a random phase. Only beat times
are taken from training records, never a waveform.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from scipy.signal import resample_poly

DETECTION_FS = 500  # NeuroKit2's detector is tuned for diagnostic rates
MAX_GAP_S = 2.5  # timing channels saturate here (a pause longer than this)
RATE_JITTER = 0.08  # the prior scales a record's RR intervals by 1 +/- this
MIN_RR_S, MAX_RR_S = 0.25, 2.5  # RR intervals outside are detection errors
REGULAR_RHYTHMS = ("SR", "SB", "STach", "PACED")  # one beat per expected interval
REGULAR_TOLERANCE = 0.25  # in those, an RR this far from the median is not kept


def find_r_peaks(lead: np.ndarray, fs: int) -> np.ndarray:
    """R-peak sample indices of one lead by NeuroKit2 (Makowski et al. 2021) at its
    own rate; empty when detection fails."""
    import neurokit2 as nk

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            _, info = nk.ecg_peaks(lead, sampling_rate=fs, method="neurokit")
        except Exception:  # noqa: BLE001 - NeuroKit raises many types on bad signals
            return np.zeros(0, dtype=int)
    return np.asarray(info["ECG_R_Peaks"], dtype=int)


def upsample_for_detection(lead: np.ndarray, fs: int) -> tuple[np.ndarray, int]:
    """(the lead at DETECTION_FS, that rate), the rate NeuroKit2's detector and
    delineator are tuned for; a rate that does not divide it is left as it is."""
    up = DETECTION_FS // fs if DETECTION_FS % fs == 0 else 1
    return resample_poly(np.asarray(lead, dtype=float), up, 1), fs * up


def detect_r_peaks(lead: np.ndarray, fs: int) -> np.ndarray:
    """R-peak sample indices of one lead at ``fs``, found at DETECTION_FS."""
    signal, rate = upsample_for_detection(lead, fs)
    return np.unique(find_r_peaks(signal, rate) // (rate // fs))


def lead_ii(independent: np.ndarray) -> np.ndarray:
    """Lead II from the 8 independent leads (I, aVF, V1-V6): II = I/2 + aVF."""
    return 0.5 * independent[0] + independent[1]


def timing_channels(peaks: np.ndarray, length: int, fs: int) -> np.ndarray:
    """(2, length) float32: seconds since the last R peak and until the next one.

    Beyond the first and last peak, beats are extrapolated with the neighbouring
    RR interval, so every sample has both values; both saturate at MAX_GAP_S.
    Needs at least two peaks.
    """
    peaks = np.sort(np.asarray(peaks, dtype=float))
    if peaks.size < 2:
        raise ValueError(f"need at least 2 R peaks for timing, got {peaks.size}")
    first_rr, last_rr = peaks[1] - peaks[0], peaks[-1] - peaks[-2]
    before = peaks[0] - first_rr * np.arange(1, 2 + int(peaks[0] // first_rr))[::-1]
    after_n = 2 + int(max(length - peaks[-1], 0) // last_rr)
    after = peaks[-1] + last_rr * np.arange(1, after_n + 1)
    beats = np.concatenate([before, peaks, after])
    t = np.arange(length, dtype=float)
    nxt = np.searchsorted(beats, t, side="right")  # beats[nxt - 1] <= t < beats[nxt]
    since = (t - beats[nxt - 1]) / fs
    until = (beats[nxt] - t) / fs
    return np.clip(np.stack([since, until]), 0, MAX_GAP_S).astype(np.float32)


def clean_rr(peaks: np.ndarray, fs: int, *, regular: bool = False) -> np.ndarray:
    """RR intervals in seconds, those outside [MIN_RR_S, MAX_RR_S] dropped.

    ``regular`` (a rhythm in REGULAR_RHYTHMS) also drops intervals more than
    REGULAR_TOLERANCE from the median: a missed or doubled detection, or an
    ectopic beat the label does not speak of.
    """
    rr = np.diff(np.sort(peaks)) / fs
    rr = rr[(rr >= MIN_RR_S) & (rr <= MAX_RR_S)]
    if regular and rr.size:
        rr = rr[np.abs(rr / np.median(rr) - 1) <= REGULAR_TOLERANCE]
    return rr


@dataclass
class RhythmPrior:
    """RR sequences of training records and their label sets; draws new beat times."""

    rr: list[list[float]]  # seconds, one sequence per record
    labels: list[list[str]]  # the record's label names

    def __post_init__(self):
        if len(self.rr) != len(self.labels):
            raise ValueError("rhythm prior: one label list per RR sequence")
        if not self.rr:
            raise ValueError("rhythm prior needs at least one record with beats")

    def to_dict(self) -> dict:
        return {"rr": [list(map(float, r)) for r in self.rr], "labels": self.labels}

    @classmethod
    def from_dict(cls, values: dict) -> RhythmPrior:
        return cls(
            rr=[list(map(float, r)) for r in values["rr"]],
            labels=[list(map(str, names)) for names in values["labels"]],
        )

    def candidates(self, names: Sequence[str]) -> list[int]:
        """Records whose labels match ``names``: exactly, else all of them, else the
        rhythm (the first name), else any record."""
        wanted = set(names)
        for accept in (
            lambda have: have == wanted,
            lambda have: wanted <= have,
            lambda have: bool(names) and names[0] in have,
            lambda have: True,
        ):
            found = [i for i, have in enumerate(self.labels) if accept(set(have))]
            if found:
                return found
        raise AssertionError("unreachable: the prior is not empty")

    def draw(
        self, names: Sequence[str], length: int, fs: int, rng: np.random.Generator
    ) -> np.ndarray:
        """R-peak sample positions (float) covering [0, length) for one ECG."""
        options = self.candidates(names)
        rr = np.asarray(self.rr[options[rng.integers(len(options))]])
        rr = rr * fs * (1 + RATE_JITTER * (2 * rng.random() - 1))
        start = rng.integers(len(rr))
        n = math.ceil(length / rr.min()) + 2
        intervals = np.resize(np.roll(rr, -start), n)
        first = rng.random() * intervals[0]
        return first + np.concatenate([[0.0], np.cumsum(intervals[:-1])])

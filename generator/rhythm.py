"""Beat timing: R peaks of real ECGs, the timing channels, and a rhythm prior.

With ``ModelConfig.timing_channels = 2`` the denoiser is told where the beats are:
for every sample, the time since the last R peak and the time until the next one.
The morphology model then only has to draw P-QRS-T around given beats, and the
rhythm comes from a prior fitted on the training records' RR intervals: a regular
sinus rhythm stays regular and atrial fibrillation stays irregular, which a small
model trained on a few hundred ECGs does not learn reliably on its own.

The prior is a small generative model per rhythm (``RhythmPrior``): how mean rate
and RR variability spread across the training records of that rhythm, and how
strongly successive intervals follow each other. Each new ECG draws its own rate,
variability and intervals from it, with the first beat at a random phase. It keeps
summaries over at least MIN_RECORDS records, never a record's own sequence.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass
from typing import TypeVar

import numpy as np
from scipy.signal import resample_poly

DETECTION_FS = 500  # NeuroKit2's detector is tuned for diagnostic rates
MAX_GAP_S = 2.5  # timing channels saturate here (a pause longer than this)
MIN_RR_S, MAX_RR_S = 0.25, 2.5  # RR intervals outside are detection errors
REGULAR_RHYTHMS = ("SR", "SB", "STach", "PACED")  # one beat per expected interval
REGULAR_TOLERANCE = 0.25  # in those, an RR this far from the median is not kept

# The rhythm prior
PRIOR_FORMAT = "rhythm-model-1"
POOLED = "*"  # the group of all records, for label sets without a group of their own
MIN_RECORDS = 5  # a rhythm gets a group of its own only over this many records
RHYTHM_ORDER = ("PACED", "AF", "AFL", "SB", "STach", "SA", "SR", "other")
SINUS_RHYTHMS = ("SR", "SB", "STach", "SA")
IRREGULAR_RHYTHMS = ("AF",)  # successive intervals independent of each other
MIN_CV, MAX_CV = 0.003, 0.4  # RR coefficient of variation, as drawn
MIN_LOG_RR_SD, MIN_LOG_CV_SD = 0.05, 0.1  # floors of the spreads across records
T = TypeVar("T")


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


def extended_beats(peaks: np.ndarray, length: int) -> np.ndarray:
    """The sorted peaks (float), with beats extrapolated at the neighbouring RR
    interval before the first and after the last, so that every sample of
    0..length-1 lies between two of them. Needs at least two peaks."""
    peaks = np.sort(np.asarray(peaks, dtype=float))
    if peaks.size < 2:
        raise ValueError(f"need at least 2 R peaks for timing, got {peaks.size}")
    first_rr, last_rr = peaks[1] - peaks[0], peaks[-1] - peaks[-2]
    before = peaks[0] - first_rr * np.arange(1, 2 + int(peaks[0] // first_rr))[::-1]
    after_n = 2 + int(max(length - peaks[-1], 0) // last_rr)
    after = peaks[-1] + last_rr * np.arange(1, after_n + 1)
    return np.concatenate([before, peaks, after])


def timing_channels(peaks: np.ndarray, length: int, fs: int) -> np.ndarray:
    """(2, length) float32: seconds since the last R peak and until the next one.

    Beyond the first and last peak, beats are extrapolated with the neighbouring
    RR interval (extended_beats), so every sample has both values; both saturate
    at MAX_GAP_S. Needs at least two peaks.
    """
    beats = extended_beats(peaks, length)
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


@dataclass(frozen=True)
class RhythmGroup:
    """How the RR intervals of one rhythm behave across training records: only
    summaries over records, never a record's own sequence."""

    n_records: int
    log_rr_mean: float  # mean over records of log(mean RR in s)
    log_rr_sd: float  # their spread: heart rates differ between patients
    # median over records of log(RR coefficient of variation): robust to the few
    # records whose detection doubled or missed a beat
    log_cv_mean: float
    log_cv_sd: float
    autocorrelation: float  # median lag-1 autocorrelation of RR within a record
    irregular: bool  # intervals drawn independently (AF) rather than as AR(1)

    def draw_intervals(self, n: int, rng: np.random.Generator) -> np.ndarray:
        """``n`` RR intervals in seconds of one new, made-up ECG."""
        mean = math.exp(rng.normal(self.log_rr_mean, self.log_rr_sd))
        mean = float(np.clip(mean, MIN_RR_S * 1.2, MAX_RR_S / 1.5))
        cv = float(
            np.clip(
                math.exp(rng.normal(self.log_cv_mean, self.log_cv_sd)), MIN_CV, MAX_CV
            )
        )
        if self.irregular:
            # independent log-normal intervals with this mean and spread
            sigma = math.sqrt(math.log1p(cv**2))
            rr = mean * np.exp(sigma * rng.standard_normal(n) - sigma**2 / 2)
        else:
            # a stationary AR(1): slow swings of rate, as breathing gives sinus rhythm
            phi = self.autocorrelation
            z = np.empty(n)
            z[0] = rng.standard_normal()
            shocks = rng.standard_normal(n) * math.sqrt(1 - phi**2)
            for k in range(1, n):
                z[k] = phi * z[k - 1] + shocks[k]
            rr = mean * (1 + cv * z)
        return np.clip(rr, MIN_RR_S, MAX_RR_S)


def _record_summary(rr: np.ndarray) -> tuple[float, float, float] | None:
    """(log mean RR, log CV, lag-1 autocorrelation) of one record's intervals."""
    rr = np.asarray(rr, dtype=float)
    if rr.size < 3:
        return None
    cv = max(rr.std() / rr.mean(), MIN_CV)
    centred = rr - rr.mean()
    denominator = float(np.dot(centred, centred))
    autocorrelation = (
        float(np.dot(centred[:-1], centred[1:]) / denominator)
        if rr.size >= 4 and denominator > 0
        else 0.0
    )
    return math.log(rr.mean()), math.log(cv), autocorrelation


def _fit_group(summaries: list[tuple[float, float, float]], irregular: bool):
    values = np.array(summaries)  # (records, 3)
    spread = values.std(axis=0) if len(values) > 1 else np.zeros(3)
    return RhythmGroup(
        n_records=len(values),
        log_rr_mean=float(values[:, 0].mean()),
        log_rr_sd=float(max(spread[0], MIN_LOG_RR_SD)),
        log_cv_mean=float(np.median(values[:, 1])),
        log_cv_sd=float(max(spread[1], MIN_LOG_CV_SD)),
        autocorrelation=float(np.clip(np.median(values[:, 2]), 0.0, 0.9)),
        irregular=irregular,
    )


@dataclass
class RhythmPrior:
    """A generative model of beat timing, per rhythm, fitted on training records.

    For each rhythm with at least MIN_RECORDS records it keeps how the records'
    mean RR and RR variability are spread and how strongly successive intervals
    follow each other; a new ECG's mean rate and variability are drawn from those
    spreads and its intervals from an AR(1) (regular rhythms) or independently
    (AF). Nothing of any one record is kept, so no patient's beat sequence can be
    replayed (a sequence replayed with its patient's exact beat times drew that
    patient's waveform back out of an overfit model).
    """

    groups: dict[str, RhythmGroup]  # rhythm name, and POOLED, -> its model

    def __post_init__(self):
        if POOLED not in self.groups:
            raise ValueError("rhythm prior needs a pooled group of all records")

    @classmethod
    def fit(
        cls, rr: Sequence[Sequence[float]], labels: Sequence[Sequence[str]]
    ) -> RhythmPrior:
        """Fit on records' RR intervals (seconds) and label sets; raises ValueError
        without at least one record of 3 or more intervals."""
        if len(rr) != len(labels):
            raise ValueError("rhythm prior: one label list per RR sequence")
        summaries = [_record_summary(np.asarray(intervals)) for intervals in rr]
        kept = [
            (s, names)
            for s, names in zip(summaries, labels, strict=True)
            if s is not None
        ]
        if not kept:
            raise ValueError(
                "rhythm prior needs at least one record with 3 or more RR intervals"
            )
        return cls(
            groups=fit_groups(
                [s for s, _ in kept],
                [names for _, names in kept],
                lambda rhythm, rows: _fit_group(rows, rhythm in IRREGULAR_RHYTHMS),
            )
        )

    def to_dict(self) -> dict:
        return {
            "format": PRIOR_FORMAT,
            "groups": {name: asdict(group) for name, group in self.groups.items()},
        }

    @classmethod
    def from_dict(cls, values: dict) -> RhythmPrior:
        if "rr" in values:  # a checkpoint from before: fit on what it stored
            return cls.fit(values["rr"], values["labels"])
        if values.get("format") != PRIOR_FORMAT:
            raise ValueError(f"unknown rhythm prior format {values.get('format')!r}")
        return cls(
            groups={
                name: RhythmGroup(**group) for name, group in values["groups"].items()
            }
        )

    def draw(
        self, names: Sequence[str], length: int, fs: int, rng: np.random.Generator
    ) -> np.ndarray:
        """R-peak sample positions (float) covering [0, length) for one ECG."""
        group = self.groups[group_for(self.groups, names)]
        n = math.ceil(length / (MIN_RR_S * fs)) + 2
        intervals = group.draw_intervals(n, rng) * fs
        first = rng.random() * intervals[0]
        return first + np.concatenate([[0.0], np.cumsum(intervals[:-1])])


def fit_groups(
    rows: Sequence, labels: Sequence[Sequence[str]], fit: Callable[[str, list], T]
) -> dict[str, T]:
    """A prior's groups: ``fit(rhythm, rows)`` for each rhythm with at least
    MIN_RECORDS rows, and ``fit(POOLED, all rows)``; one label set per row."""
    by_rhythm: dict[str, list] = {}
    for row, names in zip(rows, labels, strict=True):
        rhythm = rhythm_of(names)
        if rhythm is not None:
            by_rhythm.setdefault(rhythm, []).append(row)
    groups = {
        rhythm: fit(rhythm, members)
        for rhythm, members in by_rhythm.items()
        if len(members) >= MIN_RECORDS
    }
    groups[POOLED] = fit(POOLED, list(rows))
    return groups


def group_for(groups: Mapping[str, object], names: Sequence[str]) -> str:
    """The group that draws for a label set: its rhythm's, else sinus rhythm's
    for a sinus rhythm without a group of its own, else the pooled one."""
    rhythm = rhythm_of(names)
    if rhythm in groups:
        return rhythm
    if rhythm in SINUS_RHYTHMS and "SR" in groups:
        return "SR"
    return POOLED


def rhythm_of(names: Sequence[str]) -> str | None:
    """The rhythm a label set names (the first in RHYTHM_ORDER), if any."""
    for rhythm in RHYTHM_ORDER:
        if rhythm in names:
            return rhythm
    return None

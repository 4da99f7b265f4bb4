"""The training set in memory: canonical signals, multi-hot labels, batches."""

from __future__ import annotations

import csv
import math
import zlib
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
from scipy.interpolate import CubicSpline

from generator.datasets import FORMATS, SourceRecord, iter_index, iter_records
from generator.ecg import (
    CANONICAL_FS,
    DURATION_S,
    EcgError,
    canonicalize,
    expand_to_12,
    read_wfdb,
    reduce_to_8,
)
from generator.rhythm import (
    MAX_GAP_S,
    REGULAR_RHYTHMS,
    RhythmPrior,
    clean_rr,
    detect_r_peaks,
    extended_beats,
    lead_ii,
    timing_channels,
)

NORMAL_LABEL = "NORM"
# Carried by records whose amplitudes their uploader normalised: the model learns
# waveform shape and rhythm from them and voltages only from millivolt records.
# Generation never asks for it, so what it draws has millivolt amplitudes.
SHAPE_LABEL = "source:shape"
# The rhythm group of millivolt records without rhythm labels (load_voltage_set).
UNLABELLED = "unlabelled"
MIN_BEATS = 4  # a record needs this many clean beats to train a timing model
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
    names: list[list[str]] = field(default_factory=list)  # label names per record
    timing: list[np.ndarray] | None = None  # each (2, N_i): see generator.rhythm
    rr: list[np.ndarray] | None = None  # each record's clean RR intervals, seconds
    peaks: list[np.ndarray] | None = None  # each record's R peaks, samples

    def __add__(self, other: SignalSet) -> SignalSet:
        """Both sets' records in one; labels must share a vocabulary."""
        with_timing = self.timing is not None and other.timing is not None
        return SignalSet(
            self.signals + other.signals,
            np.concatenate([self.labels, other.labels]).astype(np.float32),
            self.rhythms + other.rhythms,
            self.skipped + other.skipped,
            names=self.names + other.names,
            timing=self.timing + other.timing if with_timing else None,
            rr=self.rr + other.rr if with_timing else None,
            peaks=self.peaks + other.peaks if with_timing else None,
        )

    def lead_sd(self) -> np.ndarray:
        """(8,) the median standard deviation of each lead over the records, mV."""
        return np.median(np.stack([s.std(axis=1) for s in self.signals]), axis=0)

    def rhythm_prior(self) -> RhythmPrior:
        """The rhythm model fitted on these records' RR intervals and labels."""
        if self.rr is None:
            raise ValueError("load_signals(..., timing=True) finds the beats")
        return RhythmPrior.fit(self.rr, self.names)


def load_signals(
    records: Sequence[SourceRecord],
    vocabulary: Sequence[str],
    *,
    fs: int = CANONICAL_FS,
    progress: bool = False,
    timing: bool = False,
) -> SignalSet:
    """Read each record whole (as many full seconds as it has, at least 10 s).

    ``timing`` also finds the R peaks of lead II and keeps the timing channels and
    RR intervals; a record with fewer than MIN_BEATS clean beats is skipped then.
    """
    found = _SetBuilder(vocabulary, fs=fs, timing=timing)
    for record in _maybe_progress(records, "loading ECGs", progress):
        try:
            independent = _read_whole(record.path, fs=fs)
        except EcgError:
            found.skipped += 1
            continue
        names = [n for n in record_labels(record) if n in vocabulary]
        found.add(independent, names, record.rhythm)
    return found.build()


def _read_whole(
    path: Path, *, fs: int = CANONICAL_FS, trim: bool = False
) -> np.ndarray:
    """A record's independent leads (8, N) in canonical form, as many full seconds
    as it has (at least 10 s); ``trim`` drops all-zero padding at either end."""
    raw = read_wfdb(path)
    signal = _trim_padding(raw.signal) if trim else raw.signal
    duration = max(DURATION_S, math.floor(signal.shape[1] / raw.fs))
    x = canonicalize(
        signal, raw.fs, target_fs=fs, duration_s=duration, record=raw.record
    )
    return np.ascontiguousarray(reduce_to_8(x))


def _maybe_progress(items: Sequence, desc: str, progress: bool) -> Iterable:
    if not progress:
        return items
    from tqdm import tqdm

    return tqdm(items, desc=desc, mininterval=5)


class _SetBuilder:
    """Collects the records of a SignalSet; with ``timing``, finds their beats and
    skips a record with fewer than MIN_BEATS clean ones."""

    def __init__(self, vocabulary: Sequence[str], *, fs: int, timing: bool):
        self.vocabulary, self.fs, self.timing = vocabulary, fs, timing
        self.signals, self.labels, self.rhythms, self.names = [], [], [], []
        self.timings, self.rrs, self.peaks = [], [], []
        self.skipped = 0

    def add(self, independent: np.ndarray, names: list[str], rhythm: str) -> None:
        """One record: (8, N) float32 mV, its label names and rhythm."""
        if self.timing:
            peaks = detect_r_peaks(lead_ii(independent), self.fs)
            rr = clean_rr(peaks, self.fs, regular=rhythm in REGULAR_RHYTHMS)
            if rr.size < MIN_BEATS - 1:
                self.skipped += 1
                return
            self.timings.append(timing_channels(peaks, independent.shape[1], self.fs))
            self.rrs.append(rr)
            self.peaks.append(peaks)
        self.signals.append(independent)
        self.labels.append(multi_hot(names, self.vocabulary))
        self.rhythms.append(rhythm)
        self.names.append(names)

    def build(self) -> SignalSet:
        labels = (
            np.stack(self.labels)
            if self.labels
            else np.zeros((0, len(self.vocabulary)))
        )
        return SignalSet(
            self.signals,
            labels.astype(np.float32),
            self.rhythms,
            self.skipped,
            names=self.names,
            timing=self.timings if self.timing else None,
            rr=self.rrs if self.timing else None,
            peaks=self.peaks if self.timing else None,
        )


def load_shape_set(
    folder: str | Path,
    vocabulary: Sequence[str],
    lead_sd: np.ndarray,
    *,
    splits: Sequence[str] = ("train",),
    timing: bool = False,
) -> SignalSet:
    """PTB-XL ECGs whose leads their uploader z-scored (``ptbxl-shape``: a
    ``signals_100hz.npy`` (n, 12, 1000) of canonical leads at 100 Hz band-passed
    0.5-40 Hz, and an ``index.csv`` with ``row``, ``rhythm``, ``normal``, ``split``).

    Their millivolts are lost, so they teach shape and rhythm only: each lead is
    scaled to ``lead_sd`` (the typical SD of that lead in millivolt records, (8,)
    for I, aVF, V1-V6) and every record carries SHAPE_LABEL. ``test`` is refused,
    ``exclude`` rows (already in another set) are never read.
    """
    if "test" in splits:
        raise ValueError("never train on the held-out test split")
    array, rows = _shape_rows(folder, splits)
    scale = np.asarray(lead_sd, dtype=np.float64)[:, None]
    found = _SetBuilder(vocabulary, fs=CANONICAL_FS, timing=timing)
    for row in rows:
        independent = reduce_to_8(array[int(row["row"])].astype(np.float64)) * scale
        rhythm = row["rhythm"] or "other"
        names = [rhythm] + ([NORMAL_LABEL] if row["normal"] == "1" else [])
        names = [n for n in names if n in vocabulary] + [SHAPE_LABEL]
        found.add(np.ascontiguousarray(independent.astype(np.float32)), names, rhythm)
    return found.build()


def _shape_rows(folder: str | Path, splits: Sequence[str]) -> tuple[np.ndarray, list]:
    """A ptbxl-shape folder's array (memory-mapped) and its index rows of
    ``splits``."""
    folder = Path(folder)
    array = np.load(folder / "signals_100hz.npy", mmap_mode="r")
    with open(folder / "index.csv", newline="", encoding="utf-8") as handle:
        rows = [row for row in csv.DictReader(handle) if row["split"] in splits]
    return array, rows


def voltage_records(folder: str | Path, split: str = "train") -> list[Path]:
    """The WFDB records of a millivolt folder in ``split``: by default those that
    may be trained on.

    A folder with an ``index.csv`` of ``path`` and ``split`` columns (CODE-15%'s
    layout) gives its rows of that split that duplicate nothing; any other folder
    has no held-out split, so all its records are ``train`` and none another's.
    """
    folder = Path(folder)
    index = folder / "index.csv"
    if not folder.is_dir():
        raise ValueError(f"voltage data {folder}: no such folder")
    if index.is_file():
        with open(index, newline="", encoding="utf-8") as handle:
            rows = list(csv.DictReader(handle))
        if rows and not {"path", "split"} <= set(rows[0]):
            raise ValueError(f"{index}: needs the columns path and split")
        return [
            folder / row["path"]
            for row in rows
            if row["split"] == split and not row.get("duplicate_of")
        ]
    if split != "train":
        return []
    return [
        header.with_name(header.name.removesuffix(".hea"))
        for header in sorted(folder.rglob("*.hea"))
    ]


def _trim_padding(signal: np.ndarray) -> np.ndarray:
    """Drop the all-zero samples a source padded its records with at either end
    (CODE-15% pads 10-s records to 4,096 samples)."""
    live = np.flatnonzero(np.any(signal != 0, axis=0))
    if live.size == 0:
        return signal[:, :0]
    return signal[:, live[0] : live[-1] + 1]


def load_voltage_set(
    folders: Sequence[str | Path],
    vocabulary: Sequence[str],
    *,
    timing: bool = False,
    progress: bool = False,
) -> SignalSet:
    """Millivolt ECGs without rhythm labels (CODE-15%, long PTB records), read
    whole: they teach true voltages and morphology through the label-dropped
    branch. Each carries no label at all (an all-zero row), which training reads
    as "always drop the labels": the network never learns that they are SR or AF.
    """
    paths = [path for folder in folders for path in voltage_records(folder)]
    found = _SetBuilder(vocabulary, fs=CANONICAL_FS, timing=timing)
    for path in _maybe_progress(paths, "loading millivolt ECGs", progress):
        try:
            independent = _read_whole(path, trim=True)
        except EcgError:
            found.skipped += 1
            continue
        found.add(independent, [], UNLABELLED)
    return found.build()


AUDIT_STEP_S = 4  # a long record's windows start this far apart for the audit


def learnt_ecgs(
    folder: str | Path, *, fs: int = CANONICAL_FS
) -> tuple[np.ndarray, list[str]]:
    """The 10-s 12-lead ECGs a model learnt from in a ``--shape-data`` or
    ``--voltage-data`` folder, for the memorisation audit: (n, 12, L) and ids.

    A ptbxl-shape folder gives its ``train`` rows (z-scored: the audit's
    similarity ignores amplitude), a millivolt folder the records
    ``voltage_records`` trains on, a long one as windows every AUDIT_STEP_S
    seconds (training draws windows at random; with the audit's shifts of up to
    2 s every stretch of 10 s is near one of them). Unreadable records are
    skipped, as training skips them.
    """
    signals, ids = folder_ecgs(folder, "train", fs=fs)
    if not len(signals):
        raise ValueError(f"{folder}: no readable ECG a model could learn from")
    return signals, ids


def folder_ecgs(
    folder: str | Path, split: str, *, fs: int = CANONICAL_FS
) -> tuple[np.ndarray, list[str]]:
    """A shape or millivolt folder's 10-s 12-lead ECGs of ``split`` (as
    learnt_ecgs reads ``train``): (n, 12, L), possibly n = 0, and ids. Its
    ``test`` or ``val`` rows are patients a model trained on its ``train`` rows
    never saw, from the same collection."""
    folder = Path(folder)
    length = int(DURATION_S * fs)
    if (folder / "signals_100hz.npy").is_file():
        if fs != CANONICAL_FS:
            raise ValueError(f"{folder} holds ECGs at {CANONICAL_FS} Hz only")
        array, rows = _shape_rows(folder, (split,))
        signals = np.asarray(array[[int(row["row"]) for row in rows]], np.float32)
        names = [row.get("ecg_id") or row["row"] for row in rows]
        return signals, [f"{folder.name}/{n}" for n in names]
    signals, ids = [], []
    for path in voltage_records(folder, split):
        try:
            whole = expand_to_12(_read_whole(path, fs=fs, trim=True))
        except EcgError:
            continue
        name = f"{folder.name}/{path.relative_to(folder)}"
        last = whole.shape[1] - length
        for start in sorted({*range(0, last + 1, AUDIT_STEP_S * fs), last}):
            signals.append(whole[:, start : start + length])
            ids.append(name if last == 0 else f"{name}@{start / fs:g}s")
    if not signals:
        return np.zeros((0, 12, length), np.float32), []
    return np.stack(signals).astype(np.float32), ids


def unlabelled(labels: torch.Tensor) -> torch.Tensor:
    """(B,) bool: rows with no label, which only the label-dropped branch learns."""
    return labels.sum(dim=1) == 0


def _read_between(signal: np.ndarray, position: np.ndarray) -> np.ndarray:
    """(C, N) signal read at increasing fractional ``position``s, (C, len) float32:
    a cubic spline over the samples spanned, which keeps a QRS's peak (linear
    interpolation would blunt it at 100 Hz)."""
    low = np.floor(position).astype(int)
    lo, hi = max(low[0] - 3, 0), min(low[-1] + 5, signal.shape[1])
    spline = CubicSpline(np.arange(lo, hi), signal[:, lo:hi], axis=1)
    return spline(position).astype(np.float32)


def stretched_window(
    signal: np.ndarray,
    timing: np.ndarray | None,
    start: float,
    factor: float,
    length: int,
    fs: float = CANONICAL_FS,
) -> tuple[np.ndarray, np.ndarray | None]:
    """``length`` samples of a record slowed down ``factor`` (>= 1) times from
    source position ``start``: (8, length) signal and its (2, length) timing.

    The signal is read between samples with a cubic spline, which keeps a QRS's
    peak (linear interpolation would blunt it at 100 Hz). The timing channels
    (seconds since the last R peak and until the next, generator.rhythm) count
    time from beats that lie on whole samples, so between two samples they run
    on from the earlier one; then they are scaled by ``factor``, so they tell
    the stretched beats' times.
    """
    if factor < 1:
        raise ValueError(f"a stretch factor must be at least 1, got {factor}")
    position = start + np.arange(length) / factor
    if position[-1] > signal.shape[1] - 1:
        raise ValueError(
            f"a window from {start:.1f} stretched {factor:.3f} times ends past the "
            f"record's {signal.shape[1]} samples"
        )
    window = _read_between(signal, position)
    if timing is None:
        return window, None
    low = np.floor(position).astype(int)
    at_sample = timing[:, low].astype(float)
    elapsed = (position - low) / fs
    told = at_sample + np.stack([elapsed, -elapsed])
    told = np.where(at_sample >= MAX_GAP_S, MAX_GAP_S, told) * factor
    return window, np.clip(told, 0, MAX_GAP_S).astype(np.float32)


# What a slower heart rate leaves alone: the R peak to the end of T (at most this,
# or 55% of the interval) and the P wave's onset to the R peak (at most this, or
# 25% of the interval). The rest of each interval, diastole, is what lengthens.
SYSTOLE_S = 0.42
PRE_R_S = 0.2


def _diastole_knots(
    peaks: np.ndarray, n: int, factor: float, fs: float
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Knots of the time map of a record slowed ``factor`` times in diastole:
    (source positions, output positions, the beats' output positions), with
    beats extrapolated at the neighbouring interval to cover samples 0..n-1.

    Each interval grows by a whole number of samples, so beats on whole samples
    stay on whole samples and P-QRS-T is copied, not interpolated: a cubic
    spline read half a sample off takes 0.5 dB from 25-35 Hz and 2 dB above."""
    beats = extended_beats(peaks, n)
    rr = np.diff(beats)
    systole_end = beats[:-1] + np.minimum(SYSTOLE_S * fs, 0.55 * rr)
    p_onset = beats[1:] - np.minimum(PRE_R_S * fs, 0.25 * rr)
    beat_out = beats[0] + np.concatenate(
        [[0], np.cumsum(rr + np.round((factor - 1) * rr))]
    )
    source = np.stack([beats[:-1], systole_end, p_onset], axis=1).ravel()
    output = np.stack(
        [
            beat_out[:-1],
            beat_out[:-1] + (systole_end - beats[:-1]),
            beat_out[1:] - (beats[1:] - p_onset),
        ],
        axis=1,
    ).ravel()
    return (
        np.append(source, beats[-1]),
        np.append(output, beat_out[-1]),
        beat_out,
    )


def diastole_stretched_window(
    signal: np.ndarray,
    peaks: np.ndarray,
    start: float,
    factor: float,
    length: int,
    fs: float = CANONICAL_FS,
) -> tuple[np.ndarray, np.ndarray]:
    """``length`` samples of a record whose every RR interval is ``factor`` (>= 1)
    times longer, the way a slower sinus node lengthens it: each beat's P wave,
    QRS and T keep their duration and diastole between them takes the extra time.

    ``start`` in [0, 1] places the window among all it could be. Returns the
    (8, length) signal (a cubic spline between samples) and its (2, length)
    timing channels, computed from the slowed beats.
    """
    if factor < 1:
        raise ValueError(f"a stretch factor must be at least 1, got {factor}")
    if not 0 <= start <= 1:
        raise ValueError(f"start must be in [0, 1], got {start}")
    n = signal.shape[1]
    if n < length:
        raise ValueError(f"a record of {n} samples is shorter than {length}")
    source, output, beat_out = _diastole_knots(peaks, n, factor, fs)
    first, end = np.interp([0, n - 1], source, output)
    last_start = np.floor(end - (length - 1))
    offset = min(
        max(np.round(first + start * (last_start - first)), np.ceil(first)), last_start
    )
    position = np.interp(offset + np.arange(length), output, source)
    window = _read_between(signal, np.clip(position, 0, n - 1))
    return window, timing_channels(beat_out - offset, length, fs)


class BatchSampler:
    """Random 10-s windows, rare rhythms oversampled, small amplitude scaling,
    and optionally a small random slowing.

    A record is drawn with probability proportional to count(rhythm)^-balance
    (0: uniform over records, 1: uniform over rhythms). The amplitude factor is
    the same for all leads, so Einthoven and Goldberger still hold.

    With ``time_stretch`` s, each window is slowed by a factor drawn uniformly
    from [1, 1 + s] and starts at a random point, so no record's beat times
    recur exactly from one epoch to the next: a model told beat times
    (generator.rhythm) otherwise learns each record's exact beat times as a key
    to its waveform, and a rhythm-model draw that happens to match them replays
    that patient (the README's memorisation finding). Slowing only: a record of
    exactly 10 s has no spare samples to be sped up from.

    ``diastole_stretch`` s slows each window's beats instead by a factor from
    [1, 1 + s] in diastole alone (diastole_stretched_window), so P, QRS and T
    keep their durations, as they do when a sinus node slows; it is the one to
    use for the larger factors that shift a record across many heart rates.
    """

    def __init__(
        self,
        data: SignalSet,
        length: int,
        *,
        balance: float = 0.5,
        amplitude_jitter: float = 0.1,
        time_stretch: float = 0.0,
        diastole_stretch: float = 0.0,
    ):
        if not data.signals:
            raise ValueError("no training records could be loaded")
        for name, value in (
            ("time_stretch", time_stretch),
            ("diastole_stretch", diastole_stretch),
        ):
            if not 0 <= value < 0.5:
                raise ValueError(f"{name} must be in [0, 0.5), got {value}")
        if time_stretch and diastole_stretch:
            raise ValueError("time_stretch and diastole_stretch exclude each other")
        if diastole_stretch and data.peaks is None:
            raise ValueError("diastole_stretch needs the records' beats (timing)")
        self.data = data
        self.length = length
        self.amplitude_jitter = amplitude_jitter
        self.time_stretch = time_stretch
        self.diastole_stretch = diastole_stretch
        counts = Counter(data.rhythms)
        weights = np.array([counts[r] ** -balance for r in data.rhythms])
        self.probabilities = torch.tensor(weights / weights.sum())

    def sample(
        self, batch_size: int, generator: torch.Generator
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor | None]:
        """(x_0 (B, 8, length) mV, labels (B, K), timing (B, 2, length) or None)."""
        index = torch.multinomial(
            self.probabilities, batch_size, replacement=True, generator=generator
        )
        windows, timings = [], []
        for i in index.tolist():
            signal = self.data.signals[i]
            timing = None if self.data.timing is None else self.data.timing[i]
            if self.diastole_stretch:
                u = torch.rand(2, generator=generator).tolist()
                window, told = diastole_stretched_window(
                    signal,
                    self.data.peaks[i],
                    u[1],
                    1 + self.diastole_stretch * u[0],
                    self.length,
                )
            elif self.time_stretch:
                u = torch.rand(2, generator=generator).tolist()
                factor = 1 + self.time_stretch * u[0]
                spare = signal.shape[1] - 1 - (self.length - 1) / factor
                window, told = stretched_window(
                    signal, timing, spare * u[1], factor, self.length
                )
            else:
                spare = signal.shape[1] - self.length
                start = int(torch.randint(0, spare + 1, (1,), generator=generator))
                kept = slice(start, start + self.length)
                window = signal[:, kept]
                told = None if timing is None else timing[:, kept]
            windows.append(window)
            if told is not None:
                timings.append(told)
        x = torch.from_numpy(np.stack(windows))  # (B, 8, L)
        if self.amplitude_jitter:
            u = torch.rand(batch_size, 1, 1, generator=generator)
            x = x * (1 + self.amplitude_jitter * (2 * u - 1))
        timing = torch.from_numpy(np.stack(timings)) if timings else None
        return x, torch.from_numpy(self.data.labels[index.numpy()]), timing


def first_windows(
    data: SignalSet, length: int
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor | None]:
    """The first 10 s of every record, for a deterministic validation loss."""
    x = torch.from_numpy(np.stack([s[:, :length] for s in data.signals]))
    timing = None
    if data.timing is not None:
        timing = torch.from_numpy(np.stack([t[:, :length] for t in data.timing]))
    return x, torch.from_numpy(data.labels), timing

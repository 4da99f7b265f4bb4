"""Judge synthetic ECGs against real ones: fidelity, labels, memorisation, utility.

    python -m generator.evaluate --checkpoint C --data ../shared/ecg --split test \\
        [--labels SR+NORM,SR,AF] [--n-per-label 50] --out DIR

Everything is measured the same way on real and synthetic ECGs, in the canonical
form (12 leads, 10 s, ``CANONICAL_FS``):
- fidelity: heart rate, RR irregularity, QRS, PR and QT from one delineation
  (NeuroKit2's R-peak detector and DWT delineator on lead II, upsampled to 500 Hz)
  and QRS and T amplitudes per lead; Wasserstein distance per feature and label,
  and the distance of the average power spectra;
- label consistency: a rhythm detector trained on real ``train`` ECGs labels the
  synthetic ones;
- memorisation: each synthetic ECG's nearest ``train`` record under an
  amplitude-normalised, shift-tolerant correlation (``generator.similarity``),
  against how close unseen real patients (``test``) come to the training set,
  each collection it learnt from judged by its own unseen patients;
- utility: AF vs sinus rhythm and normal vs abnormal, trained on synthetic and tested
  on real (TSTR), the reverse (TRTS) and real on real (TRTR), F1 and AUROC with
  bootstrap intervals;
- a two-sample test: the cross-validated AUC of a classifier that tells real from
  synthetic (0.5 is ideal);
- voltage: per lead, the synthetic/real ratio of median RMS, whole and within each
  rhythm, beside what the generator was taught (``train``) and how often a generator
  that draws its training patients exactly lands in RMS_WINDOW against this real set.
Never reads ``train`` for testing nor the evaluation split for training.
"""

from __future__ import annotations

import argparse
import base64
import html
import io
import json
import math
import warnings
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from scipy.signal import resample_poly, welch
from scipy.stats import mannwhitneyu, wasserstein_distance

from generator.datasets import iter_index
from generator.ecg import (
    CANONICAL_FS,
    DURATION_S,
    LEADS,
    EcgError,
    load_canonical,
)
from generator.rhythm import find_r_peaks, upsample_for_detection
from generator.similarity import (
    DUPLICATE_SIMILARITY,
    Collection,
    aligned_pair,
    unseen_ceiling,
)
from generator.similarity import nearest as nearest_similar

CLOSEST_PAIRS = 3  # synthetic/train pairs the report draws
SCALAR_FEATURES = (
    "heart_rate_bpm",
    "rr_cv",  # standard deviation / mean of the RR intervals
    "rr_successive",  # mean |successive RR difference| / mean RR
    "p_wave_fraction",  # share of beats with a delineated P wave
    "qrs_ms",
    "pr_ms",
    "qt_ms",
    # how much one ECG's QRS complexes differ from beat to beat (qrs_beat_variation)
    "qrs_beat_variation",
)
# Morphology, not rhythm: left out of the rhythm detector's columns
MORPHOLOGY_FEATURES = ("qrs_beat_variation",)
LEAD_FEATURES = ("qrs_amplitude_mv", "t_amplitude_mv")
PSD_BANDS_HZ = ((0.5, 3), (3, 6), (6, 10), (10, 15), (15, 25), (25, 40))
AF, SR = "AF", "SR"
NORMAL = "NORM"
DEFAULT_LABELS = "SR+NORM,SR,AF"  # normal SR, other SR, AF: both downstream tasks

# A function that makes n synthetic ECGs with a label set: (labels, n, seed) ->
# (n, 12, L) float32 millivolts at CANONICAL_FS.
Synthesizer = Callable[[Sequence[str], int, int], np.ndarray]


@dataclass
class EcgSet:
    """ECGs in canonical form with their labels."""

    signals: np.ndarray  # (n, 12, L) float32 mV
    rhythms: list[str]
    normal: list[bool | None]
    ids: list[str]

    def __len__(self) -> int:
        return len(self.ids)

    @staticmethod
    def concatenate(sets: Sequence[EcgSet]) -> EcgSet:
        return EcgSet(
            np.concatenate([x.signals for x in sets]),
            [r for x in sets for r in x.rhythms],
            [v for x in sets for v in x.normal],
            [i for x in sets for i in x.ids],
        )

    def subset(self, mask: np.ndarray) -> EcgSet:
        index = np.flatnonzero(mask)
        return EcgSet(
            self.signals[index],
            [self.rhythms[i] for i in index],
            [self.normal[i] for i in index],
            [self.ids[i] for i in index],
        )


def load_split(data_dir: str | Path, split: str, *, limit: int | None = None) -> EcgSet:
    """The first 10 s of every record of one split of an ``index.csv`` folder."""
    signals, rhythms, normal, ids = [], [], [], []
    for record in iter_index(data_dir, [split]):
        if limit is not None and len(ids) >= limit:
            break
        try:
            x = load_canonical(record.path)
        except EcgError:
            continue
        signals.append(x)
        rhythms.append(record.rhythm)
        normal.append(record.normal)
        ids.append(f"{record.dataset}/{record.record_id}")
    if not ids:
        raise ValueError(f"no readable records in split {split!r} of {data_dir}")
    return EcgSet(np.stack(signals), rhythms, normal, ids)


# The splits a generator never learns from: every patient of them is evidence of
# how close a new patient comes to the training set (the audit's bar).
UNSEEN_SPLITS = ("val", "test")


def unseen_splits(data_dir: str | Path) -> dict[str, EcgSet]:
    """The ``val`` and ``test`` splits a folder has, each read once: the patients
    a generator trained on ``train`` never saw."""
    splits = [s for s in UNSEEN_SPLITS if next(iter_index(data_dir, [s]), None)]
    if not splits:
        raise ValueError(
            f"{data_dir} has no val or test records: the memorisation bar needs "
            "real patients the generator never saw"
        )
    return {split: load_split(data_dir, split) for split in splits}


def load_unseen(data_dir: str | Path) -> EcgSet:
    """Every readable record of the ``val`` and ``test`` splits, in one set."""
    return EcgSet.concatenate(list(unseen_splits(data_dir).values()))


def synthetic_set(
    synthesize: Synthesizer, label_sets: Sequence[Sequence[str]], n: int, seed: int
) -> EcgSet:
    """n ECGs per label set; rhythm is the set's rhythm label, normal if NORM."""
    signals, rhythms, normal, ids = [], [], [], []
    for k, labels in enumerate(label_sets):
        batch = np.asarray(synthesize(list(labels), n, seed + 1000 * k), np.float32)
        rhythm = next((label for label in labels if label != NORMAL), "other")
        signals.append(batch)
        rhythms += [rhythm] * n
        normal += [NORMAL in labels] * n
        ids += [f"{'+'.join(labels)}-{i}" for i in range(n)]
    return EcgSet(np.concatenate(signals), rhythms, normal, ids)


# Features


def _median(values) -> float:
    values = np.asarray(values, dtype=float)
    values = values[np.isfinite(values)]
    return float(np.median(values)) if values.size else math.nan


def ecg_features(signal: np.ndarray, fs: int = CANONICAL_FS) -> dict[str, np.ndarray]:
    """Scalar features (NaN where undefined) and per-lead amplitudes of one ECG."""
    import neurokit2 as nk

    features: dict[str, np.ndarray] = {
        name: np.array(math.nan) for name in SCALAR_FEATURES
    }
    for name in LEAD_FEATURES:
        features[name] = np.full(len(LEADS), math.nan)
    lead_ii, rate = upsample_for_detection(signal[LEADS.index("II")], fs)
    up = rate // fs
    peaks = find_r_peaks(lead_ii, rate)
    if peaks.size < 3:
        return features
    rr = np.diff(peaks) / rate
    features["heart_rate_bpm"] = np.array(60.0 / np.median(rr))
    features["rr_cv"] = np.array(np.std(rr) / np.mean(rr))
    features["rr_successive"] = np.array(np.mean(np.abs(np.diff(rr))) / np.mean(rr))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            _, waves = nk.ecg_delineate(
                lead_ii, peaks, sampling_rate=rate, method="dwt"
            )
        except Exception:  # noqa: BLE001
            waves = None
    if waves is not None:

        def points(key: str) -> np.ndarray:
            return np.asarray(waves.get(key, []), dtype=float)[: peaks.size]

        r_on, r_off = points("ECG_R_Onsets"), points("ECG_R_Offsets")
        p_on, t_off = points("ECG_P_Onsets"), points("ECG_T_Offsets")
        n = min(r_on.size, r_off.size, p_on.size, t_off.size)
        if n:
            to_ms = 1000.0 / rate
            features["qrs_ms"] = np.array(_median((r_off[:n] - r_on[:n]) * to_ms))
            features["pr_ms"] = np.array(_median((r_on[:n] - p_on[:n]) * to_ms))
            features["qt_ms"] = np.array(_median((t_off[:n] - r_on[:n]) * to_ms))
            features["p_wave_fraction"] = np.array(np.mean(np.isfinite(p_on[:n])))
    # Amplitudes at the canonical rate, around each R peak of lead II.
    beats = (peaks // up).astype(int)
    qrs_half, t_from, t_to = int(0.06 * fs), int(0.15 * fs), int(0.40 * fs)
    qrs_amp, t_amp = [], []
    for beat in beats:
        if beat - qrs_half < 0 or beat + t_to >= signal.shape[1]:
            continue
        window = signal[:, beat - qrs_half : beat + qrs_half]
        qrs_amp.append(window.max(axis=1) - window.min(axis=1))
        baseline = signal[:, beat - qrs_half]
        t_wave = signal[:, beat + t_from : beat + t_to] - baseline[:, None]
        t_amp.append(t_wave[np.arange(len(LEADS)), np.abs(t_wave).argmax(axis=1)])
    if qrs_amp:
        features["qrs_amplitude_mv"] = np.median(qrs_amp, axis=0)
        features["t_amplitude_mv"] = np.median(t_amp, axis=0)
    upsampled = resample_poly(np.asarray(signal, dtype=float), up, 1, axis=-1)
    features["qrs_beat_variation"] = np.array(
        qrs_beat_variation(upsampled, peaks, rate)
    )
    return features


def qrs_beat_variation(signal: np.ndarray, beats: np.ndarray, fs: int) -> float:
    """How much one ECG's QRS complexes differ from beat to beat: per lead, the RMS
    of every beat's QRS (R - 80 ms to R + 100 ms) around the median QRS, over the
    RMS of that median QRS; the median over the leads (NaN under 3 beats).
    ``beats`` are R peaks at ``fs``; ecg_features measures at the detector's
    500 Hz, where cutting at whole samples of 100 Hz would itself read as change.

    A recording repeats its QRS almost exactly (real sinus ECGs read about 0.1);
    a generator that draws each beat anew reads more, and a reader sees QRS
    complexes that change shape along a lead.
    """
    before, after = int(0.08 * fs), int(0.10 * fs)
    beats = beats[(beats >= before) & (beats + after <= signal.shape[1])]
    if beats.size < 3:
        return math.nan
    complexes = np.stack([signal[:, b - before : b + after] for b in beats])
    typical = np.median(complexes, axis=0)
    spread = np.sqrt(((complexes - typical) ** 2).mean(axis=(0, 2)))
    centred = typical - typical.mean(axis=-1, keepdims=True)
    size = np.sqrt((centred**2).mean(axis=-1))
    return float(np.median(spread / np.maximum(size, 1e-6)))


def band_powers(signals: np.ndarray, fs: int = CANONICAL_FS) -> np.ndarray:
    """(n, 12 * bands) log10 power in each band of each lead."""
    freqs, psd = welch(signals, fs=fs, nperseg=min(256, signals.shape[-1]), axis=-1)
    bands = [
        psd[..., (freqs >= low) & (freqs < high)].mean(axis=-1)
        for low, high in PSD_BANDS_HZ
    ]
    return np.log10(np.stack(bands, axis=-1) + 1e-12).reshape(len(signals), -1)


@dataclass
class FeatureTable:
    names: list[str]
    values: np.ndarray  # (n, F), NaN where a feature is undefined

    def median(self, name: str) -> float:
        """One feature's median over the ECGs where it is defined."""
        return _median(self.values[:, self.names.index(name)])

    def rhythm(self) -> np.ndarray:
        """The columns that describe rhythm: intervals, RR, P waves, and the
        spectra of II and V1 (where atrial activity shows). With few AF examples,
        a classifier given all the columns overfits (AF-vs-SR F1 0.50 on the real
        test split against 0.83 with these)."""
        keep = [
            i
            for i, name in enumerate(self.names)
            if (name in SCALAR_FEATURES and name not in MORPHOLOGY_FEATURES)
            or name.startswith(("log_power[II]", "log_power[V1]"))
        ]
        return self.values[:, keep]


def feature_table(ecgs: EcgSet, fs: int = CANONICAL_FS) -> FeatureTable:
    """Delineation features and band powers of every ECG, one row each."""
    names = list(SCALAR_FEATURES) + [
        f"{name}[{lead}]" for name in LEAD_FEATURES for lead in LEADS
    ]
    rows = []
    for signal in ecgs.signals:
        features = ecg_features(signal, fs)
        rows.append(
            np.concatenate(
                [[float(features[n]) for n in SCALAR_FEATURES]]
                + [features[n] for n in LEAD_FEATURES]
            )
        )
    psd_names = [
        f"log_power[{lead}][{low:g}-{high:g} Hz]"
        for lead in LEADS
        for low, high in PSD_BANDS_HZ
    ]
    values = np.hstack([np.array(rows), band_powers(ecgs.signals, fs)])
    return FeatureTable(names + psd_names, values)


# Fidelity


def average_spectrum(signals: np.ndarray, fs: int = CANONICAL_FS):
    """(freqs, (12, F) mean log10 PSD) of a set of ECGs."""
    freqs, psd = welch(signals, fs=fs, nperseg=min(256, signals.shape[-1]), axis=-1)
    return freqs, np.log10(psd + 1e-12).mean(axis=0)


def spectrum_distance(
    real: np.ndarray,
    synthetic: np.ndarray,
    fs: int,
    band: tuple[float, float] = (0.5, 40),
) -> dict:
    """Mean |difference| of the average log10 spectra over ``band`` Hz, per lead.

    ``mean_below_display`` is the same over 0.5-35 Hz, below any low-pass a
    display or a reader's eye applies, where a difference is one readers can see.
    """
    freqs, a = average_spectrum(real, fs)
    _, b = average_spectrum(synthetic, fs)

    def distance(low: float, high: float) -> np.ndarray:
        inside = (freqs >= low) & (freqs <= high)
        return np.abs(a[:, inside] - b[:, inside]).mean(axis=1)

    per_lead = distance(*band)
    return {
        "mean": float(per_lead.mean()),
        "mean_below_display": float(distance(0.5, 35).mean()),
        "per_lead": dict(zip(LEADS, per_lead.round(4).tolist(), strict=True)),
    }


NEAR_FLAT_MV = 0.06  # mean lead SD under this: an ECG a reader sees as nearly flat
# The per-lead ratio of median RMS a generator's voltage is asked to fall within
RMS_WINDOW = (0.9, 1.1)


def frontal_correlation(signals: np.ndarray) -> np.ndarray:
    """(n, 12, L) -> (n,): the correlation of leads I and aVF over each ECG. It
    stands for the frontal axis: with the two leads' voltages it sets II, III,
    aVR and aVL (III and aVL are small where I and aVF look alike)."""
    lead_i = signals[:, LEADS.index("I")].astype(np.float64)
    lead_avf = signals[:, LEADS.index("aVF")].astype(np.float64)
    lead_i = lead_i - lead_i.mean(axis=-1, keepdims=True)
    lead_avf = lead_avf - lead_avf.mean(axis=-1, keepdims=True)
    norms = np.sqrt((lead_i**2).sum(-1) * (lead_avf**2).sum(-1))
    return (lead_i * lead_avf).sum(-1) / np.maximum(norms, 1e-12)


def describe_axis(summary: dict) -> str:
    """One set's frontal_correlation summary as the reports print it."""
    return f"{summary['median']:.2f} (SD {summary['sd']:.2f})"


def _lead_rms(signals: np.ndarray) -> np.ndarray:
    """(n, 12, L) -> (n, 12): each ECG's lead RMS, mean removed."""
    centred = signals - signals.mean(axis=-1, keepdims=True)
    return np.sqrt((centred**2).mean(axis=-1))


def _median_rms(signals: np.ndarray) -> np.ndarray:
    """(n, 12, L) -> (12,): the median over the ECGs of each lead's RMS."""
    return np.median(_lead_rms(signals), axis=0)


def _per_lead(values: np.ndarray, digits: int = 3) -> dict[str, float]:
    """(12,) -> {lead: value}, rounded for results.json."""
    return dict(zip(LEADS, values.round(digits).tolist(), strict=True))


def amplitude_report(
    real: np.ndarray, synthetic: np.ndarray, *, n_boot: int = 1000, seed: int = 0
) -> dict:
    """Voltage, lead by lead: the synthetic/real ratio of the median RMS (of each
    ECG's lead, mean removed), with a bootstrap 95% interval (both sets
    resampled: a median of 65 real ECGs moves by 10-20% from one sample of
    patients to the next), the share of near-flat ECGs in each set, and the
    median and SD of the I-aVF correlation (frontal_correlation) in each."""

    real_rms, synthetic_rms = _lead_rms(real), _lead_rms(synthetic)
    real_median, synthetic_median = np.median(real_rms, 0), np.median(synthetic_rms, 0)
    ratio = synthetic_median / real_median
    rng = np.random.default_rng(seed)

    def resampled(values: np.ndarray) -> np.ndarray:
        return np.median(values[rng.integers(0, len(values), len(values))], axis=0)

    draws = np.stack(
        [resampled(synthetic_rms) / resampled(real_rms) for _ in range(n_boot)]
    )
    low, high = np.percentile(draws, [2.5, 97.5], axis=0)

    return {
        "rms_real_mv": _per_lead(real_median, 4),
        "rms_synthetic_mv": _per_lead(synthetic_median, 4),
        "rms_ratio": _per_lead(ratio),
        "rms_ratio_ci": {
            lead: [round(float(a), 3), round(float(b), 3)]
            for lead, a, b in zip(LEADS, low, high, strict=True)
        },
        "rms_ratio_range": [float(ratio.min()), float(ratio.max())],
        "near_flat_real": float((real.std(axis=-1).mean(axis=1) < NEAR_FLAT_MV).mean()),
        "near_flat_synthetic": float(
            (synthetic.std(axis=-1).mean(axis=1) < NEAR_FLAT_MV).mean()
        ),
        **{
            f"frontal_correlation_{name}": {
                "median": round(float(np.median(values)), 3),
                "sd": round(float(values.std()), 3),
            }
            for name, signals in (("real", real), ("synthetic", synthetic))
            for values in [frontal_correlation(signals)]
        },
    }


def rms_ratio_by_rhythm(
    real: np.ndarray,
    real_rhythms: Sequence[str],
    synthetic: np.ndarray,
    synthetic_rhythms: Sequence[str],
) -> dict:
    """amplitude_report's per-lead ratio of median RMS within each rhythm that
    both sets hold: the whole sets' ratio also compares their rhythm mixes (a
    synthetic set drawn one third AF against a real one of 8% AF, whose
    voltages differ from SR's by up to half)."""

    found = {}
    for rhythm in sorted(set(real_rhythms) & set(synthetic_rhythms)):
        in_real = np.asarray(real_rhythms) == rhythm
        in_synthetic = np.asarray(synthetic_rhythms) == rhythm
        ratio = _median_rms(synthetic[in_synthetic]) / _median_rms(real[in_real])
        found[rhythm] = {
            "n_real": int(in_real.sum()),
            "n_synthetic": int(in_synthetic.sum()),
            "rms_ratio": _per_lead(ratio),
        }
    return found


def taught_voltage(
    train: EcgSet,
    test: EcgSet,
    synthetic: EcgSet,
    *,
    n_draws: int = 1000,
    seed: int = 0,
) -> dict:
    """The voltages a generator was taught, beside those it is judged against.

    ``train_vs_test`` is the ratio of median RMS of the real ``train`` ECGs to
    the ``test`` ones, whole and within each rhythm: what a generator that draws
    exactly its training patients' voltages reads against ``test`` (65 patients
    are not 235: the two real sets differ by up to a fifth in some leads).
    ``synthetic_vs_train`` is the synthetic ECGs' ratio to ``train`` within each
    rhythm: how faithfully the generator draws what it learnt, free of both the
    rhythm mix and the sampling of ``test``'s patients. ``faithful`` is how such
    a generator's ratio spreads from one synthetic set to the next, and how often
    it falls within RMS_WINDOW (faithful_voltage).
    """
    whole = _median_rms(train.signals) / _median_rms(test.signals)
    return {
        "train_vs_test": {
            "rms_ratio": _per_lead(whole),
            "by_rhythm": rms_ratio_by_rhythm(
                test.signals, test.rhythms, train.signals, train.rhythms
            ),
        },
        "synthetic_vs_train": {
            "by_rhythm": rms_ratio_by_rhythm(
                train.signals, train.rhythms, synthetic.signals, synthetic.rhythms
            ),
        },
        "faithful": faithful_voltage(
            train, test, synthetic.rhythms, n_draws=n_draws, seed=seed
        ),
    }


def faithful_voltage(
    train: EcgSet,
    test: EcgSet,
    synthetic_rhythms: Sequence[str],
    *,
    window: tuple[float, float] = RMS_WINDOW,
    n_draws: int = 1000,
    seed: int = 0,
) -> dict:
    """What a perfectly faithful generator reads against ``test``: one whose ECGs
    are its training patients, drawn anew. Each draw takes, for every rhythm of
    the synthetic set, as many ``train`` ECGs of that rhythm as the synthetic set
    holds (with replacement; from all of ``train`` for a rhythm it lacks), and
    divides their median RMS by ``test``'s, lead by lead.

    Returns the 95% range of that ratio per lead, and ``in_window``: the share of
    draws with every lead within ``window``. A small share says the window is
    out of reach against this real set for any generator true to its training
    data: the real set's patients, not the generator, decide the verdict.
    """
    train_rms, test_median = _lead_rms(train.signals), _median_rms(test.signals)
    train_rhythms = np.asarray(train.rhythms)

    def pool(rhythm: str) -> np.ndarray:  # a rhythm train lacks: all of train
        rows = np.flatnonzero(train_rhythms == rhythm)
        return rows if rows.size else np.arange(len(train))

    wanted = sorted(Counter(synthetic_rhythms).items())
    pools = [(pool(rhythm), count) for rhythm, count in wanted]
    rng = np.random.default_rng(seed)

    def one_draw() -> np.ndarray:
        rows = np.concatenate([rng.choice(pool, count) for pool, count in pools])
        return np.median(train_rms[rows], axis=0) / test_median

    draws = np.stack([one_draw() for _ in range(n_draws)])
    low, high = np.percentile(draws, [2.5, 97.5], axis=0)
    inside = ((draws >= window[0]) & (draws <= window[1])).all(axis=1)
    return {
        "window": list(window),
        "n_draws": n_draws,
        "rms_ratio_range": {
            lead: [round(float(a), 3), round(float(b), 3)]
            for lead, a, b in zip(LEADS, low, high, strict=True)
        },
        "in_window": float(inside.mean()),
    }


def _describe(values: np.ndarray) -> dict:
    values = values[np.isfinite(values)]
    if not values.size:
        return {"n": 0, "mean": None, "sd": None, "median": None}
    return {
        "n": int(values.size),
        "mean": float(values.mean()),
        "sd": float(values.std()),
        "median": float(np.median(values)),
    }


def fidelity(
    real: EcgSet,
    real_features: FeatureTable,
    synthetic: EcgSet,
    synthetic_features: FeatureTable,
    fs: int = CANONICAL_FS,
) -> dict:
    """Per rhythm label: feature distributions, Wasserstein distances, spectra."""
    report = {}
    n_delineated = len(SCALAR_FEATURES) + len(LEAD_FEATURES) * len(LEADS)
    for label in sorted(set(synthetic.rhythms)):
        in_real = np.array([r == label for r in real.rhythms])
        in_synthetic = np.array([r == label for r in synthetic.rhythms])
        if not in_real.any():
            report[label] = {"n_real": 0, "n_synthetic": int(in_synthetic.sum())}
            continue
        features = {}
        for k, name in enumerate(real_features.names[:n_delineated]):
            a = real_features.values[in_real, k]
            b = synthetic_features.values[in_synthetic, k]
            finite_a, finite_b = a[np.isfinite(a)], b[np.isfinite(b)]
            distance = (
                float(wasserstein_distance(finite_a, finite_b))
                if finite_a.size and finite_b.size
                else None
            )
            spread = float(finite_a.std()) if finite_a.size > 1 else 0.0
            features[name] = {
                "real": _describe(a),
                "synthetic": _describe(b),
                "wasserstein": distance,
                # In units of the real spread, comparable across features.
                "wasserstein_per_sd": distance / spread
                if distance is not None and spread > 0
                else None,
            }
        report[label] = {
            "n_real": int(in_real.sum()),
            "n_synthetic": int(in_synthetic.sum()),
            "features": features,
            "spectrum_distance": spectrum_distance(
                real.signals[in_real], synthetic.signals[in_synthetic], fs
            ),
        }
    return report


# Classifiers


def _classifier(seed: int = 0):
    from sklearn.impute import SimpleImputer
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    return make_pipeline(
        SimpleImputer(strategy="median", keep_empty_features=True),
        StandardScaler(),
        LogisticRegression(
            max_iter=5000, C=0.5, class_weight="balanced", random_state=seed
        ),
    )


def _bootstrap_metric(
    metric: Callable[[np.ndarray, np.ndarray], float],
    truth: np.ndarray,
    score: np.ndarray,
    n_boot: int,
    seed: int,
) -> list[float | None]:
    rng = np.random.default_rng(seed)
    values = []
    for _ in range(n_boot):
        draw = rng.integers(0, truth.size, truth.size)
        if truth[draw].min() == truth[draw].max():
            continue
        values.append(metric(truth[draw], score[draw]))
    if not values:
        return [None, None]
    low, high = np.percentile(values, [2.5, 97.5])
    return [float(low), float(high)]


def _binary_scores(
    train_x: np.ndarray,
    train_y: np.ndarray,
    test_x: np.ndarray,
    test_y: np.ndarray,
    *,
    n_boot: int,
    seed: int,
) -> dict:
    from sklearn.metrics import f1_score, roc_auc_score

    counts = {
        "n_train": int(train_y.size),
        "n_train_positive": int(train_y.sum()),
        "n_test": int(test_y.size),
        "n_test_positive": int(test_y.sum()),
    }
    if not (train_y.size and test_y.size):
        return counts | {"note": "no ECG of this task in training or test data"}
    if train_y.min() == train_y.max() or test_y.min() == test_y.max():
        return counts | {"note": "one class is missing from training or test data"}
    model = _classifier(seed).fit(train_x, train_y)
    probability = model.predict_proba(test_x)[:, 1]
    predicted = (probability >= 0.5).astype(int)

    def f1(t, p):
        return f1_score(t, (p >= 0.5).astype(int), zero_division=0)

    return counts | {
        "f1": float(f1_score(test_y, predicted, zero_division=0)),
        "f1_ci": _bootstrap_metric(f1, test_y, probability, n_boot, seed),
        "auroc": float(roc_auc_score(test_y, probability)),
        "auroc_ci": _bootstrap_metric(roc_auc_score, test_y, probability, n_boot, seed),
    }


def _task_labels(ecgs: EcgSet, task: str) -> tuple[np.ndarray, np.ndarray]:
    """(mask of ECGs in the task, positive class) for one downstream task."""
    if task == "af_vs_sr":
        mask = np.array([r in (AF, SR) for r in ecgs.rhythms])
        positive = np.array([r == AF for r in ecgs.rhythms])
    elif task == "abnormal_vs_normal":
        mask = np.array([n is not None for n in ecgs.normal])
        positive = np.array([n is False for n in ecgs.normal])
    else:
        raise ValueError(f"unknown task {task!r}")
    return mask, positive.astype(int)


TASKS = {
    "af_vs_sr": "atrial fibrillation (positive) vs sinus rhythm",
    "abnormal_vs_normal": "abnormal (positive) vs normal ECG",
}


def utility(
    train: EcgSet,
    train_features: FeatureTable,
    test: EcgSet,
    test_features: FeatureTable,
    synthetic: EcgSet,
    synthetic_features: FeatureTable,
    *,
    n_boot: int = 1000,
    seed: int = 0,
) -> dict:
    """TRTR, TSTR and TRTS of each downstream task."""
    report = {}
    for task, description in TASKS.items():
        sets = {}
        for name, ecgs, features in (
            ("train", train, train_features),
            ("test", test, test_features),
            ("synthetic", synthetic, synthetic_features),
        ):
            mask, y = _task_labels(ecgs, task)
            columns = features.rhythm() if task == "af_vs_sr" else features.values
            sets[name] = (columns[mask], y[mask])
        runs = {
            "TRTR": ("train", "test"),
            "TSTR": ("synthetic", "test"),
            "TRTS": ("train", "synthetic"),
        }
        report[task] = {"description": description} | {
            run: _binary_scores(*sets[a], *sets[b], n_boot=n_boot, seed=seed)
            for run, (a, b) in runs.items()
        }
    return report


def label_consistency(
    train: EcgSet,
    train_features: FeatureTable,
    test: EcgSet,
    test_features: FeatureTable,
    synthetic: EcgSet,
    synthetic_features: FeatureTable,
    *,
    min_examples: int = 5,
    seed: int = 0,
) -> dict:
    """Share of synthetic ECGs of each rhythm that a real-trained detector agrees on.

    The detector knows the rhythms with at least ``min_examples`` real train ECGs;
    its own hit rate on the real evaluation split is given beside each figure.
    """
    counts = {r: train.rhythms.count(r) for r in set(train.rhythms)}
    known = sorted(r for r, n in counts.items() if n >= min_examples)
    mask = np.array([r in known for r in train.rhythms])
    detector = _classifier(seed).fit(
        train_features.rhythm()[mask], np.array(train.rhythms)[mask]
    )
    report = {"detector_rhythms": known}
    synthetic_pred = detector.predict(synthetic_features.rhythm())
    test_pred = detector.predict(test_features.rhythm())
    for label in sorted(set(synthetic.rhythms)):
        in_synthetic = np.array([r == label for r in synthetic.rhythms])
        in_test = np.array([r == label for r in test.rhythms])
        entry = {
            "n_synthetic": int(in_synthetic.sum()),
            "n_real_test": int(in_test.sum()),
        }
        if label not in known:
            entry["note"] = f"the detector has fewer than {min_examples} real {label}"
        else:
            entry["synthetic_agreement"] = float(
                np.mean(synthetic_pred[in_synthetic] == label)
            )
            entry["real_test_agreement"] = (
                float(np.mean(test_pred[in_test] == label)) if in_test.any() else None
            )
        report[label] = entry
    return report


def two_sample_auc(
    real_features: FeatureTable, synthetic_features: FeatureTable, *, seed: int = 0
) -> dict:
    """Cross-validated AUC of a classifier telling real (0) from synthetic (1)."""
    from sklearn.metrics import roc_auc_score
    from sklearn.model_selection import StratifiedKFold, cross_val_predict

    x = np.vstack([real_features.values, synthetic_features.values])
    y = np.r_[
        np.zeros(len(real_features.values)), np.ones(len(synthetic_features.values))
    ]
    folds = int(min(5, np.bincount(y.astype(int)).min()))
    if folds < 2:
        return {"auc": None, "note": "too few ECGs for cross-validation"}
    splitter = StratifiedKFold(n_splits=folds, shuffle=True, random_state=seed)
    score = cross_val_predict(
        _classifier(seed), x, y, cv=splitter, method="predict_proba"
    )
    return {
        "auc": float(roc_auc_score(y, score[:, 1])),
        "folds": folds,
        "n_real": int((y == 0).sum()),
        "n_synthetic": int((y == 1).sum()),
    }


# Memorisation


def memorisation(
    synthetic: EcgSet,
    train: EcgSet,
    unseen: EcgSet,
    *,
    fs: int = CANONICAL_FS,
    collections: Sequence[Collection] | None = None,
) -> dict:
    """Flag synthetic ECGs closer to a training patient than unseen patients come.

    Closeness is ``generator.similarity``'s: the correlation of the z-scored leads
    at the best shift of up to 2 s, averaged over the leads, so a rescaled or
    shifted copy is found. The reference is how close real records the model
    never saw (``unseen``: the val and test patients, load_unseen) come to their
    nearest training record: a synthetic ECG closer than the closest of them is
    flagged. Of a generator whose ECGs are as new as unseen patients, each ECG
    would pass the closest of k of them with probability 1/(k + 1): the report
    gives that expected count, and a one-sided Mann-Whitney p-value of the
    synthetic ECGs being closer to the training set than unseen patients are
    (a small one: the generator leans on its training patients as a whole). Unseen
    records that are the same recording as a training one (similarity of at
    least DUPLICATE_SIMILARITY: public collections share records) are left out
    of the reference, or nothing could ever be flagged. Distances are reported
    as 1 - similarity (0 for a copy).

    ``collections`` splits ``train`` (every ECG the generator learnt from) into
    collections, each with its own bar: a synthetic ECG is flagged when it comes
    closer to a collection's training patient than that collection's unseen
    patients come (default: one collection, judged by ``unseen``).
    """
    if collections is None:
        collections = [Collection("train", np.arange(len(train)))]
    n = len(synthetic)
    margins = np.full(n, -np.inf)  # similarity minus its collection's bar
    similarity, nearest = np.zeros(n), np.zeros(n, dtype=int)
    which = np.zeros(n, dtype=int)
    overall = np.full(n, -np.inf)  # to the nearest learnt ECG of any collection
    groups = []
    for k, group in enumerate(collections):
        learnt = train.signals[group.rows]
        found, index = nearest_similar(synthetic.signals, learnt, fs)
        judges = group.unseen if group.unseen is not None else unseen.signals
        unseen_found, _ = nearest_similar(judges, learnt, fs)
        ceiling, n_duplicates = unseen_ceiling(unseen_found)
        reference = unseen_found[unseen_found < DUPLICATE_SIMILARITY]
        closer_p = (
            float(mannwhitneyu(found, reference, alternative="greater").pvalue)
            if reference.size
            else None
        )
        overall = np.maximum(overall, found)
        closer = found - ceiling > margins
        margins[closer] = (found - ceiling)[closer]
        similarity[closer], nearest[closer] = found[closer], group.rows[index[closer]]
        which[closer] = k
        groups.append(
            {
                "name": group.name,
                "n_learnt": len(group.rows),
                "judged_by": "its own unseen patients"
                if group.unseen is not None
                else "the dataset's unseen patients",
                "n_unseen": len(judges),
                "threshold": 1 - ceiling,
                "unseen_duplicates": n_duplicates,
                "unseen_to_train": _describe(1 - reference)
                | {"min": 1 - ceiling, "values": (1 - reference).round(4).tolist()},
                "synthetic_to_train": _describe(1 - found)
                | {"values": (1 - found).round(4).tolist()},
                "flagged": int((found > ceiling).sum()),
                "expected_if_novel": n / (reference.size + 1),
                "synthetic_closer_p": closer_p,
            }
        )
    distances = 1 - overall
    flagged = np.flatnonzero(margins > 0)
    order = np.argsort(-margins, kind="stable")  # closest to its own bar first

    def pair(i: int) -> dict:
        lag = aligned_pair(synthetic.signals[i], train.signals[nearest[i]], fs)[2]
        return {
            "synthetic": synthetic.ids[i],
            "synthetic_index": int(i),
            "train": train.ids[nearest[i]],
            "train_index": int(nearest[i]),
            "collection": groups[which[i]]["name"],
            "distance": float(1 - similarity[i]),
            "threshold": groups[which[i]]["threshold"],
            # the training ECG at t + shift_s lines up with the synthetic at t
            "shift_s": lag / fs,
        }

    first = groups[0]
    return {
        "distance": "1 - correlation of the z-scored leads at the best shift "
        "(up to 2 s), averaged over the leads (0 = copy)",
        "synthetic_to_train": _describe(distances)
        | {"min": float(distances.min()), "values": distances.round(4).tolist()},
        "unseen_to_train": first["unseen_to_train"],
        "unseen_duplicates": first["unseen_duplicates"],
        "threshold": first["threshold"],
        "collections": groups,
        "flagged": [pair(i) for i in flagged],
        # at most the sum: an ECG can pass more than one collection's bar
        "expected_if_novel": sum(g["expected_if_novel"] for g in groups),
        "closest_pair": pair(int(order[0])),
        "closest_pairs": [pair(i) for i in order[:CLOSEST_PAIRS]],
    }


# The whole evaluation


def evaluate(
    train: EcgSet,
    test: EcgSet,
    synthetic: EcgSet,
    *,
    fs: int = CANONICAL_FS,
    n_boot: int = 1000,
    seed: int = 0,
    progress: Callable[[str], None] | None = None,
    learnt: EcgSet | None = None,
    collections: Sequence[Collection] | None = None,
    unseen: EcgSet | None = None,
) -> tuple[dict, dict[str, FeatureTable]]:
    """Every figure of the evaluation as a JSON-ready dict, and the feature tables
    of train, test and synthetic (for the plots). ``learnt`` is every ECG the
    generator learnt from, for the memorisation audit (default: ``train``), and
    ``collections`` its parts, each with its own unseen patients (learnt_set);
    ``unseen`` the dataset's patients it never saw (default: ``test``)."""

    def step(message: str) -> None:
        if progress is not None:
            progress(message)

    lengths = {x.signals.shape[-1] for x in (train, test, synthetic)}
    if len(lengths) > 1:
        raise ValueError(
            f"real and synthetic ECGs differ in length ({sorted(lengths)} samples); "
            f"the evaluation compares {DURATION_S:g}-s ECGs at {fs} Hz"
        )

    step(
        f"features of {len(train)} train, {len(test)} test, {len(synthetic)} synthetic"
    )
    train_f = feature_table(train, fs)
    test_f = feature_table(test, fs)
    synthetic_f = feature_table(synthetic, fs)
    step("fidelity")
    results = {
        "counts": {
            "train": len(train),
            "test": len(test),
            "synthetic": len(synthetic),
            "synthetic_per_rhythm": {
                r: synthetic.rhythms.count(r) for r in sorted(set(synthetic.rhythms))
            },
            "test_per_rhythm": {
                r: test.rhythms.count(r) for r in sorted(set(test.rhythms))
            },
        },
        "fidelity": fidelity(test, test_f, synthetic, synthetic_f, fs),
    }
    results["qrs_beat_variation"] = {
        "real": test_f.median("qrs_beat_variation"),
        "synthetic": synthetic_f.median("qrs_beat_variation"),
    }
    step("label consistency")
    results["label_consistency"] = label_consistency(
        train, train_f, test, test_f, synthetic, synthetic_f, seed=seed
    )
    results["amplitude"] = amplitude_report(
        test.signals, synthetic.signals, n_boot=n_boot, seed=seed
    )
    results["amplitude"]["by_rhythm"] = rms_ratio_by_rhythm(
        test.signals, test.rhythms, synthetic.signals, synthetic.rhythms
    )
    results["amplitude"]["taught"] = taught_voltage(
        train, test, synthetic, n_draws=n_boot, seed=seed
    )
    results["spectrum_distance"] = spectrum_distance(
        test.signals, synthetic.signals, fs
    )
    step("memorisation")
    results["memorisation"] = memorisation(
        synthetic, learnt or train, unseen or test, fs=fs, collections=collections
    )
    step("utility")
    results["utility"] = utility(
        train, train_f, test, test_f, synthetic, synthetic_f, n_boot=n_boot, seed=seed
    )
    step("two-sample test")
    results["two_sample"] = two_sample_auc(test_f, synthetic_f, seed=seed)
    results["summary"] = summary(results)
    return results, {"train": train_f, "test": test_f, "synthetic": synthetic_f}


def summary(results: dict) -> dict:
    """The headline figures, for lists and the admin."""
    af = results["utility"]["af_vs_sr"]
    taught = results["amplitude"].get("taught", {})
    return {
        "two_sample_auc": results["two_sample"].get("auc"),
        "memorised": len(results["memorisation"]["flagged"]),
        "memorised_if_novel": results["memorisation"]["expected_if_novel"],
        "tstr_af_f1": af["TSTR"].get("f1"),
        "trtr_af_f1": af["TRTR"].get("f1"),
        "n_af_test": af["TSTR"].get("n_test_positive"),
        "spectrum_distance": _mean_spectrum(results["fidelity"]),
        "spectrum_distance_below_display": results["spectrum_distance"][
            "mean_below_display"
        ],
        "rms_ratio_range": results["amplitude"]["rms_ratio_range"],
        "rms_ratio_range_sr": _ratio_range(
            results["amplitude"].get("by_rhythm", {}).get("SR")
        ),
        "rms_ratio_range_train_vs_test": _ratio_range(taught.get("train_vs_test")),
        "rms_ratio_range_sr_vs_train": _ratio_range(
            taught.get("synthetic_vs_train", {}).get("by_rhythm", {}).get("SR")
        ),
        "rms_window_faithful": taught.get("faithful", {}).get("in_window"),
        "near_flat_synthetic": results["amplitude"]["near_flat_synthetic"],
        "near_flat_real": results["amplitude"]["near_flat_real"],
        "qrs_beat_variation": results["qrs_beat_variation"]["synthetic"],
        "qrs_beat_variation_real": results["qrs_beat_variation"]["real"],
    }


def _ratio_range(within: dict | None) -> list[float] | None:
    """The lowest and highest lead's ratio in one rms_ratio_by_rhythm entry."""
    if within is None:
        return None
    ratios = within["rms_ratio"].values()
    return [min(ratios), max(ratios)]


def _mean_spectrum(fidelity_report: dict) -> float | None:
    values = [
        entry["spectrum_distance"]["mean"]
        for entry in fidelity_report.values()
        if "spectrum_distance" in entry
    ]
    return float(np.mean(values)) if values else None


# Output


def _png(figure) -> bytes:
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=110, bbox_inches="tight")
    import matplotlib.pyplot as plt

    plt.close(figure)
    return buffer.getvalue()


def plots(
    results: dict,
    features: dict[str, FeatureTable],
    synthetic: EcgSet,
    train: EcgSet,
    test: EcgSet,
    fs: int = CANONICAL_FS,
) -> dict[str, bytes]:
    """PNG plots: feature distributions, spectra, memorisation, the closest pair."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    images = {}
    shown = ("heart_rate_bpm", "rr_cv", "qrs_ms", "pr_ms", "qt_ms")
    test_f, synthetic_f = features["test"], features["synthetic"]
    labels = [
        label for label, entry in results["fidelity"].items() if entry.get("n_real")
    ]
    if labels:
        figure, axes = plt.subplots(
            len(labels),
            len(shown),
            figsize=(3 * len(shown), 2.4 * len(labels)),
            squeeze=False,
        )
        for row, label in enumerate(labels):
            real_mask = np.array([r == label for r in test.rhythms])
            syn_mask = np.array([r == label for r in synthetic.rhythms])
            for col, name in enumerate(shown):
                k = test_f.names.index(name)
                a = test_f.values[real_mask, k]
                b = synthetic_f.values[syn_mask, k]
                ax = axes[row, col]
                data = [a[np.isfinite(a)], b[np.isfinite(b)]]
                if all(d.size for d in data):
                    ax.boxplot(data, tick_labels=["real", "synthetic"], widths=0.6)
                ax.set_title(f"{label}: {name}", fontsize=9)
        images["features.png"] = _png(figure)
    figure, axes = plt.subplots(3, 4, figsize=(14, 8), sharex=True)
    freqs, real_psd = average_spectrum(test.signals, fs)
    _, syn_psd = average_spectrum(synthetic.signals, fs)
    for i, ax in enumerate(axes.flat):
        ax.plot(freqs, real_psd[i], label="real")
        ax.plot(freqs, syn_psd[i], label="synthetic")
        ax.set_title(LEADS[i], fontsize=9)
        ax.set_xlim(0, fs / 2)
    axes[0, 0].legend(fontsize=8)
    figure.supxlabel("Hz")
    figure.supylabel("mean log10 power (mV²/Hz)")
    images["spectra.png"] = _png(figure)
    memo = results["memorisation"]
    groups = memo["collections"]
    figure, axes = plt.subplots(
        len(groups), 1, figsize=(7, 2.6 * len(groups) + 0.6), squeeze=False
    )
    for ax, group in zip(axes[:, 0], groups, strict=True):
        ax.hist(
            group["unseen_to_train"]["values"],
            bins=30,
            density=True,
            alpha=0.6,
            label=f"unseen real ({group['judged_by']}, {group['n_unseen']})",
        )
        ax.hist(
            group["synthetic_to_train"]["values"],
            bins=30,
            density=True,
            alpha=0.6,
            label="synthetic",
        )
        ax.axvline(
            group["threshold"],
            color="k",
            linestyle="--",
            label=f"closest unseen patient ({group['flagged']} flagged)",
        )
        ax.set_title(
            f"to the nearest of {group['n_learnt']} ECGs of {group['name']}",
            fontsize=9,
        )
        ax.legend(fontsize=7)
    axes[-1, 0].set_xlabel(
        "distance (1 - correlation at the best shift, mean over leads)"
    )
    images["memorisation.png"] = _png(figure)
    for rank, pair in enumerate(memo.get("closest_pairs", [memo["closest_pair"]])):
        # as the audit compares them: each lead z-scored (a z-scored shape record
        # beside millivolts would dwarf it), the training ECG at the best shift
        a, b, lag, _ = aligned_pair(
            synthetic.signals[pair["synthetic_index"]],
            train.signals[pair["train_index"]],
            fs,
        )
        figure, axes = plt.subplots(12, 1, figsize=(12, 14), sharex=True)
        t = np.arange(a.shape[-1]) / fs
        for i, ax in enumerate(axes):
            ax.plot(t, b[i], color="#1d5fa8", linewidth=0.8, label="nearest train")
            ax.plot(t, a[i], color="#c2410c", linewidth=0.8, label="synthetic")
            ax.set_ylabel(LEADS[i], rotation=0, labelpad=18)
        axes[0].legend(fontsize=8, loc="upper right")
        axes[-1].set_xlabel("s (synthetic time; leads z-scored)")
        figure.suptitle(
            f"Closest pair {rank + 1}: {pair['synthetic']} and {pair['train']} "
            f"shifted {lag / fs:+.2f} s (distance {pair['distance']:.3f}, "
            f"flagged below {pair['threshold']:.3f})"
        )
        name = "closest_pair.png" if rank == 0 else f"closest_pair_{rank + 1}.png"
        images[name] = _png(figure)
    return images


def _fmt(value, digits: int = 3) -> str:
    return "-" if value is None else f"{value:.{digits}f}"


def _with_ci(value, interval) -> str:
    low, high = interval or (None, None)
    return f"{_fmt(value)} [{_fmt(low)}, {_fmt(high)}]"


def _faithful_html(faithful: dict) -> str:
    """The sentence that says how far the voltage window is within reach."""
    low, high = faithful["window"]
    return (
        "<p>A generator whose ECGs are its training patients, drawn anew for the "
        "same rhythms, has every lead's ratio within "
        f"{low:g}-{high:g} in <b>{faithful['in_window']:.1%}</b> of "
        f"{faithful['n_draws']} draws against these real ECGs; the last column "
        "gives its range lead by lead. Where that share is small, these real "
        "patients differ from the training ones by more than the window allows: "
        "a generator meets it only by drawing voltages its training data does "
        "not hold.</p>"
    )


def _html_table(headers: Sequence[str], rows: Sequence[Sequence[object]]) -> str:
    def cells(tag: str, values) -> str:
        return "".join(f"<{tag}>{html.escape(str(v))}</{tag}>" for v in values)

    body = "".join(f"<tr>{cells('td', row)}</tr>" for row in rows)
    return f"<table><tr>{cells('th', headers)}</tr>{body}</table>"


SUMMARY_STYLE = """
body { font-family: system-ui, sans-serif; margin: 2rem auto; max-width: 72rem;
       color: #1c2430; padding: 0 1rem; }
table { border-collapse: collapse; margin: .5rem 0 1.5rem; font-size: .9rem; }
td, th { border-bottom: 1px solid #e6eaf0; padding: .25rem .6rem; text-align: left; }
th { background: #f5f7fa; }
img { max-width: 100%; }
"""


def summary_html(
    results: dict, images: dict[str, bytes], title: str, extra_html: str = ""
) -> str:
    """One self-contained HTML page: headline tables and the plots inlined;
    ``extra_html`` (e.g. the closest pair drawn as sheets) goes before the plots."""
    utility_rows = [
        [
            task,
            run,
            f"{r['n_train']} ({r['n_train_positive']} positive)",
            f"{r['n_test']} ({r['n_test_positive']} positive)",
            _with_ci(r.get("f1"), r.get("f1_ci")),
            _with_ci(r.get("auroc"), r.get("auroc_ci")),
            r.get("note", ""),
        ]
        for task, block in results["utility"].items()
        for run in ("TRTR", "TSTR", "TRTS")
        for r in [block[run]]
    ]
    fidelity_rows = [
        [
            label,
            name,
            f"{_fmt(f['real']['median'], 2)} (n={f['real']['n']})",
            f"{_fmt(f['synthetic']['median'], 2)} (n={f['synthetic']['n']})",
            _fmt(f["wasserstein"]),
            _fmt(f["wasserstein_per_sd"]),
        ]
        for label, entry in results["fidelity"].items()
        for name in SCALAR_FEATURES
        for f in [entry.get("features", {}).get(name)]
        if f
    ]
    consistency_rows = [
        [
            label,
            v.get("n_synthetic"),
            _fmt(v.get("synthetic_agreement")),
            f"{_fmt(v.get('real_test_agreement'))} (n={v.get('n_real_test')})",
            v.get("note", ""),
        ]
        for label, v in results["label_consistency"].items()
        if isinstance(v, dict)
    ]
    voltage = results["amplitude"]
    by_rhythm = voltage.get("by_rhythm", {})
    taught = voltage.get("taught", {})
    faithful = taught.get("faithful")
    taught_columns = {}  # what the generator was taught: the real train set's ratio
    if "train_vs_test" in taught:
        taught_columns["real train / test"] = taught["train_vs_test"]
    for rhythm, v in taught.get("synthetic_vs_train", {}).get("by_rhythm", {}).items():
        taught_columns[
            f"synthetic / real train, {rhythm} only ({v['n_real']} train)"
        ] = v
    voltage_rows = [
        [
            lead,
            _fmt(voltage["rms_real_mv"][lead]),
            _fmt(voltage["rms_synthetic_mv"][lead]),
            _with_ci(voltage["rms_ratio"][lead], voltage["rms_ratio_ci"][lead]),
            *(_fmt(v["rms_ratio"][lead]) for v in by_rhythm.values()),
            *(_fmt(v["rms_ratio"][lead]) for v in taught_columns.values()),
            *(
                ["-".join(_fmt(v, 2) for v in faithful["rms_ratio_range"][lead])]
                if faithful
                else []
            ),
        ]
        for lead in LEADS
    ]
    rhythm_columns = (
        [
            f"ratio, {rhythm} only ({v['n_synthetic']} synthetic, {v['n_real']} real)"
            for rhythm, v in by_rhythm.items()
        ]
        + list(taught_columns)
        + (["a faithful generator's ratio, 95% range"] if faithful else [])
    )
    memo = results["memorisation"]
    s = results["summary"]
    figures = "".join(
        f"<h3>{html.escape(name)}</h3>"
        f'<img alt="{html.escape(name)}" src="data:image/png;base64,'
        f'{base64.b64encode(data).decode()}">'
        for name, data in images.items()
    )
    headline = (
        "Two-sample AUC (real vs synthetic, cross-validated; 0.5 is ideal): "
        f"<b>{_fmt(s['two_sample_auc'])}</b>. Synthetic ECGs closer to a training "
        "patient than any unseen real patient comes: "
        f"<b>{s['memorised']}</b> (about {_fmt(s['memorised_if_novel'], 1)} "
        "expected of a generator whose ECGs are as new as unseen patients). "
        + " ".join(
            f"{html.escape(g['name'])}: threshold {_fmt(g['threshold'])}, set by "
            f"{g['n_unseen']} unseen patients; synthetic ECGs closer to it than "
            f"they come, one-sided p = {_fmt(g['synthetic_closer_p'])}."
            for g in memo["collections"]
        )
        + " "
        f"AF vs SR, TSTR F1 <b>{_fmt(s['tstr_af_f1'])}</b> against TRTR "
        f"{_fmt(s['trtr_af_f1'])} (real test AF cases: {s['n_af_test']})."
    )
    return "\n".join(
        [
            '<!doctype html><html lang="en"><head><meta charset="utf-8">',
            f"<title>{html.escape(title)}</title><style>{SUMMARY_STYLE}</style>",
            f"</head><body><h1>{html.escape(title)}</h1><p>{headline}</p>",
            "<h2>Utility</h2>",
            _html_table(
                ["task", "run", "train", "test", "F1 [95% CI]", "AUROC [95% CI]", ""],
                utility_rows,
            ),
            "<h2>Label consistency</h2>",
            _html_table(
                [
                    "label",
                    "synthetic",
                    "agreed by the detector",
                    "detector on real",
                    "",
                ],
                consistency_rows,
            ),
            "<h2>Fidelity</h2>",
            "<p>QRS change from beat to beat (the RMS of each beat's QRS around "
            "the ECG's median QRS, relative to it; median over the leads and the "
            "ECGs): real <b>"
            f"{_fmt(results['qrs_beat_variation']['real'], 2)}</b>, synthetic <b>"
            f"{_fmt(results['qrs_beat_variation']['synthetic'], 2)}</b>. A "
            "recording repeats its QRS; a generator that draws each beat anew "
            "does not, and a reader sees it along a lead.</p>",
            _html_table(
                ["label", "feature", "real median", "synthetic median"]
                + ["Wasserstein", "per real SD"],
                fidelity_rows,
            ),
            "<h2>Voltage</h2>",
            f"<p>Near-flat ECGs (mean lead SD under {NEAR_FLAT_MV * 1000:g} µV): "
            f"real {voltage['near_flat_real']:.1%}, synthetic "
            f"{voltage['near_flat_synthetic']:.1%}. Frontal axis, as the "
            "correlation of leads I and aVF (III and aVL are small where the two "
            "look alike): real median "
            f"{describe_axis(voltage['frontal_correlation_real'])}, synthetic "
            f"{describe_axis(voltage['frontal_correlation_synthetic'])}.</p>",
            "<p>The last columns give what the generator was taught: the real "
            "<code>train</code> ECGs' voltage against the real ones here (what a "
            "generator that draws its training patients' voltages exactly would "
            "read in the ratio column), and the synthetic ECGs' against "
            "<code>train</code> within a rhythm (how faithfully it draws them).</p>"
            if taught_columns
            else "",
            _faithful_html(faithful) if faithful else "",
            _html_table(
                ["lead", "real median RMS (mV)", "synthetic", "ratio [95% CI]"]
                + rhythm_columns,
                voltage_rows,
            ),
            extra_html,
            figures,
            "</body></html>",
            "",
        ]
    )


def write_outputs(evaluation: Evaluation, out: Path, title: str) -> None:
    out.mkdir(parents=True, exist_ok=True)
    (out / "results.json").write_text(json.dumps(evaluation.results, indent=2) + "\n")
    for name, data in evaluation.images.items():
        (out / name).write_bytes(data)
    np.savez(
        out / "closest_pair.npz",
        synthetic=evaluation.closest_synthetic,
        train=evaluation.closest_train,
        leads=np.array(LEADS),
    )
    page = summary_html(evaluation.results, evaluation.images, title)
    (out / "summary.html").write_text(page)


def checkpoint_synthesizer(
    checkpoint: str | Path, *, steps: int = 50, device: str = "auto"
) -> Synthesizer:
    from generator.api import generate

    def synthesize(labels: Sequence[str], n: int, seed: int) -> np.ndarray:
        signals, _ = generate(checkpoint, labels, n, seed, steps=steps, device=device)
        return signals

    return synthesize


def parse_label_sets(text: str) -> list[list[str]]:
    sets = [[part for part in item.split("+") if part] for item in text.split(",")]
    if not all(sets):
        raise ValueError(f"bad --labels {text!r}: use e.g. SR+NORM,SR,AF")
    return sets


SIDE_BY_SIDE = (  # summary key, row label
    ("two_sample_auc", "two-sample AUC (0.5 ideal)"),
    ("memorised", "memorised (flagged copies)"),
    ("memorised_if_novel", "  expected of new patients"),
    ("tstr_af_f1", "TSTR AF F1"),
    ("trtr_af_f1", "TRTR AF F1"),
    ("spectrum_distance", "spectrum distance 0.5-40 Hz"),
    ("spectrum_distance_below_display", "spectrum distance 0.5-35 Hz"),
    ("rms_ratio_range", "RMS ratio, lowest-highest lead"),
    ("rms_ratio_range_sr", "  within SR"),
    ("rms_ratio_range_sr_vs_train", "  within SR, against train"),
    ("rms_ratio_range_train_vs_test", "  real train against test"),
    ("rms_window_faithful", "  a faithful generator in window"),
    ("near_flat_synthetic", "near-flat share"),
    ("qrs_beat_variation", "QRS change beat to beat"),
    ("qrs_beat_variation_real", "  real test"),
)


def side_by_side(summaries: dict[str, dict]) -> str:
    """The headline figures of several evaluated sets, one column each."""
    names = list(summaries)

    def cell(value) -> str:
        if value is None:
            return "-"
        if isinstance(value, list | tuple):
            return "-".join(f"{v:.2f}" for v in value)
        return f"{value:.3f}" if isinstance(value, float) else str(value)

    lines = [f"{'':<32}" + "".join(f"{name[:22]:>24}" for name in names)]
    for key, label in SIDE_BY_SIDE:
        row = "".join(f"{cell(summaries[n].get(key)):>24}" for n in names)
        lines.append(f"{label:<32}" + row)
    return "\n".join(lines)


def _named_paths(values: Sequence[str], option: str) -> dict[str, str]:
    pairs = {}
    for value in values:
        name, _, path = value.partition("=")
        if not name or not path:
            raise ValueError(f"{option} takes NAME=PATH, got {value!r}")
        pairs[name] = path
    return pairs


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--checkpoint",
        type=Path,
        action="append",
        default=[],
        help="a checkpoint to generate from and evaluate (repeatable)",
    )
    parser.add_argument(
        "--source",
        action="append",
        default=[],
        help="NAME=PATH of another generator's .npy/.npz ECGs (repeatable)",
    )
    parser.add_argument(
        "--source-labels",
        action="append",
        default=[],
        help="NAME=CSV: each ECG's rhythm (record = 0-based index, rhythm or labels)",
    )
    parser.add_argument(
        "--source-leads",
        default=",".join(LEADS),
        help="lead order of the array files, comma-separated",
    )
    parser.add_argument("--source-fs", type=float, default=CANONICAL_FS)
    parser.add_argument(
        "--data", required=True, type=Path, help="a folder with index.csv"
    )
    parser.add_argument("--split", default="test", choices=["test", "val"])
    parser.add_argument(
        "--learnt-from",
        action="append",
        default=[],
        help="another folder the generator learnt from (its --shape-data or "
        "--voltage-data; repeatable or comma-separated): the memorisation audit "
        "looks for copies of its records too",
    )
    parser.add_argument(
        "--labels", default=DEFAULT_LABELS, help="label sets to generate"
    )
    parser.add_argument("--n-per-label", type=int, default=50)
    parser.add_argument("--steps", type=int, default=50, help="DDIM steps")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--bootstrap", type=int, default=1000)
    parser.add_argument("--device", default="auto")
    parser.add_argument("--out", required=True, type=Path)
    args = parser.parse_args(argv)
    if not args.checkpoint and not args.source:
        parser.error("give at least one --checkpoint or --source")
    if args.n_per_label < 2:
        parser.error("--n-per-label must be at least 2")
    try:
        label_sets = parse_label_sets(args.labels)
        sources = _named_paths(args.source, "--source")
        source_labels = _named_paths(args.source_labels, "--source-labels")
    except ValueError as exc:
        parser.error(str(exc))
    unknown = sorted(set(source_labels) - set(sources))
    unlabelled = sorted(set(sources) - set(source_labels))
    if unknown or unlabelled:
        parser.error(
            "every --source needs its --source-labels NAME=CSV (the evaluation "
            "compares rhythms); "
            + (f"no labels for {unlabelled}" if unlabelled else f"no source {unknown}")
        )
    learnt_from = [
        folder.strip()
        for value in args.learnt_from
        for folder in value.split(",")
        if folder.strip()
    ]
    missing = [folder for folder in learnt_from if not Path(folder).is_dir()]
    if missing:
        parser.error(f"--learnt-from: no such folder {', '.join(missing)}")
    say = lambda message: print(message, flush=True)  # noqa: E731
    from generator.compare import load_array_set

    evaluations: dict[str, Evaluation] = {}
    leads = [lead.strip() for lead in args.source_leads.split(",")]
    for name, path in sources.items():
        try:
            synthetic = load_array_set(
                path,
                leads=leads,
                fs=args.source_fs,
                name=name,
                labels_csv=source_labels[name],
            )
        except ValueError as exc:
            parser.error(str(exc))
        evaluations[name] = evaluate_set(
            synthetic,
            args.data,
            split=args.split,
            learnt_from=learnt_from,
            n_boot=args.bootstrap,
            seed=args.seed,
            progress=say,
            parameters={"source": str(path)},
        )
    for checkpoint in args.checkpoint:
        name = (
            checkpoint.name if checkpoint.name not in evaluations else str(checkpoint)
        )
        evaluations[name] = evaluate_checkpoint(
            checkpoint,
            args.data,
            split=args.split,
            learnt_from=learnt_from,
            label_sets=label_sets,
            n_per_label=args.n_per_label,
            steps=args.steps,
            seed=args.seed,
            n_boot=args.bootstrap,
            device=args.device,
            progress=say,
        )
    several = len(evaluations) > 1
    for name, evaluation in evaluations.items():
        out = args.out / name if several else args.out
        write_outputs(evaluation, out, f"Evaluation of {name}")
        print(f"wrote {out}/results.json, summary.html, closest_pair.npz and plots")
    summaries = {name: e.results["summary"] for name, e in evaluations.items()}
    if several:
        (args.out / "side_by_side.json").write_text(
            json.dumps(summaries, indent=2) + "\n"
        )
    print(f"against the real {args.split} ECGs of {args.data}:")
    print(side_by_side(summaries))


@dataclass
class Evaluation:
    """What evaluate_checkpoint returns: the figures, the plots, and the closest
    synthetic/train pair as arrays (for drawing them as 12-lead sheets)."""

    results: dict
    images: dict[str, bytes]
    closest_synthetic: np.ndarray  # (12, L) mV
    closest_train: np.ndarray  # (12, L) mV


def evaluate_checkpoint(
    checkpoint: str | Path,
    data_dir: str | Path,
    *,
    split: str = "test",
    label_sets: Sequence[Sequence[str]] | None = None,
    n_per_label: int = 50,
    steps: int = 50,
    seed: int = 0,
    n_boot: int = 1000,
    device: str = "auto",
    progress: Callable[[str], None] | None = None,
    learnt_from: Sequence[str | Path] = (),
) -> Evaluation:
    """Generate from a checkpoint and evaluate its ECGs against ``data_dir``;
    ``learnt_from``: as evaluate_set."""
    if label_sets is None:
        label_sets = parse_label_sets(DEFAULT_LABELS)
    from tqdm import tqdm

    from generator.api import checkpoint_labels, load_model

    if split == "train":
        raise ValueError("evaluate on test or val; train is what the model saw")
    known = set(checkpoint_labels(checkpoint))
    unknown = sorted({label for labels in label_sets for label in labels} - known)
    if unknown:
        raise ValueError(
            f"unknown label(s) {unknown}; the checkpoint knows {sorted(known)}"
        )
    synthesize = checkpoint_synthesizer(checkpoint, steps=steps, device=device)
    bar = tqdm(total=len(label_sets), desc="generating", unit="label set")

    def counted(labels, n, s):
        signals = synthesize(labels, n, s)
        bar.update(1)
        return signals

    synthetic = synthetic_set(counted, label_sets, n_per_label, seed)
    bar.close()
    return evaluate_set(
        synthetic,
        data_dir,
        split=split,
        n_boot=n_boot,
        seed=seed,
        progress=progress,
        learnt_from=learnt_from,
        parameters={
            "checkpoint": str(checkpoint),
            "label_sets": ["+".join(labels) for labels in label_sets],
            "n_per_label": n_per_label,
            "steps": steps,
            "voltage_calibration": load_model(checkpoint, device).checkpoint.extra.get(
                "voltage_calibration"
            ),
        },
    )


TRAIN_COLLECTION = "train split"


def learnt_set(
    train: EcgSet, folders: Sequence[str | Path], unseen_splits: Sequence[str] = ()
) -> tuple[EcgSet, list[Collection]]:
    """``train`` and the ECGs of ``folders`` a generator also learnt from, in one
    set, and the collections they form: a folder with patients of its own in
    ``unseen_splits`` (a ptbxl-shape folder's PTB-XL folds 9 and 10;
    generator.data.folder_ecgs) is a collection judged by them; ``train`` and the
    folders without are one, judged by the dataset's unseen patients. (Judged
    alone, a small folder's bar is how close unrelated patients come to its few
    patients: the 65 `test` ECGs come to 0.41 of the 10 long PTB records'
    windows, which flagged 18 synthetic ECGs of 300 at 0.41-0.60, none a copy.)"""
    from generator.data import folder_ecgs, learnt_ecgs

    signals, ids = [train.signals], list(train.ids)
    pooled = Collection(TRAIN_COLLECTION, np.arange(len(train)))
    collections = [pooled]
    for folder in folders:
        more, more_ids = learnt_ecgs(folder)
        rows = np.arange(len(ids), len(ids) + len(more))
        signals.append(more)
        ids += more_ids
        held = [folder_ecgs(folder, split)[0] for split in unseen_splits]
        held = [x for x in held if len(x)]
        if held:
            unseen = np.concatenate(held)
            collections.append(Collection(Path(folder).name, rows, unseen))
        else:
            pooled.name += f", {Path(folder).name}"
            pooled.rows = np.concatenate([pooled.rows, rows])
    n_more = len(ids) - len(train)
    learnt = EcgSet(
        np.concatenate(signals),
        train.rhythms + ["unknown"] * n_more,
        train.normal + [None] * n_more,
        ids,
    )
    return learnt, collections


def evaluate_set(
    synthetic: EcgSet,
    data_dir: str | Path,
    *,
    split: str = "test",
    n_boot: int = 1000,
    seed: int = 0,
    progress: Callable[[str], None] | None = None,
    parameters: dict | None = None,
    learnt_from: Sequence[str | Path] = (),
) -> Evaluation:
    """Evaluate any set of synthetic ECGs (a checkpoint's, or another generator's
    array file: generator.compare.load_array_set) against ``data_dir``: its
    ``train`` split for memorisation and utility, ``split`` as the real ECGs.

    ``learnt_from``: the other folders the generator learnt from (its
    ``--shape-data`` and ``--voltage-data``); the memorisation audit compares
    each synthetic ECG with their records too (generator.data.learnt_ecgs): a
    copy of any patient the model saw is a copy. The audit's bars come from every
    patient the model never saw (the val and test splits), whichever ``split``
    is evaluated; a folder with val and test patients of its own is judged by
    them (see Collection)."""
    if split == "train":
        raise ValueError("evaluate on test or val; train is what the model saw")
    train = load_split(data_dir, "train")
    unseen = unseen_splits(data_dir)  # the evaluated split is one of them
    test = unseen[split] if split in unseen else load_split(data_dir, split)
    learnt, collections = learnt_set(train, learnt_from, UNSEEN_SPLITS)
    results, features = evaluate(
        train,
        test,
        synthetic,
        n_boot=n_boot,
        seed=seed,
        progress=progress,
        learnt=learnt,
        collections=collections,
        unseen=EcgSet.concatenate(list(unseen.values())),
    )
    results["parameters"] = {
        **(parameters or {}),
        "learnt_from": [str(folder) for folder in learnt_from],
        "n_learnt": len(learnt),
        "split": split,
        "n_synthetic": len(synthetic),
        "seed": seed,
        "bootstrap": n_boot,
    }
    pair = results["memorisation"]["closest_pair"]
    return Evaluation(
        results=results,
        images=plots(results, features, synthetic, learnt, test),
        closest_synthetic=synthetic.signals[pair["synthetic_index"]],
        closest_train=learnt.signals[pair["train_index"]],
    )


if __name__ == "__main__":
    main()

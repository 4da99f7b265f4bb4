"""How well a script could tell real from synthetic ECGs by the bytes readers get.

Pure numpy, scipy and scikit-learn: the input is the exact case page and sheet
bytes of each ECG, the output is, for each simple origin cue a script could read
from those bytes, its ROC AUC with an interval, and the cross-validated AUC of a
classifier on all of them together. An AUC whose interval covers 0.5 means the
cue gives nothing away that this audit can measure.

Cues come in two kinds:
- **construction**: what the pipeline, not the ECG, puts into the bytes (byte
  lengths, the coordinates' text, the lead arithmetic, flat-topped clipping).
  Each must be at chance before a study is launched.
- **waveform**: what the ECG itself looks like (amplitudes, the noise floor, the
  spectrum). These measure the generator's realism, which readers are asked to
  judge; they are reported, not held against the launch.
"""

from __future__ import annotations

import math
import re
from dataclasses import asdict, dataclass

import numpy as np
from scipy.signal import welch
from scipy.stats import norm
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import StratifiedKFold
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from ecgstudy.pool import render

CONSTRUCTION = "construction"
WAVEFORM = "waveform"

# name -> (kind, what it measures, unit)
CUES: dict[str, tuple[str, str, str]] = {
    "page_bytes": (CONSTRUCTION, "length of the case page", "bytes"),
    "sheet_bytes": (CONSTRUCTION, "length of the sheet (SVG)", "bytes"),
    "coordinate_chars": (
        CONSTRUCTION,
        "mean characters per trace coordinate",
        "characters",
    ),
    "round_coordinates": (
        CONSTRUCTION,
        "share of trace y coordinates that end in 0 (hundredths)",
        "share",
    ),
    "goldberger_residual": (
        CONSTRUCTION,
        "spread of aVR + aVL + aVF, which is 0 by construction",
        "µV",
    ),
    "einthoven_residual": (
        CONSTRUCTION,
        "spread of I - II + III, which is 0 by construction",
        "µV",
    ),
    "flat_tops": (
        CONSTRUCTION,
        "share of samples on flat-topped peaks (clipping)",
        "share",
    ),
    "rms_amplitude": (WAVEFORM, "median RMS amplitude over the leads", "mV"),
    "peak_amplitude": (WAVEFORM, "largest absolute amplitude", "mV"),
    "noise_floor": (
        WAVEFORM,
        "median absolute second difference (noise floor)",
        "µV",
    ),
    "high_band_share": (
        WAVEFORM,
        "share of lead II power at 15-40 Hz",
        "share",
    ),
    "low_band_share": (
        WAVEFORM,
        "share of lead II power at 0.5-5 Hz",
        "share",
    ),
}

_NUMBER = re.compile(rb"[-+]?\d+(?:\.\d+)?")
_TRACES = re.compile(rb'<g class="ecg-traces">(.*?)</g>', re.S)
_PATH_D = re.compile(rb'<path d="([^"]*)"')
_MIN_PER_ORIGIN = 2


@dataclass(frozen=True)
class SheetTraces:
    """The 13 trace paths of a sheet, read back as millivolts."""

    leads: dict[str, np.ndarray]  # lead -> its 2.5-s column, mV
    rhythm: np.ndarray  # the 10-s lead II strip, mV
    fs: float  # samples per second along x
    coordinate_texts: list[bytes]  # every y coordinate as written


def read_sheet(svg: bytes) -> SheetTraces:
    """Read the traces back from a sheet's bytes, as a script in the browser could.

    Raises ValueError if the bytes are not a sheet of ``render.render_sheet``.
    """
    block = _TRACES.search(svg)
    if block is None:
        raise ValueError("no trace group in the sheet")
    paths = _PATH_D.findall(block.group(1))
    geometry = render.viewer_geometry()
    rows = geometry["trace_rows"]
    if len(paths) != len(rows):
        raise ValueError(f"expected {len(rows)} trace paths, found {len(paths)}")
    order = [lead for row in render.LAYOUT_ROWS for lead in row]
    gain = geometry["gain_mm_mv"]
    leads: dict[str, np.ndarray] = {}
    texts: list[bytes] = []
    rhythm = np.empty(0)
    step_mm = math.nan
    for index, (d, row) in enumerate(zip(paths, rows, strict=True)):
        tokens = _NUMBER.findall(d)
        if len(tokens) < 4 or len(tokens) % 2:
            raise ValueError(f"trace {index} is not a polyline")
        x = np.array(tokens[0::2], dtype=float)
        y_texts = tokens[1::2]
        texts.extend(y_texts)
        mv = (geometry["baselines_mm"][row] - np.array(y_texts, dtype=float)) / gain
        if index < len(order):
            leads[order[index]] = mv
        else:
            rhythm = mv
            step_mm = float(np.median(np.diff(x)))
    return SheetTraces(
        leads=leads,
        rhythm=rhythm,
        fs=geometry["speed_mm_s"] / step_mm,
        coordinate_texts=texts,
    )


def _flat_top_share(signal: np.ndarray) -> float:
    """Share of samples in runs of 3+ equal values at a local extreme."""
    flat = np.diff(signal) == 0
    count = 0
    i = 0
    n = flat.size
    while i < n:
        if not flat[i]:
            i += 1
            continue
        j = i
        while j < n and flat[j]:
            j += 1
        run = j - i + 1  # samples in the plateau
        before = signal[i - 1] if i > 0 else signal[i]
        after = signal[j + 1] if j + 1 < signal.size else signal[j]
        level = signal[i]
        extreme = (before < level and after < level) or (
            before > level and after > level
        )
        if run >= 3 and extreme and abs(level) > 0.5:
            count += run
        i = j
    return count / max(signal.size, 1)


def _band_share(signal: np.ndarray, fs: float, low: float, high: float) -> float:
    freqs, power = welch(signal - signal.mean(), fs=fs, nperseg=min(256, signal.size))
    total = power[(freqs >= 0.5) & (freqs <= 40)].sum()
    band = power[(freqs >= low) & (freqs < high)].sum()
    return float(band / total) if total > 0 else 0.0


def case_cues(page: bytes, sheet: bytes) -> dict[str, float]:
    """Every cue of CUES for one case, from the page and sheet bytes it is served in."""
    traces = read_sheet(sheet)
    leads = traces.leads
    y_hundredths = [text.split(b".")[-1] for text in traces.coordinate_texts]
    goldberger = leads["aVR"] + leads["aVL"] + leads["aVF"]
    einthoven = leads["I"] - leads["II"] + leads["III"]
    stacked = np.stack(list(leads.values()))
    rms = np.sqrt(np.mean((stacked - stacked.mean(axis=1, keepdims=True)) ** 2, 1))
    second = np.abs(np.diff(stacked, n=2, axis=1))
    return {
        "page_bytes": float(len(page)),
        "sheet_bytes": float(len(sheet)),
        "coordinate_chars": float(
            np.mean([len(text) for text in traces.coordinate_texts])
        ),
        "round_coordinates": float(
            np.mean([digits.endswith(b"0") for digits in y_hundredths])
        ),
        "goldberger_residual": float(np.std(goldberger) * 1000),
        "einthoven_residual": float(np.std(einthoven) * 1000),
        "flat_tops": float(
            np.mean([_flat_top_share(lead) for lead in [*leads.values()]])
        ),
        "rms_amplitude": float(np.median(rms)),
        "peak_amplitude": float(np.abs(stacked).max()),
        "noise_floor": float(np.median(second) * 1000),
        "high_band_share": _band_share(traces.rhythm, traces.fs, 15, 40),
        "low_band_share": _band_share(traces.rhythm, traces.fs, 0.5, 5),
    }


@dataclass(frozen=True)
class AucInterval:
    auc: float  # P(score of a synthetic case > score of a real one), ties half
    low: float
    high: float

    @property
    def covers_chance(self) -> bool:
        return self.low <= 0.5 <= self.high

    @property
    def separation(self) -> float:
        """How far from chance, whichever way: max(AUC, 1 - AUC)."""
        return max(self.auc, 1 - self.auc)


def _midranks(values: np.ndarray) -> np.ndarray:
    order = np.argsort(values, kind="mergesort")
    ranks = np.empty(values.size)
    sorted_values = values[order]
    i = 0
    while i < values.size:
        j = i
        while j + 1 < values.size and sorted_values[j + 1] == sorted_values[i]:
            j += 1
        ranks[order[i : j + 1]] = (i + j) / 2 + 1
        i = j + 1
    return ranks


def auc_interval(
    scores: np.ndarray, synthetic: np.ndarray, *, level: float = 0.95
) -> AucInterval:
    """ROC AUC of ``scores`` for synthetic (positive) against real, with DeLong's
    interval (DeLong, DeLong & Clarke-Pearson 1988, by the midrank method of Sun &
    Xu 2014). Raises ValueError with fewer than two cases of either origin."""
    scores = np.asarray(scores, dtype=float)
    synthetic = np.asarray(synthetic, dtype=bool)
    positives, negatives = scores[synthetic], scores[~synthetic]
    m, n = positives.size, negatives.size
    if m < _MIN_PER_ORIGIN or n < _MIN_PER_ORIGIN:
        raise ValueError(
            f"an AUC needs at least {_MIN_PER_ORIGIN} real and "
            f"{_MIN_PER_ORIGIN} synthetic cases; got {n} and {m}"
        )
    combined = _midranks(np.concatenate([positives, negatives]))
    within_pos, within_neg = _midranks(positives), _midranks(negatives)
    auc = (combined[:m].sum() - m * (m + 1) / 2) / (m * n)
    v10 = (combined[:m] - within_pos) / n  # per synthetic case
    v01 = 1 - (combined[m:] - within_neg) / m  # per real case
    variance = np.var(v10, ddof=1) / m + np.var(v01, ddof=1) / n
    half = norm.ppf((1 + level) / 2) * math.sqrt(max(variance, 0.0))
    return AucInterval(
        auc=float(auc),
        low=float(max(0.0, auc - half)),
        high=float(min(1.0, auc + half)),
    )


def cross_validated_scores(
    features: np.ndarray, synthetic: np.ndarray, *, seed: int = 0
) -> np.ndarray:
    """Out-of-fold probability of "synthetic" from a standardised logistic regression
    (stratified folds, at most 5, at least 2 cases of each origin per fold)."""
    features = np.asarray(features, dtype=float)
    synthetic = np.asarray(synthetic, dtype=bool)
    minority = int(min(synthetic.sum(), (~synthetic).sum()))
    folds = min(5, minority // _MIN_PER_ORIGIN)
    if folds < 2:
        raise ValueError(
            "a cross-validated classifier needs at least "
            f"{2 * _MIN_PER_ORIGIN} cases of each origin; the smaller group has "
            f"{minority}"
        )
    scores = np.empty(synthetic.size)
    splitter = StratifiedKFold(n_splits=folds, shuffle=True, random_state=seed)
    for train, test in splitter.split(features, synthetic):
        model = make_pipeline(
            StandardScaler(), LogisticRegression(max_iter=1000, class_weight="balanced")
        )
        model.fit(features[train], synthetic[train])
        scores[test] = model.predict_proba(features[test])[:, 1]
    return scores


@dataclass(frozen=True)
class CueResult:
    name: str
    kind: str
    description: str
    unit: str
    real_median: float
    synthetic_median: float
    auc: AucInterval


@dataclass(frozen=True)
class AuditResult:
    n_real: int
    n_synthetic: int
    cues: list[CueResult]
    classifiers: dict[str, AucInterval]  # "construction", "waveform", "all"
    threshold: float  # largest separation allowed for construction cues
    warning_level: float  # confidence level of the intervals warnings rest on
    warnings: list[str]

    @property
    def passed(self) -> bool:
        return not self.warnings

    def to_json(self) -> dict:
        data = asdict(self)
        data["passed"] = self.passed
        for cue, result in zip(data["cues"], self.cues, strict=True):
            cue["auc"]["covers_chance"] = result.auc.covers_chance
        for group, interval in self.classifiers.items():
            data["classifiers"][group]["covers_chance"] = interval.covers_chance
        return data


def audit(
    cues: list[dict[str, float]],
    synthetic: np.ndarray,
    *,
    threshold: float = 0.65,
    seed: int = 0,
) -> AuditResult:
    """Each cue's AUC and three classifiers' cross-validated AUCs, with 95%
    intervals; a warning for every construction cue (or their classifier) that
    separates the origins by more than ``threshold`` with an interval that
    excludes chance. The warnings' intervals are Bonferroni-adjusted over the
    construction tests, so a clean pipeline raises a false warning in at most 5%
    of audits, not in one of three."""
    synthetic = np.asarray(synthetic, dtype=bool)
    if len(cues) != synthetic.size:
        raise ValueError(f"{len(cues)} cases of cues but {synthetic.size} origins")
    table = {name: np.array([case[name] for case in cues]) for name in CUES}
    results = []
    for name, (kind, description, unit) in CUES.items():
        values = table[name]
        results.append(
            CueResult(
                name=name,
                kind=kind,
                description=description,
                unit=unit,
                real_median=float(np.median(values[~synthetic])),
                synthetic_median=float(np.median(values[synthetic])),
                auc=auc_interval(values, synthetic),
            )
        )
    classifiers = {}
    groups = {
        CONSTRUCTION: [n for n, (kind, _, _) in CUES.items() if kind == CONSTRUCTION],
        WAVEFORM: [n for n, (kind, _, _) in CUES.items() if kind == WAVEFORM],
        "all": list(CUES),
    }
    construction_scores = None
    for group, names in groups.items():
        features = np.column_stack([table[name] for name in names])
        try:
            scores = cross_validated_scores(features, synthetic, seed=seed)
        except ValueError:
            continue
        classifiers[group] = auc_interval(scores, synthetic)
        if group == CONSTRUCTION:
            construction_scores = scores
    n_tests = len(groups[CONSTRUCTION]) + 1
    warning_level = 1 - 0.05 / n_tests
    warnings = [
        f"{result.description}: AUC {result.auc.auc:.2f} "
        f"[{result.auc.low:.2f}, {result.auc.high:.2f}]"
        for result in results
        if result.kind == CONSTRUCTION
        and _leaks(table[result.name], synthetic, threshold, warning_level)
    ]
    combined = classifiers.get(CONSTRUCTION)
    if combined is not None and _leaks(
        construction_scores, synthetic, threshold, warning_level
    ):
        warnings.append(
            f"a classifier on the construction cues: AUC {combined.auc:.2f} "
            f"[{combined.low:.2f}, {combined.high:.2f}]"
        )
    return AuditResult(
        n_real=int((~synthetic).sum()),
        n_synthetic=int(synthetic.sum()),
        cues=results,
        classifiers=classifiers,
        threshold=threshold,
        warning_level=warning_level,
        warnings=warnings,
    )


def _leaks(
    scores: np.ndarray, synthetic: np.ndarray, threshold: float, level: float
) -> bool:
    interval = auc_interval(scores, synthetic, level=level)
    return not interval.covers_chance and interval.separation > threshold

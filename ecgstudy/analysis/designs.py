"""Analyses of the designs beyond one ECG at a time: paired choice and exposure.

Pure: numpy arrays in, JSON-ready dicts out. A paired two-alternative forced
choice (2AFC) is scored by the share of pages on which the reader chose the real
ECG; 50% is chance, so an exact binomial test against 1/2 asks whether readers
tell the two apart at all. A time-limited study is scored by the accuracy of the
real-or-synthetic answer at each exposure; with the adaptive staircase, by the
exposure at which readers reach chance on the practice cases and by the accuracy
on the counted cases at the exposure that practice set for each reader.

The staircase threshold is the mean of the last reversals (as in HYPE-time, Zhou
et al. 2019, and the transformed up-down methods of Levitt 1971): a reversal is an
answer that turns the staircase around (a correct answer after a wrong one, or a
wrong one after a correct one), and the threshold is the geometric mean of the
exposures at the last ``LAST_REVERSALS`` of them, geometric because the steps are
multiplicative. The one-down one-up rule of ``studies.ordering.staircase_next``
converges on 50% correct, which for a real-or-synthetic answer is chance. Pooled:
the geometric mean of the readers' thresholds. The staircase moves on practice
trials only (a staircase on counted cases would tell readers, through the next
exposure, whether they were right), so the thresholds come from the practice
trials and the counted cases of a reader are all read at one calibrated exposure.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace

import numpy as np
from scipy.stats import binomtest

from ecgstudy.analysis.stats import bootstrap_ci

LAST_REVERSALS = 6  # reversals averaged for a staircase's threshold
MIN_REVERSALS = 2  # fewer: the staircase has not turned round; no threshold
COLUMNS = ("reader", "item", "position", "correct", "exposure_ms", "practice")


@dataclass(frozen=True)
class DesignTable:
    """A paired or time-limited study's counted first readings: one row each;
    with the staircase also the practice trials it adapted on (``practice``).

    ``correct`` is, for a paired page, whether the reader chose the real ECG;
    for a time-limited page, whether the real-or-synthetic answer was right.
    """

    design: str  # "paired_2afc" or "timed"
    staircase: bool
    reader: np.ndarray  # str: pseudonym
    item: np.ndarray  # str: the case's token (a pair's synthetic case's)
    position: np.ndarray  # int: place in the reader's order
    correct: np.ndarray  # bool
    exposure_ms: np.ndarray  # float: NaN where none (paired pages)
    practice: np.ndarray  # bool: a practice trial, never in the accuracies

    def __post_init__(self):
        lengths = {len(getattr(self, name)) for name in COLUMNS}
        if len(lengths) > 1:
            raise ValueError(f"DesignTable columns differ in length: {lengths}")


def _num(value: float | None) -> float | None:
    if value is None:
        return None
    value = float(value)
    return value if math.isfinite(value) else None


def proportion_test(successes: int, n: int) -> dict:
    """A proportion with its exact (Clopper-Pearson) 95% interval and the exact
    two-sided binomial test against 1/2."""
    if n == 0:
        return {"n": 0, "k": 0, "rate": None, "p_value": None, "exact_ci": [None] * 2}
    test = binomtest(successes, n, 0.5)
    interval = test.proportion_ci(confidence_level=0.95, method="exact")
    return {
        "n": int(n),
        "k": int(successes),
        "rate": successes / n,
        "p_value": float(test.pvalue),
        "exact_ci": [float(interval.low), float(interval.high)],
    }


def _two_way_interval(table: DesignTable, mask: np.ndarray, n_boot: int, seed: int):
    """Two-way (readers x items) bootstrap interval of the share correct."""
    try:
        result = bootstrap_ci(
            {
                "reader": table.reader[mask],
                "case": table.item[mask],
                "v": table.correct[mask],
            },
            lambda t: t["v"].mean(),
            n_boot=n_boot,
            seed=seed,
        )
    except ValueError:
        return [None, None]
    return [_num(result.low), _num(result.high)]


def counted_rows(table: DesignTable) -> DesignTable:
    """The table without its practice trials: what the accuracies are of."""
    keep = ~table.practice.astype(bool)
    return replace(
        table,
        **{name: getattr(table, name)[keep] for name in COLUMNS},
    )


def paired_report(table: DesignTable, *, n_boot: int = 2000, seed: int = 0) -> dict:
    """How often readers chose the real ECG of a pair: per reader and pooled,
    each with an exact binomial test against chance; pooled also with a two-way
    bootstrap interval over readers and pairs."""
    table = counted_rows(table)
    per_reader = []
    for reader in np.unique(table.reader):
        mask = table.reader == reader
        per_reader.append(
            {"reader": str(reader)}
            | proportion_test(int(table.correct[mask].sum()), int(mask.sum()))
        )
    everything = np.ones(len(table.reader), dtype=bool)
    pooled = proportion_test(int(table.correct.sum()), len(table.correct))
    pooled["bootstrap_ci"] = _two_way_interval(table, everything, n_boot, seed)
    return {"pooled": pooled, "per_reader": per_reader}


def accuracy_by_exposure(exposure_ms: np.ndarray, correct: np.ndarray) -> list[dict]:
    """The accuracy at each exposure, shortest first, with its exact test."""
    rows = []
    for exposure in np.unique(exposure_ms[np.isfinite(exposure_ms)]):
        mask = exposure_ms == exposure
        rows.append(
            {"exposure_ms": int(exposure)}
            | proportion_test(int(correct[mask].sum()), int(mask.sum()))
        )
    return rows


def staircase_reversals(exposure_ms: np.ndarray, correct: np.ndarray) -> list[int]:
    """Trials (indices, in reading order) at which the staircase turned round:
    the answer's direction (correct: down, wrong: up) differs from the last one's."""
    return [
        i for i in range(1, len(correct)) if bool(correct[i]) != bool(correct[i - 1])
    ]


def staircase_threshold(
    exposure_ms: np.ndarray, correct: np.ndarray, *, last: int = LAST_REVERSALS
) -> dict:
    """One staircase's threshold: the geometric mean of the exposures at its last
    ``last`` reversals; None with fewer than ``MIN_REVERSALS``."""
    reversals = staircase_reversals(exposure_ms, correct)
    used = [float(exposure_ms[i]) for i in reversals[-last:]]
    threshold = (
        float(np.exp(np.mean(np.log(used)))) if len(used) >= MIN_REVERSALS else None
    )
    return {
        "trials": len(correct),
        "reversals": len(reversals),
        "reversal_exposures_ms": used,
        "threshold_ms": threshold,
        "final_ms": float(exposure_ms[-1]) if len(exposure_ms) else None,
    }


def timed_report(table: DesignTable, *, n_boot: int = 2000, seed: int = 0) -> dict:
    """Accuracy by exposure on the counted cases (pooled and per reader) and, for
    a staircase, each reader's threshold from their practice trials, the
    exposure their counted cases were shown at, and the pooled threshold."""
    counted = counted_rows(table)
    per_reader = []
    thresholds = []
    for reader in np.unique(table.reader):
        mask = counted.reader == reader
        order = np.argsort(counted.position[mask], kind="stable")
        exposure = counted.exposure_ms[mask][order]
        correct = counted.correct[mask][order]
        row = {
            "reader": str(reader),
            "by_exposure": accuracy_by_exposure(exposure, correct),
            "overall": proportion_test(int(correct.sum()), len(correct)),
        }
        if table.staircase:
            trials = (table.reader == reader) & table.practice
            order = np.argsort(table.position[trials], kind="stable")
            track = table.exposure_ms[trials][order]
            track_correct = table.correct[trials][order]
            row["staircase"] = staircase_threshold(track, track_correct)
            row["staircase"]["exposures_ms"] = track.tolist()
            row["staircase"]["correct"] = track_correct.astype(bool).tolist()
            # One exposure for all of the reader's counted cases (see
            # studies.selectors.next_exposure_ms); more than one is listed.
            row["staircase"]["counted_exposures_ms"] = [
                float(value) for value in np.unique(exposure[np.isfinite(exposure)])
            ]
            if row["staircase"]["threshold_ms"] is not None:
                thresholds.append(row["staircase"]["threshold_ms"])
        per_reader.append(row)
    everything = np.ones(len(counted.reader), dtype=bool)
    pooled = proportion_test(int(counted.correct.sum()), len(counted.correct))
    pooled["bootstrap_ci"] = _two_way_interval(counted, everything, n_boot, seed)
    report = {
        "pooled": pooled,
        "by_exposure": accuracy_by_exposure(counted.exposure_ms, counted.correct),
        "per_reader": per_reader,
        "staircase": table.staircase,
    }
    if table.staircase:
        report["threshold_ms"] = (
            float(np.exp(np.mean(np.log(thresholds)))) if thresholds else None
        )
        report["readers_with_threshold"] = len(thresholds)
    return report


def design_report(
    table: DesignTable | None, *, n_boot: int = 2000, seed: int = 0
) -> dict | None:
    """The design's own section of the report; None for one ECG at a time."""
    if table is None:
        return None
    if table.design == "paired_2afc":
        body = paired_report(table, n_boot=n_boot, seed=seed)
    elif table.design == "timed":
        body = timed_report(table, n_boot=n_boot, seed=seed)
    else:
        raise ValueError(f"no design analysis for {table.design!r}")
    return {"design": table.design, **body}

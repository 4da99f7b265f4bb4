"""Pure statistics of a reader study: detection, agreement and a two-way bootstrap."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Literal

import krippendorff
import numpy as np
from scipy.stats import binomtest
from sklearn.metrics import roc_auc_score
from statsmodels.stats.inter_rater import cohens_kappa as _statsmodels_cohens_kappa
from statsmodels.stats.inter_rater import fleiss_kappa as _statsmodels_fleiss_kappa

__all__ = [
    "BootstrapInterval",
    "DetectionSummary",
    "bootstrap_ci",
    "cohen_kappa",
    "detection_summary",
    "fleiss_kappa",
    "gwet_ac1",
    "krippendorff_alpha",
    "rating_matrix",
]

KrippendorffLevel = Literal["nominal", "ordinal", "interval", "ratio"]
KappaWeights = Literal["linear", "quadratic"]
JudgmentTable = Mapping[str, np.ndarray]

_KRIPPENDORFF_LEVELS = ("nominal", "ordinal", "interval", "ratio")
_KAPPA_WEIGHTS = (None, "linear", "quadratic")


@dataclass(frozen=True)
class DetectionSummary:
    """How well readers told synthetic ECGs from real ones; synthetic is positive."""

    n: int  # judgments
    correct: int
    true_positive: int  # synthetic called synthetic
    false_negative: int  # synthetic called real
    true_negative: int  # real called real
    false_positive: int  # real called synthetic
    accuracy: float
    sensitivity: float  # true_positive / synthetic judgments
    specificity: float  # true_negative / real judgments
    p_value: float  # exact two-sided binomial test of accuracy against 0.5
    exact_ci: tuple[float, float]  # Clopper-Pearson interval of accuracy
    wilson_ci: tuple[float, float]  # Wilson score interval of accuracy
    level: float  # confidence level of both intervals
    auc: float | None  # ROC AUC of the signed confidence; None without confidence


@dataclass(frozen=True)
class BootstrapInterval:
    """A percentile interval from resampling readers and cases together."""

    estimate: float  # the statistic of the observed table
    low: float
    high: float
    level: float
    n_boot: int  # draws requested
    n_undefined: int  # draws whose statistic was NaN or infinite, left out
    standard_error: float  # standard deviation of the defined draws


def detection_summary(
    truth: np.ndarray,
    answer: np.ndarray,
    confidence: np.ndarray | None = None,
    *,
    level: float = 0.95,
) -> DetectionSummary:
    """Accuracy, sensitivity, specificity, binomial test and intervals of answers.

    ``truth`` and ``answer`` are boolean arrays, True meaning synthetic. ``confidence``
    is the reader's confidence in the answer given (a positive number, e.g. 1-5); it
    is signed by the answer, so "synthetic, 5" scores highest and "real, 5" lowest,
    and the ROC AUC of that score against ``truth`` is returned.
    """
    truth = _as_bool("truth", truth)
    answer = _as_bool("answer", answer)
    _check_same_length(truth=truth, answer=answer)
    _check_level(level)
    n_synthetic = int(truth.sum())
    n_real = truth.size - n_synthetic
    if n_synthetic == 0 or n_real == 0:
        raise ValueError(
            "truth holds a single category (all real or all synthetic); "
            "sensitivity, specificity and ROC AUC need both"
        )
    true_positive = int(np.sum(truth & answer))
    true_negative = int(np.sum(~truth & ~answer))
    correct = true_positive + true_negative
    test = binomtest(correct, truth.size, p=0.5, alternative="two-sided")
    exact = test.proportion_ci(confidence_level=level, method="exact")
    wilson = test.proportion_ci(confidence_level=level, method="wilson")
    auc = None
    if confidence is not None:
        confidence = _as_finite("confidence", confidence)
        _check_same_length(truth=truth, confidence=confidence)
        if np.any(confidence <= 0):
            raise ValueError(
                "confidence must be positive: it is the strength of the answer "
                "given, and its sign comes from the answer"
            )
        signed = np.where(answer, confidence, -confidence)
        auc = float(roc_auc_score(truth, signed))
    return DetectionSummary(
        n=int(truth.size),
        correct=correct,
        true_positive=true_positive,
        false_negative=n_synthetic - true_positive,
        true_negative=true_negative,
        false_positive=n_real - true_negative,
        accuracy=correct / truth.size,
        sensitivity=true_positive / n_synthetic,
        specificity=true_negative / n_real,
        p_value=float(test.pvalue),
        exact_ci=(float(exact.low), float(exact.high)),
        wilson_ci=(float(wilson.low), float(wilson.high)),
        level=level,
        auc=auc,
    )


def fleiss_kappa(counts: np.ndarray) -> float:
    """Fleiss' kappa of a subjects x categories table of rating counts.

    Every subject must be rated by the same number (at least 2) of raters.
    """
    counts = _as_finite("counts", counts, ndim=2)
    if np.any(counts < 0) or np.any(counts != np.round(counts)):
        raise ValueError("counts must be non-negative whole numbers")
    raters = counts.sum(axis=1)
    if np.any(raters != raters[0]):
        raise ValueError(
            "every subject must have the same number of ratings for Fleiss' kappa; "
            f"row totals range from {raters.min():g} to {raters.max():g}"
        )
    if raters[0] < 2:
        raise ValueError("Fleiss' kappa needs at least 2 ratings per subject")
    if np.count_nonzero(counts.sum(axis=0)) < 2:
        raise ValueError("all ratings fall in a single category; kappa is undefined")
    return float(_statsmodels_fleiss_kappa(counts, method="fleiss"))


def krippendorff_alpha(
    reliability_data: np.ndarray, level: KrippendorffLevel = "nominal"
) -> float:
    """Krippendorff's alpha of a raters x units matrix with NaN for missing values."""
    if level not in _KRIPPENDORFF_LEVELS:
        raise ValueError(
            f"level must be one of {', '.join(_KRIPPENDORFF_LEVELS)}, not {level!r}"
        )
    data = _as_float("reliability_data", reliability_data, ndim=2)
    if np.any(np.isinf(data)):
        raise ValueError("reliability_data holds infinite values; use NaN for missing")
    if data.shape[0] < 2:
        raise ValueError("reliability_data needs at least 2 raters (rows)")
    if not np.any(np.sum(~np.isnan(data), axis=0) >= 2):
        raise ValueError("no unit has values from at least 2 raters; nothing to pair")
    if np.unique(data[~np.isnan(data)]).size < 2:
        raise ValueError("all values are the same single category; alpha is undefined")
    if level == "ratio" and np.nanmin(data) < 0:
        raise ValueError("ratio-level values must be non-negative")
    return float(krippendorff.alpha(reliability_data=data, level_of_measurement=level))


def _categories(seen: np.ndarray, categories) -> np.ndarray:
    """The category set: the values seen, or the given ones if they cover them."""
    if categories is None:
        return seen
    categories = np.unique(_as_finite("categories", categories))
    unknown = np.setdiff1d(seen, categories)
    if unknown.size:
        raise ValueError(f"ratings {unknown.tolist()} are not among the categories")
    return categories


def gwet_ac1(ratings: np.ndarray, *, categories: np.ndarray | None = None) -> float:
    """Gwet's AC1 of a units x raters matrix of nominal ratings, NaN for missing.

    Follows Gwet (2008, 2014): observed agreement over units rated at least twice,
    chance agreement from category prevalences averaged over units rated at least
    once. ``categories`` lists every possible rating when some were never used
    (chance agreement depends on their number); by default it is the ratings seen.
    """
    data = _as_float("ratings", ratings, ndim=2)
    if np.any(np.isinf(data)):
        raise ValueError("ratings hold infinite values; use NaN for missing")
    seen = np.unique(data[~np.isnan(data)])
    categories = _categories(seen, categories)
    if categories.size < 2:
        raise ValueError("Gwet's AC1 needs at least 2 categories; only one was given")
    # (units, categories): how many raters put each unit in each category
    per_category = np.stack([np.sum(data == c, axis=1) for c in categories], axis=1)
    raters = per_category.sum(axis=1)
    rated = raters >= 1
    paired = raters >= 2
    if not np.any(paired):
        raise ValueError(
            "no unit is rated by at least 2 raters; agreement is undefined"
        )
    pairs = per_category[paired] * (per_category[paired] - 1)
    observed = np.mean(pairs.sum(axis=1) / (raters[paired] * (raters[paired] - 1)))
    prevalence = np.mean(per_category[rated] / raters[rated, None], axis=0)
    chance = np.sum(prevalence * (1 - prevalence)) / (categories.size - 1)
    return float((observed - chance) / (1 - chance))


def cohen_kappa(
    a: np.ndarray,
    b: np.ndarray,
    weights: KappaWeights | None = None,
    *,
    categories: np.ndarray | None = None,
) -> float:
    """Cohen's kappa of two raters' paired ratings, unweighted or weighted.

    Weights "linear" and "quadratic" count disagreement by the distance between
    the ranks of the two ratings in the ordered ``categories`` (Cicchetti-Allison
    and Fleiss-Cohen). ``categories`` defaults to the ratings either rater used;
    give it when an ordinal scale has levels nobody chose.
    """
    if weights not in _KAPPA_WEIGHTS:
        raise ValueError(
            f"weights must be None, 'linear' or 'quadratic', not {weights!r}"
        )
    a = _as_finite("a", a)
    b = _as_finite("b", b)
    _check_same_length(a=a, b=b)
    seen = np.union1d(a, b)
    categories = _categories(seen, categories)
    if seen.size < 2:
        raise ValueError("both raters used a single category; kappa is undefined")
    table = np.zeros((categories.size, categories.size))
    np.add.at(
        table, (np.searchsorted(categories, a), np.searchsorted(categories, b)), 1
    )
    return float(_statsmodels_cohens_kappa(table, wt=weights, return_results=False))


def bootstrap_ci(
    judgments: JudgmentTable,
    statistic: Callable[[dict[str, np.ndarray]], float],
    n_boot: int = 2000,
    seed: int = 0,
    *,
    level: float = 0.95,
) -> BootstrapInterval:
    """Percentile interval of a statistic, resampling readers and cases together.

    ``judgments`` is a long table: a mapping of column name to a 1-D array, all of
    one length, one row per judgment, with at least the columns ``reader`` and
    ``case`` (any hashable ids); other columns (answer, truth, confidence, ...) are
    carried along. Each draw picks readers with replacement and cases with
    replacement and keeps every judgment of a drawn reader on a drawn case, once
    per (reader draw, case draw) pair. ``statistic`` receives a dict of the same
    columns in which ``reader`` and ``case`` are integer codes, 0..R-1 and 0..C-1,
    and every drawn copy of a reader or case has its own code, so a reader drawn
    twice counts as two raters. A statistic that is undefined for some draw should
    return NaN; such draws are left out and counted. Only pass the columns the
    statistic needs: every column is gathered in every draw.

    This is the pigeonhole bootstrap of Owen (2007, Ann. Appl. Stat. 1:386). No
    exact bootstrap exists for crossed factors (McCullagh 2000), and this one errs
    wide: reader and case effects enter its variance once, but judgment-level noise
    about three times. The excess matters only when readers and cases barely differ.
    """
    if n_boot < 1:
        raise ValueError(f"n_boot must be at least 1, not {n_boot}")
    _check_level(level)
    columns = _judgment_columns(judgments)
    _, reader = np.unique(columns.pop("reader"), return_inverse=True)
    _, case = np.unique(columns.pop("case"), return_inverse=True)
    n_readers, n_cases = int(reader.max()) + 1, int(case.max()) + 1
    if n_readers < 2 or n_cases < 2:
        raise ValueError(
            "a two-way bootstrap needs at least 2 readers and 2 cases; "
            f"got {n_readers} readers and {n_cases} cases"
        )
    estimate = float(statistic({**columns, "reader": reader, "case": case}))

    # (readers, cases, depth): row index of each judgment, -1 where there is none;
    # depth holds repeated judgments of one case by one reader (rounds). Dense, as
    # a reader study is at most some hundred readers by some thousand cases.
    cell = np.lexsort((case, reader))
    pair = reader[cell] * n_cases + case[cell]
    _, pair_start, pair_size = np.unique(pair, return_index=True, return_counts=True)
    depth = np.arange(pair.size) - np.repeat(pair_start, pair_size)
    grid = np.full((n_readers, n_cases, int(depth.max()) + 1), -1)
    grid[reader[cell], case[cell], depth] = cell
    complete = bool(np.all(grid >= 0))
    reader_slot, case_slot, _ = np.indices(grid.shape)
    # Shared by every draw of a complete design, so no statistic may write to them.
    reader_slot.flags.writeable = False
    case_slot.flags.writeable = False

    rng = np.random.default_rng(seed)
    draws = np.empty(n_boot)
    for i in range(n_boot):
        drawn_readers = rng.integers(0, n_readers, size=n_readers)
        drawn_cases = rng.integers(0, n_cases, size=n_cases)
        # Slot (k, l) of the draw holds what reader drawn_readers[k] said about
        # case drawn_cases[l], so a reader or case drawn twice appears twice.
        drawn = grid.take(drawn_readers, axis=0).take(drawn_cases, axis=1)
        if complete:
            rows, readers, cases = drawn.ravel(), reader_slot.ravel(), case_slot.ravel()
        else:
            given = drawn >= 0
            rows, readers, cases = drawn[given], reader_slot[given], case_slot[given]
        table = {name: values[rows] for name, values in columns.items()}
        table["reader"] = readers
        table["case"] = cases
        draws[i] = statistic(table)

    defined = draws[np.isfinite(draws)]
    if defined.size == 0:
        raise ValueError("the statistic was undefined (NaN) in every bootstrap draw")
    low, high = np.quantile(defined, [(1 - level) / 2, (1 + level) / 2])
    return BootstrapInterval(
        estimate=estimate,
        low=float(low),
        high=float(high),
        level=level,
        n_boot=n_boot,
        n_undefined=int(n_boot - defined.size),
        standard_error=float(np.std(defined, ddof=1)) if defined.size > 1 else 0.0,
    )


def rating_matrix(judgments: JudgmentTable, column: str) -> np.ndarray:
    """Cases x readers matrix of one column of a long table, NaN where unread.

    Rows and columns follow the sorted case and reader ids, which are the integer
    codes ``bootstrap_ci`` hands its statistic, so a statistic may call this on each
    draw. Transpose it for ``krippendorff_alpha``. A reader may judge a case at most
    once here: select one round first.
    """
    columns = _judgment_columns(judgments)
    if column not in columns or column in ("reader", "case"):
        raise ValueError(f"column {column!r} is not a rating column of the table")
    values = _as_float(column, columns[column])
    _, reader = np.unique(columns["reader"], return_inverse=True)
    _, case = np.unique(columns["case"], return_inverse=True)
    shape = (int(case.max()) + 1, int(reader.max()) + 1)
    cells = case * shape[1] + reader
    if np.bincount(cells, minlength=shape[0] * shape[1]).max() > 1:
        raise ValueError(
            "some reader judged a case more than once; select one round first"
        )
    matrix = np.full(shape, np.nan)
    matrix[case, reader] = values
    return matrix


def _judgment_columns(judgments: JudgmentTable) -> dict[str, np.ndarray]:
    if not isinstance(judgments, Mapping):
        raise ValueError(
            "judgments must be a mapping of column name to 1-D array, "
            f"not {type(judgments).__name__}"
        )
    missing = {"reader", "case"} - set(judgments)
    if missing:
        raise ValueError(f"judgments lack the column(s) {', '.join(sorted(missing))}")
    columns = {name: np.asarray(values) for name, values in judgments.items()}
    for name, values in columns.items():
        if values.ndim != 1:
            raise ValueError(f"column {name!r} must be 1-D, not {values.ndim}-D")
    lengths = {values.size for values in columns.values()}
    if len(lengths) > 1:
        raise ValueError(
            "judgment columns differ in length: "
            + ", ".join(f"{name}={values.size}" for name, values in columns.items())
        )
    if lengths == {0}:
        raise ValueError("judgments are empty")
    for name in ("reader", "case"):
        ids = columns[name]
        if ids.dtype.kind == "f" and np.any(np.isnan(ids)):
            raise ValueError(f"column {name!r} holds NaN ids")
    return columns


def _as_bool(name: str, values: np.ndarray) -> np.ndarray:
    array = np.asarray(values)
    if array.ndim != 1:
        raise ValueError(f"{name} must be a 1-D array, not {array.ndim}-D")
    if array.size == 0:
        raise ValueError(f"{name} is empty")
    if array.dtype == bool:
        return array
    if array.dtype.kind in "iuf" and np.all(np.isin(array, (0, 1))):
        return array.astype(bool)
    raise ValueError(f"{name} must be boolean (True = synthetic) or 0/1, without NaN")


def _as_float(name: str, values: np.ndarray, ndim: int = 1) -> np.ndarray:
    try:
        array = np.asarray(values, dtype=float)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"{name} must be numeric: {exc}") from None
    if array.ndim != ndim:
        raise ValueError(f"{name} must be a {ndim}-D array, not {array.ndim}-D")
    if array.size == 0:
        raise ValueError(f"{name} is empty")
    return array


def _as_finite(name: str, values: np.ndarray, ndim: int = 1) -> np.ndarray:
    array = _as_float(name, values, ndim)
    if not np.all(np.isfinite(array)):
        raise ValueError(f"{name} holds NaN or infinite values")
    return array


def _check_same_length(**arrays: np.ndarray) -> None:
    lengths = {name: array.shape[0] for name, array in arrays.items()}
    if len(set(lengths.values())) > 1:
        raise ValueError(
            "lengths differ: " + ", ".join(f"{k}={v}" for k, v in lengths.items())
        )


def _check_level(level: float) -> None:
    if not 0 < level < 1:
        raise ValueError(f"level must lie strictly between 0 and 1, not {level}")

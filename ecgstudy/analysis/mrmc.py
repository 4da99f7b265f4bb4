"""Multi-reader multi-case analysis: Obuchowski-Rockette with Hillis' denominator df.

A treatment here is a study arm (for instance real ECGs against generator A); a
figure of merit (FOM) is computed per treatment and reader, and the analysis treats
both readers and cases as random (RRRC). References:

- Obuchowski NA, Rockette HE (1995). Hypothesis testing of diagnostic accuracy for
  multiple readers and multiple tests: an ANOVA approach with dependent observations.
  Commun Stat Simul Comput 24(2):285-308. (The OR model and its covariances.)
- Hillis SL, Obuchowski NA, Schartz KM, Berbaum KS (2005). A comparison of the
  Dorfman-Berbaum-Metz and Obuchowski-Rockette methods for receiver operating
  characteristic (ROC) data. Stat Med 24(10):1579-1607. (The F statistic with
  max(Cov2 - Cov3, 0) and the jackknife covariance.)
- Hillis SL (2007). A comparison of denominator degrees of freedom methods for
  multiple observer ROC analysis. Stat Med 26(3):596-619. (The denominator df and the
  single-treatment intervals.)
- DeLong ER, DeLong DM, Clarke-Pearson DL (1988). Comparing the areas under two or
  more correlated ROC curves. Biometrics 44(3):837-845. (The DeLong covariance.)
"""

from __future__ import annotations

import math
from collections.abc import Hashable, Mapping, Sequence
from dataclasses import dataclass
from itertools import combinations
from typing import Literal

import numpy as np
from scipy import stats as scipy_stats

from ecgstudy.analysis.stats import BootstrapInterval, bootstrap_ci

__all__ = [
    "ORHillisResult",
    "PairwiseDifference",
    "TreatmentEstimate",
    "or_hillis",
    "pairwise_bootstrap",
]

FigureOfMerit = Literal["auc", "proportion_correct"]
CovarianceMethod = Literal["jackknife", "delong"]
# treatment -> reader -> (C_t,) ratings, in the order of case_ids[treatment]
Ratings = Mapping[Hashable, Mapping[Hashable, Sequence[float] | np.ndarray]]
CaseIds = Mapping[Hashable, Sequence[Hashable]]  # treatment -> (C_t,) case ids
Truth = Mapping[Hashable, bool]  # case id -> True for a positive (diseased) case

_FIGURES_OF_MERIT = ("auc", "proportion_correct")
_COVARIANCE_METHODS = ("jackknife", "delong")


@dataclass(frozen=True)
class TreatmentEstimate:
    """One treatment's reader-averaged FOM with its RRRC interval (Hillis 2007)."""

    treatment: Hashable
    estimate: float  # mean FOM over readers
    standard_error: float  # sqrt((MS(R)_i + R max(Cov2_i, 0)) / R)
    ci: tuple[float, float]
    df: float  # (MS(R)_i + R max(Cov2_i, 0))^2 / (MS(R)_i^2 / (R - 1))
    ms_r: float  # reader mean square within the treatment
    var: float  # mean error variance of the treatment's FOMs
    cov2: float  # mean error covariance of two readers in the treatment
    n_cases: int  # cases the treatment's FOMs use


@dataclass(frozen=True)
class PairwiseDifference:
    """Mean FOM of ``first`` minus that of ``second``, with its RRRC interval."""

    first: Hashable
    second: Hashable
    estimate: float
    standard_error: float  # sqrt(2 / R (MS(TR) + R max(Cov2 - Cov3, 0)))
    ci: tuple[float, float]
    df: float  # Hillis' denominator df, shared by every pair
    t_statistic: float
    p_value: float  # two-sided


@dataclass(frozen=True)
class ORHillisResult:
    """An OR analysis with Hillis' df; undefined figures (a zero error term) are NaN."""

    treatments: tuple[Hashable, ...]  # (T,)
    readers: tuple[Hashable, ...]  # (R,)
    figure_of_merit: str
    covariance_method: str
    level: float  # confidence level of every interval
    n_cases: int  # cases in the union over treatments
    foms: np.ndarray  # (T, R) FOM per treatment and reader
    treatment_means: np.ndarray  # (T,) mean FOM over readers
    covariance: np.ndarray  # (T, R, T, R) error covariance of the FOMs
    var: float  # mean of Cov(i, j; i, j)
    cov1: float  # same reader, different treatments; NaN with one treatment
    cov2: float  # different readers, same treatment
    cov3: float  # different readers and treatments; NaN with one treatment
    ms_t: float  # treatment mean square, T - 1 df; NaN with one treatment
    ms_tr: float  # treatment-by-reader mean square, (T - 1)(R - 1) df
    f_statistic: float  # MS(T) / (MS(TR) + R max(Cov2 - Cov3, 0))
    df_numerator: int  # T - 1
    df_denominator: float  # Hillis (2007) ddf_H
    p_value: float
    per_treatment: tuple[TreatmentEstimate, ...]  # (T,)
    differences: tuple[PairwiseDifference, ...]  # every pair (i < j), first - second


def or_hillis(
    ratings: Ratings,
    case_ids: CaseIds,
    truth: Truth | None = None,
    *,
    figure_of_merit: FigureOfMerit = "auc",
    covariance: CovarianceMethod = "jackknife",
    level: float = 0.95,
) -> ORHillisResult:
    """Obuchowski-Rockette RRRC analysis with Hillis' denominator degrees of freedom.

    ``ratings[t][r]`` holds reader r's ratings of treatment t's cases, in the order
    of ``case_ids[t]``; every reader must rate every case of every treatment. Cases
    are matched across treatments by id, so one input covers a fully crossed design
    (every treatment holds the same cases), cases nested in treatments (disjoint
    ids) and partially shared cases (in a study of several generators the real
    negatives are shared and each arm's synthetic positives are its own).

    ``figure_of_merit``: ``"auc"`` is the Wilcoxon (trapezoidal) AUC of a
    confidence rating, higher meaning more likely positive; ``truth`` maps each
    case id to True for a positive case. ``"proportion_correct"`` is the mean of
    0/1 ratings that say whether the reader was right; ``truth`` is not used.

    Covariance of the FOMs (Obuchowski & Rockette 1995; Hillis et al. 2005): the
    jackknife drops one case of the union at a time; a dropped case
    changes only the FOMs that use it. With theta_a(k) the FOM a without case k, over
    the m_a cases FOM a uses, and e_a(k) = theta_a(k) - mean_k theta_a(k) (zero for
    a case FOM a does not use),

        Cov(a, b) = sqrt((m_a - 1) / m_a * (m_b - 1) / m_b) * sum_k e_a(k) e_b(k),

    which is the usual (C - 1) / C * sum_k e_a(k) e_b(k) of a crossed design and,
    for a nested arm, the jackknife of that arm alone; FOMs without a common case
    get covariance zero. ``"delong"`` (AUC only) uses the structural components of
    DeLong et al. (1988) in the same way: S10 / n1 + S01 / n0 in a crossed design.

    From the (T, R) FOMs theta_ij (Obuchowski & Rockette 1995; Hillis et al. 2005;
    Hillis 2007):

        MS(T)  = R / (T - 1) * sum_i (theta_i. - theta_..)^2
        MS(TR) = sum_ij (theta_ij - theta_i. - theta_.j + theta_..)^2
                 / ((T - 1)(R - 1))
        Var, Cov1, Cov2, Cov3: mean covariance of two FOMs with the same reader and
            treatment, same reader only, same treatment only, neither
        F      = MS(T) / (MS(TR) + R max(Cov2 - Cov3, 0)),   df1 = T - 1
        ddf_H  = (MS(TR) + R max(Cov2 - Cov3, 0))^2 / (MS(TR)^2 / ((T - 1)(R - 1)))
        CI of theta_i. - theta_j.: difference +- t(ddf_H) sqrt(2 / R * denominator)
        CI of theta_i.: +- t(df_i) sqrt((MS(R)_i + R max(Cov2_i, 0)) / R) with
            df_i = (MS(R)_i + R max(Cov2_i, 0))^2 / (MS(R)_i^2 / (R - 1))

    With one treatment only the single-treatment intervals are defined.
    """
    if figure_of_merit not in _FIGURES_OF_MERIT:
        raise ValueError(
            f"figure_of_merit must be one of {_FIGURES_OF_MERIT}, "
            f"not {figure_of_merit!r}"
        )
    if covariance not in _COVARIANCE_METHODS:
        raise ValueError(
            f"covariance must be one of {_COVARIANCE_METHODS}, not {covariance!r}"
        )
    if covariance == "delong" and figure_of_merit != "auc":
        raise ValueError(
            "the DeLong covariance is defined for the AUC only; use 'jackknife' "
            f"for {figure_of_merit!r}"
        )
    if not 0 < level < 1:
        raise ValueError(f"level must lie strictly between 0 and 1, not {level}")
    design = _Design.build(ratings, case_ids, truth, figure_of_merit)
    n_treatments, n_readers = len(design.treatments), len(design.readers)

    foms = np.empty((n_treatments, n_readers))  # (T, R)
    influence = np.zeros((n_treatments, n_readers, design.n_cases))  # (T, R, K)
    for i, treatment in enumerate(design.treatments):
        columns = design.columns[treatment]  # (C_t,) indices into the union
        positive = design.positive[treatment]
        for j, reader in enumerate(design.readers):
            scores = design.scores[treatment][reader]
            if figure_of_merit == "auc":
                foms[i, j], influence[i, j, columns] = _auc_influence(
                    scores, positive, covariance
                )
            else:
                foms[i, j], influence[i, j, columns] = _mean_influence(scores)
    # (T, R, T, R): the jackknife and DeLong sums are both inner products over cases
    cov = np.einsum("ijk,lmk->ijlm", influence, influence)
    return _anova(design, foms, cov, figure_of_merit, covariance, level)


def pairwise_bootstrap(
    ratings: Ratings,
    case_ids: CaseIds,
    truth: Truth | None = None,
    *,
    first: Hashable,
    second: Hashable,
    figure_of_merit: FigureOfMerit = "auc",
    n_boot: int = 2000,
    seed: int = 0,
    level: float = 0.95,
) -> BootstrapInterval:
    """Percentile interval of mean FOM(first) - mean FOM(second), readers x cases.

    Takes the input of ``or_hillis`` and hands it, as a long table, to
    ``stats.bootstrap_ci``: each draw resamples readers and the union of case ids
    together (Owen 2007), so a case shared by both treatments stays shared. A draw
    in which some drawn reader's FOM is undefined (no positive or no negative case
    drawn for a treatment) is left out and counted in ``n_undefined``.
    """
    if figure_of_merit not in _FIGURES_OF_MERIT:
        raise ValueError(
            f"figure_of_merit must be one of {_FIGURES_OF_MERIT}, "
            f"not {figure_of_merit!r}"
        )
    if first == second:
        raise ValueError(f"first and second must differ; both are {first!r}")
    design = _Design.build(ratings, case_ids, truth, figure_of_merit)
    for name, treatment in (("first", first), ("second", second)):
        if treatment not in design.scores:
            raise ValueError(
                f"{name}={treatment!r} is not a treatment; "
                f"the treatments are {list(design.treatments)}"
            )
    auc = figure_of_merit == "auc"
    arm, reader, case, score, positive = [], [], [], [], []
    for code, treatment in enumerate((first, second)):
        columns = design.columns[treatment]
        for j, name in enumerate(design.readers):
            arm.append(np.full(columns.size, code))
            reader.append(np.full(columns.size, j))
            case.append(columns)
            score.append(design.scores[treatment][name])
            if auc:
                positive.append(design.positive[treatment])
    table = {
        "reader": np.concatenate(reader),
        "case": np.concatenate(case),
        "arm": np.concatenate(arm),
        "score": np.concatenate(score),
    }
    if auc:
        table["positive"] = np.concatenate(positive)

    def difference(draw: dict[str, np.ndarray]) -> float:
        n_readers = int(draw["reader"].max()) + 1
        means = []
        for code in (0, 1):
            in_arm = draw["arm"] == code
            by_reader = draw["reader"][in_arm]
            scores = draw["score"][in_arm]
            positives = draw["positive"][in_arm] if auc else None
            total = 0.0
            for j in range(n_readers):
                own = by_reader == j
                if auc:
                    total += _auc(scores[own], positives[own])
                else:
                    total += scores[own].mean() if own.any() else math.nan
            means.append(total / n_readers)
        return means[0] - means[1]

    return bootstrap_ci(table, difference, n_boot=n_boot, seed=seed, level=level)


@dataclass(frozen=True)
class _Design:
    """Validated input: ratings as float arrays, case ids as union columns."""

    treatments: tuple[Hashable, ...]
    readers: tuple[Hashable, ...]
    n_cases: int  # K, the union of case ids
    columns: dict[Hashable, np.ndarray]  # treatment -> (C_t,) union index
    positive: dict[Hashable, np.ndarray]  # treatment -> (C_t,) bool
    scores: dict[Hashable, dict[Hashable, np.ndarray]]  # treatment -> reader -> (C_t,)

    @classmethod
    def build(
        cls,
        ratings: Ratings,
        case_ids: CaseIds,
        truth: Truth | None,
        figure_of_merit: str,
    ) -> _Design:
        treatments = tuple(ratings)
        if not treatments:
            raise ValueError("ratings are empty: give at least one treatment")
        if set(case_ids) != set(treatments):
            raise ValueError(
                "ratings and case_ids must name the same treatments; ratings name "
                f"{sorted(map(repr, treatments))}, case_ids "
                f"{sorted(map(repr, case_ids))}"
            )
        readers = tuple(ratings[treatments[0]])
        if len(readers) < 2:
            raise ValueError(
                f"an MRMC analysis needs at least 2 readers; treatment "
                f"{treatments[0]!r} has {len(readers)}"
            )
        for treatment in treatments:
            missing = [r for r in readers if r not in ratings[treatment]]
            extra = [r for r in ratings[treatment] if r not in readers]
            if missing or extra:
                raise ValueError(
                    f"every reader must rate every treatment: treatment "
                    f"{treatment!r} lacks readers {missing} and has unexpected "
                    f"readers {extra}"
                )
        auc = figure_of_merit == "auc"
        if auc and truth is None:
            raise ValueError("the AUC needs truth: a mapping of case id to positive")

        union: dict[Hashable, int] = {}
        columns, positive, scores = {}, {}, {}
        for treatment in treatments:
            ids = list(case_ids[treatment])
            if len(set(ids)) != len(ids):
                raise ValueError(f"treatment {treatment!r} lists a case id twice")
            if len(ids) < 2:
                raise ValueError(
                    f"treatment {treatment!r} has {len(ids)} case(s); the jackknife "
                    "needs at least 2"
                )
            columns[treatment] = np.array(
                [union.setdefault(c, len(union)) for c in ids]
            )
            positive[treatment] = _positives(treatment, ids, truth) if auc else None
            scores[treatment] = {
                reader: _scores(treatment, reader, ratings[treatment][reader], ids, auc)
                for reader in readers
            }
        return cls(treatments, readers, len(union), columns, positive, scores)


def _positives(treatment: Hashable, ids: list, truth: Truth) -> np.ndarray:
    missing = [c for c in ids if c not in truth]
    if missing:
        raise ValueError(
            f"truth lacks case(s) {missing[:5]} of treatment {treatment!r}"
        )
    values = [truth[c] for c in ids]
    if not all(isinstance(v, bool | np.bool_) or v in (0, 1) for v in values):
        raise ValueError("truth values must be True (positive) or False (negative)")
    positive = np.array(values, dtype=bool)
    n_positive = int(positive.sum())
    n_negative = positive.size - n_positive
    if n_positive < 2 or n_negative < 2:
        raise ValueError(
            f"treatment {treatment!r} has {n_positive} positive and {n_negative} "
            "negative cases; the AUC's jackknife needs at least 2 of each"
        )
    return positive


def _scores(
    treatment: Hashable, reader: Hashable, values, ids: list, auc: bool
) -> np.ndarray:
    try:
        array = np.asarray(values, dtype=float)
    except (TypeError, ValueError) as exc:
        raise ValueError(
            f"ratings of reader {reader!r} in treatment {treatment!r} must be "
            f"numeric: {exc}"
        ) from None
    if array.shape != (len(ids),):
        raise ValueError(
            f"ratings of reader {reader!r} in treatment {treatment!r} have shape "
            f"{array.shape}; the treatment has {len(ids)} case ids, so expected "
            f"({len(ids)},)"
        )
    if not np.all(np.isfinite(array)):
        raise ValueError(
            f"ratings of reader {reader!r} in treatment {treatment!r} hold NaN or "
            "infinite values; every reader must rate every case"
        )
    if not auc and not np.all(np.isin(array, (0, 1))):
        raise ValueError(
            f"proportion_correct needs 0/1 (incorrect/correct) ratings; reader "
            f"{reader!r} in treatment {treatment!r} has other values"
        )
    return array


def _auc(scores: np.ndarray, positive: np.ndarray) -> float:
    """Wilcoxon AUC, P(score_pos > score_neg) + P(tie) / 2; NaN without both."""
    negatives = np.sort(scores[~positive])
    positives = scores[positive]
    if negatives.size == 0 or positives.size == 0:
        return math.nan
    below = np.searchsorted(negatives, positives, "left")
    below_or_tied = np.searchsorted(negatives, positives, "right")
    return float((below + below_or_tied).sum() / (2 * negatives.size * positives.size))


def _auc_influence(
    scores: np.ndarray, positive: np.ndarray, method: str
) -> tuple[float, np.ndarray]:
    """The AUC and each case's term of the covariance sums (DeLong et al. 1988).

    V10 of a positive is its AUC against all negatives, V01 of a negative that of
    all positives against it; the AUC is the mean of either. Dropping negative k
    gives AUC (n0 AUC - V01_k) / (n0 - 1), dropping positive k (n1 AUC - V10_k) /
    (n1 - 1), so the jackknife needs no refitting.
    """
    negatives, positives = scores[~positive], scores[positive]
    n0, n1 = negatives.size, positives.size
    sorted_negatives, sorted_positives = np.sort(negatives), np.sort(positives)
    v10 = (
        np.searchsorted(sorted_negatives, positives, "left")
        + np.searchsorted(sorted_negatives, positives, "right")
    ) / (2 * n0)  # (n1,)
    v01 = (
        2 * n1
        - np.searchsorted(sorted_positives, negatives, "left")
        - np.searchsorted(sorted_positives, negatives, "right")
    ) / (2 * n1)  # (n0,)
    auc = float(v10.mean())
    influence = np.empty(scores.size)
    if method == "delong":
        influence[~positive] = (v01 - auc) / math.sqrt(n0 * (n0 - 1))
        influence[positive] = (v10 - auc) / math.sqrt(n1 * (n1 - 1))
        return auc, influence
    dropped = np.empty(scores.size)
    dropped[~positive] = (n0 * auc - v01) / (n0 - 1)
    dropped[positive] = (n1 * auc - v10) / (n1 - 1)
    return auc, _jackknife_influence(dropped)


def _mean_influence(correct: np.ndarray) -> tuple[float, np.ndarray]:
    """Proportion correct and its jackknife terms: dropping case k gives
    (m p - x_k) / (m - 1)."""
    m = correct.size
    proportion = float(correct.mean())
    return proportion, _jackknife_influence((m * proportion - correct) / (m - 1))


def _jackknife_influence(dropped: np.ndarray) -> np.ndarray:
    """Terms whose inner products are the jackknife covariances of two FOMs.

    With m cases, (m - 1) / m * sum_k e_a(k) e_b(k) is the jackknife covariance of a
    crossed design; splitting the factor as a square root per FOM keeps each FOM's
    own variance that of its own m when the two FOMs use different case sets.
    """
    m = dropped.size
    return math.sqrt((m - 1) / m) * (dropped - dropped.mean())


def _anova(
    design: _Design,
    foms: np.ndarray,
    cov: np.ndarray,
    figure_of_merit: str,
    covariance: str,
    level: float,
) -> ORHillisResult:
    n_treatments, n_readers = foms.shape
    same_treatment = np.eye(n_treatments, dtype=bool)[:, None, :, None]
    same_reader = np.eye(n_readers, dtype=bool)[None, :, None, :]
    var = float(cov[same_treatment & same_reader].mean())
    cov2 = float(cov[same_treatment & ~same_reader].mean())
    cov1 = _mean_or_nan(cov[~same_treatment & same_reader])
    cov3 = _mean_or_nan(cov[~same_treatment & ~same_reader])

    treatment_means = foms.mean(axis=1)  # (T,)
    reader_means = foms.mean(axis=0)  # (R,)
    grand_mean = foms.mean()
    quantile = (1 + level) / 2

    per_treatment = []
    for i, treatment in enumerate(design.treatments):
        ms_r = float(np.var(foms[i], ddof=1))
        cov2_i = float(cov[i, :, i, :][~np.eye(n_readers, dtype=bool)].mean())
        error = ms_r + n_readers * max(cov2_i, 0.0)
        df = _satterthwaite(error, ms_r, n_readers - 1)
        se = math.sqrt(error / n_readers)
        half = _t_quantile(quantile, df) * se
        per_treatment.append(
            TreatmentEstimate(
                treatment=treatment,
                estimate=float(treatment_means[i]),
                standard_error=se,
                ci=(float(treatment_means[i] - half), float(treatment_means[i] + half)),
                df=df,
                ms_r=ms_r,
                var=float(np.diag(cov[i, :, i, :]).mean()),
                cov2=cov2_i,
                n_cases=int(design.columns[treatment].size),
            )
        )

    nan = math.nan
    ms_t = ms_tr = f_statistic = df_denominator = p_value = nan
    differences = []
    if n_treatments > 1:
        df_tr = (n_treatments - 1) * (n_readers - 1)
        ms_t = float(
            n_readers * np.sum((treatment_means - grand_mean) ** 2) / (n_treatments - 1)
        )
        interaction = (
            foms - treatment_means[:, None] - reader_means[None, :] + grand_mean
        )
        ms_tr = float(np.sum(interaction**2) / df_tr)
        error = ms_tr + n_readers * max(cov2 - cov3, 0.0)
        df_denominator = _satterthwaite(error, ms_tr, df_tr)
        if error > 0:
            f_statistic = ms_t / error
            p_value = float(
                scipy_stats.f.sf(f_statistic, n_treatments - 1, df_denominator)
            )
        se = math.sqrt(2 * error / n_readers)
        half = _t_quantile(quantile, df_denominator) * se
        for i, j in combinations(range(n_treatments), 2):
            estimate = float(treatment_means[i] - treatment_means[j])
            t_statistic = estimate / se if se > 0 else nan
            differences.append(
                PairwiseDifference(
                    first=design.treatments[i],
                    second=design.treatments[j],
                    estimate=estimate,
                    standard_error=se,
                    ci=(estimate - half, estimate + half),
                    df=df_denominator,
                    t_statistic=t_statistic,
                    p_value=float(
                        2 * scipy_stats.t.sf(abs(t_statistic), df_denominator)
                    ),
                )
            )

    return ORHillisResult(
        treatments=design.treatments,
        readers=design.readers,
        figure_of_merit=figure_of_merit,
        covariance_method=covariance,
        level=level,
        n_cases=design.n_cases,
        foms=foms,
        treatment_means=treatment_means,
        covariance=cov,
        var=var,
        cov1=cov1,
        cov2=cov2,
        cov3=cov3,
        ms_t=ms_t,
        ms_tr=ms_tr,
        f_statistic=f_statistic,
        df_numerator=n_treatments - 1,
        df_denominator=df_denominator,
        p_value=p_value,
        per_treatment=tuple(per_treatment),
        differences=tuple(differences),
    )


def _satterthwaite(error: float, mean_square: float, df: int) -> float:
    """Hillis (2007): df of an error term whose only estimated part is a mean square;
    infinite when the mean square is zero, NaN when the error term is."""
    if error <= 0:
        return math.nan
    if mean_square == 0:
        return math.inf
    return error**2 / (mean_square**2 / df)


def _t_quantile(quantile: float, df: float) -> float:
    return math.nan if math.isnan(df) else float(scipy_stats.t.ppf(quantile, df))


def _mean_or_nan(values: np.ndarray) -> float:
    return float(values.mean()) if values.size else math.nan

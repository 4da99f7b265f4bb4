"""The study report: every figure a researcher publishes, from the table of answers.

Pure: it takes a ``StudyTable`` (numpy columns, one row per judgment) and returns
plain dicts, lists and numbers that go as they are into JSON and the HTML report.
Detection and agreement use each reader's first reading of a case (round 1);
round 2 (the repeats) feeds the intra-reader agreement. Practice cases never
enter the table.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field
from itertools import combinations

import numpy as np
from scipy.stats import binomtest
from sklearn.metrics import roc_curve

from ecgstudy.analysis.mrmc import or_hillis
from ecgstudy.analysis.stats import (
    bootstrap_ci,
    cohen_kappa,
    detection_summary,
    fleiss_kappa,
    gwet_ac1,
    krippendorff_alpha,
)

OTHER = "other"  # the diagnosis code that covers every rhythm no other code names
ORIGINS = ("real", "synthetic")  # the answers to the real-or-synthetic question
FIRST, REPEAT = 1, 2


@dataclass(frozen=True)
class StudyTable:
    """A study's counted judgments as a long table: one row per judgment.

    ``answer`` is "real", "synthetic" or "" (question off); ``confidence`` and
    ``seconds`` are NaN where missing; ``diagnosis`` joins the chosen codes with
    "+" in option order ("" when the question is off).
    """

    reader: np.ndarray  # str: the reader's pseudonym (R01, R02, ...)
    site: np.ndarray  # str
    experience: np.ndarray  # str
    case: np.ndarray  # str: the case's token in this study
    round: np.ndarray  # int: 1, or 2 for a repeat
    synthetic: np.ndarray  # bool: the truth
    rhythm: np.ndarray  # str: the case's rhythm label
    answer: np.ndarray  # str
    confidence: np.ndarray  # float
    diagnosis: np.ndarray  # str
    quality: np.ndarray  # str
    seconds: np.ndarray  # float
    comment: np.ndarray | None = None  # str; None: no comments ("" for every row)

    def __post_init__(self):
        if self.comment is None:
            object.__setattr__(self, "comment", np.full(len(self.reader), ""))
        lengths = {len(getattr(self, name)) for name in self.__dataclass_fields__}
        if len(lengths) > 1:
            raise ValueError(f"StudyTable columns differ in length: {sorted(lengths)}")

    def __len__(self) -> int:
        return len(self.reader)

    def select(self, mask: np.ndarray) -> StudyTable:
        return StudyTable(
            **{name: getattr(self, name)[mask] for name in self.__dataclass_fields__}
        )


@dataclass(frozen=True)
class StudyInfo:
    """What the report needs to know of the study beyond its answers."""

    name: str
    status: str
    ask_origin: bool
    ask_confidence: bool
    confidence_levels: int
    ask_diagnosis: bool
    diagnosis_options: list[list[str]]  # [[code, text], ...]
    ask_quality: bool
    n_real: int  # counted cases
    n_synthetic: int
    # reader, site, experience, answered, total and skipped (ECG files missing)
    progress: list[dict] = field(default_factory=list)
    # case token -> "labels" (text) and its provenance (record id, dataset,
    # source id, generation job, checkpoint, seed, sampler, steps)
    cases: dict[str, dict] = field(default_factory=dict)
    # case token -> its arm ("real: ptbxl", "synthetic: SSSD-ECG 2023"); a case
    # not named here is in the arm of its origin ("real", "synthetic")
    arms: dict[str, str] = field(default_factory=dict)


def _num(value) -> float | None:
    """A JSON-safe number: None for NaN or infinity."""
    if value is None:
        return None
    value = float(value)
    return value if math.isfinite(value) else None


def _interval(low, high) -> list[float | None]:
    return [_num(low), _num(high)]


def _safe(compute: Callable[[], float]) -> float | None:
    """A statistic, or None where it is undefined (too few ratings, one category)."""
    try:
        return _num(compute())
    except ValueError:
        return None


def _columns(table: StudyTable, **extra: np.ndarray) -> dict[str, np.ndarray]:
    return {"reader": table.reader, "case": table.case, **extra}


def _mean_where(values: np.ndarray, mask: np.ndarray) -> float:
    return float(values[mask].mean()) if mask.any() else math.nan


def _auc_discrete(truth: np.ndarray, score: np.ndarray) -> float:
    """ROC AUC of a score with few distinct values (the signed confidence), fast
    enough for every bootstrap draw: P(score_pos > score_neg) + P(tie) / 2."""
    positives, negatives = score[truth], score[~truth]
    if positives.size == 0 or negatives.size == 0:
        return math.nan
    levels, codes = np.unique(score, return_inverse=True)
    pos = np.bincount(codes[truth], minlength=levels.size)
    neg = np.bincount(codes[~truth], minlength=levels.size)
    below = np.cumsum(neg) - neg
    wins = np.sum(pos * (below + 0.5 * neg))
    return float(wins / (positives.size * negatives.size))


# Real vs synthetic


def _detection(table: StudyTable, use_confidence: bool) -> dict | None:
    truth = table.synthetic
    if truth.size == 0:
        return None
    answer = table.answer == "synthetic"
    confidence = table.confidence if use_confidence else None
    if confidence is not None and np.isnan(confidence).any():
        confidence = None
    try:
        summary = detection_summary(truth, answer, confidence)
    except ValueError as exc:
        return {"n": int(truth.size), "note": str(exc)}
    return {
        "n": summary.n,
        "correct": summary.correct,
        "accuracy": summary.accuracy,
        "sensitivity": summary.sensitivity,
        "specificity": summary.specificity,
        "p_value": summary.p_value,
        "exact_ci": list(summary.exact_ci),
        "wilson_ci": list(summary.wilson_ci),
        "auc": _num(summary.auc),
        "confusion": {
            "synthetic_called_synthetic": summary.true_positive,
            "synthetic_called_real": summary.false_negative,
            "real_called_real": summary.true_negative,
            "real_called_synthetic": summary.false_positive,
        },
    }


def _pooled_bootstrap(
    table: StudyTable, use_confidence: bool, n_boot: int, seed: int
) -> dict:
    """Two-way (readers x cases) bootstrap intervals of the pooled figures."""
    truth = table.synthetic
    answer = table.answer == "synthetic"
    correct = truth == answer
    statistics: dict[str, tuple[dict, Callable]] = {
        "accuracy": (_columns(table, v=correct), lambda t: t["v"].mean()),
        "sensitivity": (
            _columns(table, v=answer, t=truth),
            lambda t: _mean_where(t["v"], t["t"]),
        ),
        "specificity": (
            _columns(table, v=~answer, t=truth),
            lambda t: _mean_where(t["v"], ~t["t"]),
        ),
    }
    if use_confidence and not np.isnan(table.confidence).any():
        signed = np.where(answer, table.confidence, -table.confidence)
        statistics["auc"] = (
            _columns(table, s=signed, t=truth),
            lambda t: _auc_discrete(t["t"], t["s"]),
        )
    intervals = {}
    for name, (columns, statistic) in statistics.items():
        try:
            result = bootstrap_ci(columns, statistic, n_boot=n_boot, seed=seed)
        except ValueError:
            continue
        intervals[name] = _interval(result.low, result.high)
    return intervals


def _roc(table: StudyTable) -> dict | None:
    if np.isnan(table.confidence).any() or len(np.unique(table.synthetic)) < 2:
        return None
    answer = table.answer == "synthetic"
    signed = np.where(answer, table.confidence, -table.confidence)
    fpr, tpr, _ = roc_curve(table.synthetic, signed)
    return {"fpr": fpr.round(4).tolist(), "tpr": tpr.round(4).tolist()}


def _calibration(table: StudyTable, levels: int) -> list[dict]:
    """Accuracy at each confidence level: are readers right when they are sure?"""
    correct = table.synthetic == (table.answer == "synthetic")
    rows = []
    for level in range(1, levels + 1):
        at = table.confidence == level
        n = int(at.sum())
        hits = int(correct[at].sum())
        ci = binomtest(hits, n).proportion_ci(method="wilson") if n else None
        rows.append(
            {
                "confidence": level,
                "n": n,
                "correct": hits,
                "accuracy": hits / n if n else None,
                "wilson_ci": _interval(ci.low, ci.high) if ci else [None, None],
            }
        )
    return rows


def _groups(table: StudyTable, column: str, use_confidence: bool) -> list[dict]:
    values = getattr(table, column)
    rows = []
    for value in sorted(set(values.tolist())):
        subset = table.select(values == value)
        rows.append(
            {
                column: value or "(not given)",
                "readers": len(set(subset.reader.tolist())),
                **(_detection(subset, use_confidence) or {}),
            }
        )
    return rows


def detection_report(
    table: StudyTable, info: StudyInfo, *, n_boot: int, seed: int
) -> dict | None:
    if not info.ask_origin:
        return None
    first = table.select((table.round == FIRST) & (table.answer != ""))
    use_confidence = info.ask_confidence
    pooled = _detection(first, use_confidence)
    if pooled is None:
        return {"n": 0}
    if "note" not in pooled:
        pooled["bootstrap_ci"] = _pooled_bootstrap(first, use_confidence, n_boot, seed)
    return {
        "pooled": pooled,
        "per_reader": _groups(first, "reader", use_confidence),
        "per_site": _groups(first, "site", use_confidence),
        "per_experience": _groups(first, "experience", use_confidence),
        "roc": _roc(first) if use_confidence else None,
        "calibration": (
            _calibration(first, info.confidence_levels) if use_confidence else None
        ),
    }


# Agreement


def question_categories(column: str, info: StudyInfo) -> list[str]:
    """Every answer the question offers, chosen or not: chance agreement (Gwet's
    AC1) depends on how many there are. The diagnosis question offers the study's
    options; a combination chosen where several are allowed is one more."""
    if column == "answer":
        return list(ORIGINS)
    return [code for code, _ in info.diagnosis_options]


def _codes(values: np.ndarray, offered: list[str]) -> tuple[np.ndarray, list[str]]:
    """Answers as category numbers (NaN where unanswered), and the categories: the
    ``offered`` ones in their order, then any other answer seen."""
    seen = set(values.tolist()) - {""}
    categories = list(offered) + sorted(seen - set(offered))
    index = {c: i for i, c in enumerate(categories)}
    return np.array([index.get(v, np.nan) for v in values], dtype=float), categories


def _case_by_reader(table: StudyTable, values: np.ndarray) -> tuple[np.ndarray, list]:
    """Cases x readers matrix of coded answers (NaN where unread), and the readers."""
    readers = sorted(set(table.reader.tolist()))
    cases = sorted(set(table.case.tolist()))
    r_index = {r: i for i, r in enumerate(readers)}
    c_index = {c: i for i, c in enumerate(cases)}
    matrix = np.full((len(cases), len(readers)), np.nan)
    rows = [c_index[c] for c in table.case]
    cols = [r_index[r] for r in table.reader]
    matrix[rows, cols] = values
    return matrix, readers


def _agreement(table: StudyTable, column: str, offered: list[str]) -> dict | None:
    first = table.select((table.round == FIRST) & (getattr(table, column) != ""))
    codes, categories = _codes(getattr(first, column), offered)
    if not len(first):
        return None
    matrix, readers = _case_by_reader(first, codes)
    rated = (~np.isnan(matrix)).sum(axis=1)
    complete = matrix[rated == len(readers)]
    counts = (
        np.stack(
            [np.sum(complete == k, axis=1) for k in range(len(categories))], axis=1
        )
        if len(categories)
        else np.zeros((0, 0))
    )
    pairwise = []
    for (i, a), (j, b) in combinations(enumerate(readers), 2):
        both = ~np.isnan(matrix[:, i]) & ~np.isnan(matrix[:, j])
        pairwise.append(
            {
                "a": a,
                "b": b,
                "n": int(both.sum()),
                "kappa": _safe(
                    lambda i=i, j=j, both=both: cohen_kappa(
                        matrix[both, i], matrix[both, j]
                    )
                ),
                "agreement": _num(np.mean(matrix[both, i] == matrix[both, j]))
                if both.any()
                else None,
            }
        )
    return {
        "categories": categories,
        "readers": readers,
        "n_cases": int(matrix.shape[0]),
        "n_complete_cases": int(complete.shape[0]),
        "fleiss_kappa": _safe(lambda: fleiss_kappa(counts)),
        "krippendorff_alpha": _safe(lambda: krippendorff_alpha(matrix.T)),
        "gwet_ac1": _safe(
            lambda: gwet_ac1(matrix, categories=np.arange(len(categories)))
        ),
        "pairwise_cohen": pairwise,
    }


def _intra_reader(table: StudyTable, column: str, offered: list[str]) -> dict | None:
    """Agreement of each reader with themselves on the cases shown twice."""
    values = getattr(table, column)
    answered = values != ""
    codes, categories = _codes(values, offered)
    rows, all_first, all_second = [], [], []
    for reader in sorted(set(table.reader.tolist())):
        mine = (table.reader == reader) & answered
        first = {
            c: v
            for c, v, r in zip(
                table.case[mine], codes[mine], table.round[mine], strict=True
            )
            if r == FIRST
        }
        pairs = [
            (first[c], v)
            for c, v, r in zip(
                table.case[mine], codes[mine], table.round[mine], strict=True
            )
            if r == REPEAT and c in first
        ]
        if not pairs:
            continue
        a, b = np.array(pairs).T
        all_first += a.tolist()
        all_second += b.tolist()
        rows.append(
            {
                "reader": reader,
                "n": len(pairs),
                "agreement": float(np.mean(a == b)),
                "kappa": _safe(lambda a=a, b=b: cohen_kappa(a, b)),
            }
        )
    if not rows:
        return None
    a, b = np.array(all_first), np.array(all_second)
    return {
        "categories": categories,
        "per_reader": rows,
        "pooled": {
            "n": int(a.size),
            "agreement": float(np.mean(a == b)),
            "kappa": _safe(lambda: cohen_kappa(a, b)),
        },
    }


def agreement_report(table: StudyTable, info: StudyInfo) -> dict:
    report = {}
    for column, asked in (
        ("answer", info.ask_origin),
        ("diagnosis", info.ask_diagnosis),
    ):
        if asked:
            offered = question_categories(column, info)
            report[column] = {
                "between_readers": _agreement(table, column, offered),
                "within_readers": _intra_reader(table, column, offered),
            }
    return report


# Diagnosis against the label


def expected_codes(rhythm: np.ndarray, codes: list[str]) -> np.ndarray:
    """The diagnosis code that is right for each case: its rhythm if an option names
    it, else "other" if that is an option, else "" (the case cannot be scored)."""
    names = set(codes)
    fallback = OTHER if OTHER in names else ""
    return np.array(
        [r if r in names else fallback for r in rhythm.tolist()], dtype=object
    )


def _diagnosis_hits(
    table: StudyTable, codes: list[str]
) -> tuple[StudyTable, np.ndarray]:
    """The first readings whose diagnosis can be scored against the label, and
    whether each names the expected code."""
    first = table.select((table.round == FIRST) & (table.diagnosis != ""))
    first = first.select(expected_codes(first.rhythm, codes) != "")
    expected = expected_codes(first.rhythm, codes)
    hits = np.array(
        [e in d.split("+") for e, d in zip(expected, first.diagnosis, strict=True)],
        dtype=bool,
    )
    return first, hits


def _rate(hits: np.ndarray) -> dict:
    n, k = int(hits.size), int(hits.sum())
    if not n:
        return {"n": 0, "correct": 0, "rate": None, "wilson_ci": [None, None]}
    ci = binomtest(k, n).proportion_ci(method="wilson")
    return {
        "n": n,
        "correct": k,
        "rate": k / n,
        "wilson_ci": _interval(ci.low, ci.high),
    }


def _difference(table: StudyTable, hits: np.ndarray, n_boot: int, seed: int) -> dict:
    """Real minus synthetic rate of correct diagnoses, with a two-way bootstrap CI."""
    real, synthetic = ~table.synthetic, table.synthetic
    if not (real.any() and synthetic.any()):
        return {"estimate": None, "bootstrap_ci": [None, None]}
    estimate = hits[real].mean() - hits[synthetic].mean()
    try:
        result = bootstrap_ci(
            _columns(table, h=hits, s=synthetic),
            lambda t: _mean_where(t["h"], ~t["s"]) - _mean_where(t["h"], t["s"]),
            n_boot=n_boot,
            seed=seed,
        )
        interval = _interval(result.low, result.high)
    except ValueError:
        interval = [None, None]
    return {"estimate": float(estimate), "bootstrap_ci": interval}


def diagnosis_report(
    table: StudyTable, info: StudyInfo, *, n_boot: int, seed: int
) -> dict | None:
    if not info.ask_diagnosis:
        return None
    codes = [code for code, _ in info.diagnosis_options]
    first, hits = _diagnosis_hits(table, codes)
    expected = expected_codes(first.rhythm, codes)
    per_label = []
    for label in sorted(set(first.rhythm.tolist())):
        at = first.rhythm == label
        subset = first.select(at)
        per_label.append(
            {
                "label": label,
                "expected_code": str(expected[at][0]),
                "real": _rate(hits[at & ~first.synthetic]),
                "synthetic": _rate(hits[at & first.synthetic]),
                "difference": _difference(subset, hits[at], n_boot, seed),
            }
        )
    return {
        "real": _rate(hits[~first.synthetic]),
        "synthetic": _rate(hits[first.synthetic]),
        "difference": _difference(first, hits, n_boot, seed),
        "per_label": per_label,
        "n_unscorable": int(
            np.sum((table.round == FIRST) & (table.diagnosis != "")) - len(first)
        ),
    }


# Arms: real ECGs and each generator side by side


def arm_column(table: StudyTable, info: StudyInfo) -> np.ndarray:
    """Each row's arm: the one ``info.arms`` names for its case, else its origin."""
    return np.array(
        [
            info.arms.get(case) or ORIGINS[int(synthetic)]
            for case, synthetic in zip(table.case, table.synthetic, strict=True)
        ],
        dtype=object,
    )


def _arm_order(arm: np.ndarray, synthetic: np.ndarray) -> tuple[list, list]:
    """The real arms and the generator arms, each sorted by label."""
    real = sorted(set(arm[~synthetic].tolist()))
    generators = sorted(set(arm[synthetic].tolist()))
    return real, generators


def _exact(hits: np.ndarray) -> dict:
    """A proportion with its exact (Clopper-Pearson) 95% interval."""
    n, k = int(hits.size), int(hits.sum())
    if not n:
        return {"n": 0, "count": 0, "rate": None, "exact_ci": [None, None]}
    ci = binomtest(k, n).proportion_ci(method="exact")
    return {"n": n, "count": k, "rate": k / n, "exact_ci": _interval(ci.low, ci.high)}


def _arm_difference(
    table: StudyTable,
    values: np.ndarray,
    in_first: np.ndarray,
    *,
    n_boot: int,
    seed: int,
) -> dict:
    """Mean of ``values`` in the first arm minus the second (the rows not
    ``in_first``), with a two-way (readers x cases) bootstrap interval."""
    if not (in_first.any() and (~in_first).any()):
        return {"estimate": None, "bootstrap_ci": [None, None]}
    estimate = values[in_first].mean() - values[~in_first].mean()
    try:
        result = bootstrap_ci(
            _columns(table, v=values, a=in_first),
            lambda t: _mean_where(t["v"], t["a"]) - _mean_where(t["v"], ~t["a"]),
            n_boot=n_boot,
            seed=seed,
        )
        interval = _interval(result.low, result.high)
    except ValueError:
        interval = [None, None]
    return {"estimate": _num(estimate), "bootstrap_ci": interval}


def arms_report(
    table: StudyTable, info: StudyInfo, *, n_boot: int, seed: int
) -> dict | None:
    """Detection and diagnosis per arm, and their differences between arms.

    Only for a study whose case mix names a source (a real dataset or a
    generator). ``called_synthetic`` is the share of an arm's first readings
    called synthetic, ``called_correctly`` the share called by the arm's own
    origin (the same share for a generator, its complement for real ECGs);
    ``diagnosis`` the share whose diagnosis names the label's code. Intervals
    are exact; ``pairwise`` differences (first minus second: each generator
    against each other generator and against each real arm) carry two-way
    bootstrap intervals over readers and cases.
    """
    if not any(arm not in ORIGINS for arm in info.arms.values()):
        return None
    first = table.select(table.round == FIRST)
    arm = arm_column(first, info)
    real_arms, generators = _arm_order(arm, first.synthetic)
    answered = first.answer != ""
    called = first.answer == "synthetic"
    codes = [code for code, _ in info.diagnosis_options]
    diagnosed, hits = _diagnosis_hits(first, codes)
    diagnosed_arm = arm_column(diagnosed, info)

    rows = []
    for label in real_arms + generators:
        mine = arm == label
        synthetic = label in generators
        rows.append(
            {
                "arm": label,
                "origin": ORIGINS[int(synthetic)],
                "cases": len(set(first.case[mine].tolist())),
                "called_synthetic": (
                    _exact(called[mine & answered]) if info.ask_origin else None
                ),
                "called_correctly": (
                    _exact(called[mine & answered] == synthetic)
                    if info.ask_origin
                    else None
                ),
                "diagnosis": (
                    _exact(hits[diagnosed_arm == label]) if info.ask_diagnosis else None
                ),
            }
        )

    pairs = list(combinations(generators, 2))
    pairs += [(generator, real) for generator in generators for real in real_arms]
    pairwise = []
    for a, b in pairs:
        row = {"first": a, "second": b, "called_synthetic": None, "diagnosis": None}
        if info.ask_origin:
            both = answered & np.isin(arm, [a, b])
            row["called_synthetic"] = _arm_difference(
                first.select(both),
                called[both].astype(float),
                arm[both] == a,
                n_boot=n_boot,
                seed=seed,
            )
        if info.ask_diagnosis:
            both = np.isin(diagnosed_arm, [a, b])
            row["diagnosis"] = _arm_difference(
                diagnosed.select(both),
                hits[both].astype(float),
                diagnosed_arm[both] == a,
                n_boot=n_boot,
                seed=seed,
            )
        pairwise.append(row)
    return {"per_arm": rows, "pairwise": pairwise}


def _complete(table: StudyTable) -> tuple[list[str], list[str]]:
    """The readers of a table, and the cases every one of them read (sorted)."""
    readers = sorted(set(table.reader.tolist()))
    by_case: dict[str, set] = {}
    for reader, case in zip(table.reader, table.case, strict=True):
        by_case.setdefault(case, set()).add(reader)
    cases = sorted(c for c, seen in by_case.items() if len(seen) == len(readers))
    return readers, cases


def _mrmc_block(
    table: StudyTable,
    values: np.ndarray,
    case_lists: dict[str, list[str]],
    *,
    figure_of_merit: str,
    readers: list[str],
    left_out: list[dict],
) -> dict:
    """``or_hillis`` of one figure of merit over the arms of ``case_lists``, as
    JSON: the inputs it was given and every figure it returns."""
    value = {
        (reader, case): float(v)
        for reader, case, v in zip(table.reader, table.case, values, strict=True)
    }
    ratings = {
        label: {r: [value[r, c] for c in cases] for r in readers}
        for label, cases in case_lists.items()
    }
    truth = {c: bool(s) for c, s in zip(table.case, table.synthetic, strict=True)}
    block = {
        "figure_of_merit": figure_of_merit,
        "arms": list(case_lists),
        "arms_left_out": left_out,
        "n_readers": len(readers),
    }
    if not case_lists:
        return block | {"note": "no arm has enough cases read by every reader"}
    try:
        result = or_hillis(
            ratings,
            case_lists,
            truth if figure_of_merit == "auc" else None,
            figure_of_merit=figure_of_merit,
        )
    except ValueError as exc:
        return block | {"note": str(exc)}
    return block | {
        "n_cases": result.n_cases,
        "level": result.level,
        "per_arm": [
            {
                "arm": estimate.treatment,
                "estimate": _num(estimate.estimate),
                "standard_error": _num(estimate.standard_error),
                "ci": _interval(*estimate.ci),
                "df": _num(estimate.df),
                "n_cases": estimate.n_cases,
                "per_reader": {
                    str(reader): _num(fom)
                    for reader, fom in zip(result.readers, result.foms[i], strict=True)
                },
            }
            for i, estimate in enumerate(result.per_treatment)
        ],
        "f_statistic": _num(result.f_statistic),
        "df_numerator": result.df_numerator,
        "df_denominator": _num(result.df_denominator),
        "p_value": _num(result.p_value),
        "differences": [
            {
                "first": difference.first,
                "second": difference.second,
                "estimate": _num(difference.estimate),
                "standard_error": _num(difference.standard_error),
                "ci": _interval(*difference.ci),
                "df": _num(difference.df),
                "t_statistic": _num(difference.t_statistic),
                "p_value": _num(difference.p_value),
            }
            for difference in result.differences
        ],
    }


def mrmc_ratings(table: StudyTable, use_confidence: bool) -> np.ndarray:
    """The confidence-rated answer, higher meaning more surely synthetic: the
    signed confidence (+c for "synthetic", -c for "real"), or +-1 without a
    confidence scale."""
    sign = np.where(table.answer == "synthetic", 1.0, -1.0)
    return sign * table.confidence if use_confidence else sign


def mrmc_report(table: StudyTable, info: StudyInfo) -> dict | None:
    """Obuchowski-Rockette/Hillis MRMC analysis with each generator as a treatment.

    ``auc``: the AUC of the confidence-rated answer (``mrmc_ratings``) with the
    real cases as the negatives every treatment shares and each generator's
    cases as its positives. ``diagnosis``: the proportion of correct diagnoses
    on each arm's own cases, the real arms being treatments too so that each
    generator is compared with real ECGs. Only first readings of the cases read
    by every reader enter; the others are counted in ``cases_left_out``.
    """
    first = table.select(table.round == FIRST)
    report = {}
    if info.ask_origin:
        rated = first.select(first.answer != "")
        use_confidence = info.ask_confidence and not np.isnan(rated.confidence).any()
        readers, cases = _complete(rated)
        rated = rated.select(np.isin(rated.case, cases))
        arm = arm_column(rated, info)
        _, generators = _arm_order(arm, rated.synthetic)
        negatives = sorted(set(rated.case[~rated.synthetic].tolist()))
        case_lists, left_out = {}, []
        for label in generators:
            positives = sorted(set(rated.case[arm == label].tolist()))
            if len(positives) < 2 or len(negatives) < 2:
                left_out.append(
                    {
                        "arm": label,
                        "reason": f"{len(positives)} synthetic and "
                        f"{len(negatives)} real cases read by every reader; the "
                        "AUC needs at least 2 of each",
                    }
                )
                continue
            case_lists[label] = negatives + positives
        report["auc"] = _mrmc_block(
            rated,
            mrmc_ratings(rated, use_confidence),
            case_lists,
            figure_of_merit="auc",
            readers=readers,
            left_out=left_out,
        ) | {
            "rating": "signed confidence" if use_confidence else "answer (+-1)",
            "cases_left_out": len(set(first.case.tolist()) - set(cases)),
        }
    if info.ask_diagnosis:
        codes = [code for code, _ in info.diagnosis_options]
        diagnosed, hits = _diagnosis_hits(first, codes)
        readers, cases = _complete(diagnosed)
        keep = np.isin(diagnosed.case, cases)
        diagnosed, hits = diagnosed.select(keep), hits[keep]
        arm = arm_column(diagnosed, info)
        real_arms, generators = _arm_order(arm, diagnosed.synthetic)
        case_lists, left_out = {}, []
        for label in real_arms + generators:
            own = sorted(set(diagnosed.case[arm == label].tolist()))
            if len(own) < 2:
                left_out.append(
                    {
                        "arm": label,
                        "reason": f"{len(own)} case(s) read by every reader; the "
                        "jackknife needs at least 2",
                    }
                )
                continue
            case_lists[label] = own
        report["diagnosis"] = _mrmc_block(
            diagnosed,
            hits.astype(float),
            case_lists,
            figure_of_merit="proportion_correct",
            readers=readers,
            left_out=left_out,
        ) | {"cases_left_out": len(set(first.case.tolist()) - set(cases))}
    return report or None


# Per case


def _fooled_first(row: dict) -> tuple:
    """Synthetic cases first, those the fewest readers called synthetic at the
    top; then real cases, those the most readers called synthetic at the top;
    cases without an origin answer last."""
    rate = row["detection_rate"]
    if row["origin"] == "synthetic":
        return (0, rate is None, rate or 0.0, row["case"])
    return (1, rate is None, -(rate or 0.0), row["case"])


def case_report(table: StudyTable, info: StudyInfo) -> list[dict]:
    """One row per counted case: how its first readings went, sorted so that the
    synthetic ECGs that fooled most readers come first.

    ``detection_rate`` is the share of readers who called the case synthetic
    (round 1, origin answered); ``diagnosis_agreement`` the share whose diagnosis
    includes the code expected from its rhythm (None where no option scores it);
    ``comments`` come from every round.
    """
    codes = [code for code, _ in info.diagnosis_options]
    rows = []
    for case in sorted(set(table.case.tolist())):
        mine = table.select(table.case == case)
        first = mine.select(mine.round == FIRST)
        answered = first.answer != ""
        called = first.answer[answered] == "synthetic"
        confidence = first.confidence[answered]
        confidence = confidence[~np.isnan(confidence)]
        diagnosed = first.select(first.diagnosis != "")
        expected = expected_codes(diagnosed.rhythm, codes)
        hits = [
            e in d.split("+")
            for e, d in zip(expected, diagnosed.diagnosis, strict=True)
            if e != ""
        ]
        rows.append(
            {
                "case": case,
                "origin": "synthetic" if mine.synthetic[0] else "real",
                "arm": info.arms.get(case) or ORIGINS[int(mine.synthetic[0])],
                "rhythm": str(mine.rhythm[0]),
                **info.cases.get(case, {}),
                "readers": len(set(first.reader.tolist())),
                "answered": int(answered.sum()),
                "called_synthetic": int(called.sum()),
                "detection_rate": _num(called.mean()) if called.size else None,
                "mean_confidence": (
                    _num(confidence.mean()) if confidence.size else None
                ),
                "diagnosed": len(hits),
                "diagnosis_agreement": _num(np.mean(hits)) if hits else None,
                "comments": [
                    {"reader": str(reader), "round": int(round_), "text": str(text)}
                    for reader, round_, text in zip(
                        mine.reader, mine.round, mine.comment, strict=True
                    )
                    if str(text).strip()
                ],
            }
        )
    return sorted(rows, key=_fooled_first)


# Quality, time, progress


def quality_report(table: StudyTable, info: StudyInfo) -> dict | None:
    if not info.ask_quality:
        return None
    first = table.select((table.round == FIRST) & (table.quality != ""))
    levels = ["good", "acceptable", "poor"]
    report = {}
    for origin, mask in (("real", ~first.synthetic), ("synthetic", first.synthetic)):
        n = int(mask.sum())
        counts = {level: int(np.sum(first.quality[mask] == level)) for level in levels}
        report[origin] = {
            "n": n,
            "counts": counts,
            "share": {k: (v / n if n else None) for k, v in counts.items()},
        }
    return report


def time_report(table: StudyTable) -> dict:
    report = {}
    first = table.select(table.round == FIRST)
    for origin, mask in (("real", ~first.synthetic), ("synthetic", first.synthetic)):
        seconds = first.seconds[mask]
        seconds = seconds[~np.isnan(seconds)]
        if seconds.size:
            q1, median, q3 = np.percentile(seconds, [25, 50, 75])
            report[origin] = {
                "n": int(seconds.size),
                "median": float(median),
                "q1": float(q1),
                "q3": float(q3),
                "seconds": seconds.round(1).tolist(),
            }
        else:
            report[origin] = {
                "n": 0,
                "median": None,
                "q1": None,
                "q3": None,
                "seconds": [],
            }
    return report


def build_report(
    table: StudyTable, info: StudyInfo, *, n_boot: int = 2000, seed: int = 0
) -> dict:
    """Every figure of the study report as JSON-ready dicts."""
    answered = sum(row["answered"] for row in info.progress)
    total = sum(row["total"] for row in info.progress)
    skipped = sum(row.get("skipped", 0) for row in info.progress)
    return {
        "study": {
            "name": info.name,
            "status": info.status,
            "cases": {"real": info.n_real, "synthetic": info.n_synthetic},
            "readers": len(info.progress),
            "judgments": len(table),
            "bootstrap": {"draws": n_boot, "seed": seed},
        },
        "progress": {
            "answered": answered,
            "total": total,
            "skipped": skipped,
            "per_reader": info.progress,
        },
        "detection": detection_report(table, info, n_boot=n_boot, seed=seed),
        "agreement": agreement_report(table, info),
        "diagnosis": diagnosis_report(table, info, n_boot=n_boot, seed=seed),
        "arms": arms_report(table, info, n_boot=n_boot, seed=seed),
        "mrmc": mrmc_report(table, info),
        "quality": quality_report(table, info),
        "time": time_report(table),
        "cases": case_report(table, info),
    }

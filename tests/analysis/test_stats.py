"""ecgstudy.analysis.stats against published reference values and known behaviour."""

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from ecgstudy.analysis.stats import (
    bootstrap_ci,
    cohen_kappa,
    detection_summary,
    fleiss_kappa,
    gwet_ac1,
    krippendorff_alpha,
    rating_matrix,
)

NAN = np.nan

# Fleiss, J. L. (1971). Measuring nominal scale agreement among many raters.
# Psychological Bulletin 76(5), 378-382, Table 1: 30 patients, 6 psychiatrists each,
# counts per diagnosis (depression, personality disorder, schizophrenia, neurosis,
# other). The same data are R irr's `diagnoses` (raw ratings) and, for the first 15
# patients, irrCAC's `distrib.6raters`. Column totals 26, 26, 30, 55, 43 give the
# published category proportions .144, .144, .167, .306, .239.
FLEISS_1971 = np.array(
    [
        [0, 0, 0, 6, 0],
        [0, 3, 0, 0, 3],
        [0, 1, 4, 0, 1],
        [0, 0, 0, 0, 6],
        [0, 3, 0, 3, 0],
        [2, 0, 4, 0, 0],
        [0, 0, 4, 0, 2],
        [2, 0, 3, 1, 0],
        [2, 0, 0, 4, 0],
        [0, 0, 0, 0, 6],
        [1, 0, 0, 5, 0],
        [1, 1, 0, 4, 0],
        [0, 3, 3, 0, 0],
        [1, 0, 0, 5, 0],
        [0, 2, 0, 3, 1],
        [0, 0, 5, 0, 1],
        [3, 0, 0, 1, 2],
        [5, 1, 0, 0, 0],
        [0, 2, 0, 4, 0],
        [1, 0, 2, 0, 3],
        [0, 0, 0, 0, 6],
        [0, 1, 0, 5, 0],
        [0, 2, 0, 1, 3],
        [2, 0, 0, 4, 0],
        [1, 0, 0, 4, 1],
        [0, 5, 0, 1, 0],
        [4, 0, 0, 0, 2],
        [0, 2, 0, 4, 0],
        [1, 0, 5, 0, 0],
        [0, 0, 0, 0, 6],
    ]
)

# Krippendorff, K. (2011). Computing Krippendorff's Alpha-Reliability, section C:
# 4 observers (rows) x 12 units, values 1-5, blanks as NaN. Laid out as in R irr's
# kripp.alpha example and irrCAC's cac.raw4raters (Gwet 2014, Handbook of
# Inter-Rater Reliability, 4th ed., p. 120); unit 12 has one value only, which no
# pairable coefficient uses.
KRIPPENDORFF_2011 = np.array(
    [
        [1, 2, 3, 3, 2, 1, 4, 1, 2, NAN, NAN, NAN],
        [1, 2, 3, 3, 2, 2, 4, 1, 2, 5, NAN, NAN],
        [NAN, 3, 3, 3, 2, 3, 4, 2, 2, 5, 1, 3],
        [1, 2, 3, 3, 2, 4, 4, 1, 2, 5, 1, NAN],
    ]
)


def expand_table(table: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Paired ratings (row category, column category) behind a square count table."""
    rows, cols = np.indices(np.shape(table))
    counts = np.ravel(table)
    return np.repeat(rows.ravel(), counts), np.repeat(cols.ravel(), counts)


def expand_counts(counts: np.ndarray) -> np.ndarray:
    """Units x raters ratings behind a units x categories count table."""
    return np.array([np.repeat(np.arange(len(row)), row) for row in counts], float)


def answers_with(correct: int, n: int) -> tuple[np.ndarray, np.ndarray]:
    """Truth alternating real/synthetic and answers right for the first ``correct``."""
    truth = np.arange(n) % 2 == 1
    answer = truth.copy()
    answer[correct:] = ~answer[correct:]
    return truth, answer


def complete_study(
    reader_accuracy: np.ndarray, n_cases: int, seed: int
) -> dict[str, np.ndarray]:
    """Every reader judges every case; reader r is right with reader_accuracy[r]."""
    rng = np.random.default_rng(seed)
    n_readers = reader_accuracy.size
    reader = np.repeat(np.arange(n_readers), n_cases)
    case = np.tile(np.arange(n_cases), n_readers)
    truth = np.tile(rng.random(n_cases) < 0.5, n_readers)
    correct = rng.random(reader.size) < reader_accuracy[reader]
    answer = np.where(correct, truth, ~truth)
    return {"reader": reader, "case": case, "truth": truth, "answer": answer}


def accuracy(table: dict[str, np.ndarray]) -> float:
    return float(np.mean(table["truth"] == table["answer"]))


# --- Fleiss' kappa ---------------------------------------------------------------


def test_fleiss_kappa_matches_fleiss_1971():
    # Fleiss (1971), p. 380: kappa = .430; statsmodels' and R irr's kappam.fleiss
    # on the same table give 0.4302.
    assert fleiss_kappa(FLEISS_1971) == pytest.approx(0.4302, abs=5e-5)


def test_fleiss_kappa_matches_irrcac_on_first_fifteen_patients():
    # irrCAC vignette "Calculating Chance-corrected Agreement Coefficients",
    # fleiss.kappa.dist(distrib.6raters) = 0.4139265.
    assert fleiss_kappa(FLEISS_1971[:15]) == pytest.approx(0.4139265, abs=1e-7)


# --- Krippendorff's alpha --------------------------------------------------------


@pytest.mark.parametrize(
    ("level", "published"),
    [("nominal", 0.743), ("ordinal", 0.815), ("interval", 0.849), ("ratio", 0.797)],
)
def test_krippendorff_alpha_matches_krippendorff_2011(level, published):
    # Krippendorff (2011), section C: alpha = .743 nominal, .815 ordinal,
    # .849 interval, .797 ratio.
    assert krippendorff_alpha(KRIPPENDORFF_2011, level) == pytest.approx(
        published, abs=5e-4
    )


def test_krippendorff_alpha_defaults_to_nominal():
    assert krippendorff_alpha(KRIPPENDORFF_2011) == pytest.approx(0.743, abs=5e-4)


# --- Gwet's AC1 ------------------------------------------------------------------


def test_gwet_ac1_matches_irrcac_raw4raters():
    # irrCAC vignette, gwet.ac1.raw(cac.raw4raters): pa = 0.8181818,
    # pe = 0.1903212, AC1 = 0.77544 (Gwet 2014, Handbook, 4th ed., p. 120).
    # By hand: 11 units have 2+ ratings, with agreement 1 in 8 of them, 1/2 in
    # units 2 and 8, 0 in unit 6, so pa = 9/11. Category prevalences averaged
    # over all 12 units are (3, 3.25, 3.5, 1.25, 1)/12, so
    # pe = sum(pi (1 - pi)) / 4 = 0.1903212 and AC1 = (pa - pe)/(1 - pe).
    pa = 9 / 11
    prevalence = np.array([3, 3.25, 3.5, 1.25, 1]) / 12
    pe = np.sum(prevalence * (1 - prevalence)) / 4
    assert pe == pytest.approx(0.1903212, abs=1e-7)
    by_hand = (pa - pe) / (1 - pe)
    assert gwet_ac1(KRIPPENDORFF_2011.T) == pytest.approx(by_hand, abs=1e-12)
    assert gwet_ac1(KRIPPENDORFF_2011.T) == pytest.approx(0.77544, abs=5e-6)


def test_gwet_ac1_matches_irrcac_distrib_6raters():
    # irrCAC vignette, gwet.ac1.dist(distrib.6raters) = 0.4448007: the first 15
    # patients of Fleiss (1971), 6 raters each.
    ratings = expand_counts(FLEISS_1971[:15])
    assert gwet_ac1(ratings) == pytest.approx(0.4448007, abs=1e-7)


def test_gwet_ac1_matches_irrcac_two_rater_table():
    # irrCAC vignette, gwet.ac1.table(cont3x3abstractors) = 0.8493305 (Gwet 2014):
    # two abstractors classifying 100 pregnancies as ectopic, AIU or NIU.
    first, second = expand_table([[13, 0, 0], [0, 20, 7], [0, 4, 56]])
    assert gwet_ac1(np.column_stack([first, second])) == pytest.approx(
        0.8493305, abs=1e-7
    )


def test_gwet_ac1_counts_unused_categories_when_given():
    ratings = np.array([[0, 0], [0, 0], [0, 0], [1, 1]], float)
    assert gwet_ac1(ratings) == pytest.approx(1.0)
    assert gwet_ac1(ratings, categories=[0, 1, 2]) == pytest.approx(1.0)
    # pa = 3/4; prevalence (5/8, 3/8), plus a third category at 0 when given.
    disagree = np.array([[0, 1], [0, 0], [1, 1], [0, 0]], float)
    pe_two = 2 * (5 / 8) * (3 / 8)
    assert gwet_ac1(disagree) == pytest.approx((0.75 - pe_two) / (1 - pe_two))
    pe_three = ((5 / 8) * (3 / 8) * 2) / 2
    assert gwet_ac1(disagree, categories=[0, 1, 2]) == pytest.approx(
        (0.75 - pe_three) / (1 - pe_three)
    )


# --- Cohen's kappa ---------------------------------------------------------------


def test_cohen_kappa_matches_sas_example():
    # SAS PROC FREQ (AGREE) on the table [[0,4,1],[0,8,0],[0,1,5]], as recorded in
    # statsmodels' stats/tests/test_inter_rater.py: simple kappa 0.4842, weighted
    # kappa (Cicchetti-Allison, i.e. linear) 0.4701.
    first, second = expand_table([[0, 4, 1], [0, 8, 0], [0, 1, 5]])
    assert cohen_kappa(first, second) == pytest.approx(0.4842, abs=5e-5)
    assert cohen_kappa(first, second, weights="linear") == pytest.approx(
        0.4701, abs=5e-5
    )


def test_cohen_kappa_matches_irrcac_two_rater_table():
    # irrCAC vignette, kappa2.table(cont3x3abstractors) = 0.7964094.
    first, second = expand_table([[13, 0, 0], [0, 20, 7], [0, 4, 56]])
    assert cohen_kappa(first, second) == pytest.approx(0.7964094, abs=1e-7)


def test_cohen_kappa_quadratic_matches_hand_computation():
    # Quadratic disagreement (i - j)^2 on the SAS table: observed 4*1 + 1*4 + 1*1
    # = 9 over 19 pairs; expected from margins (5, 8, 6) x (0, 13, 6).
    table = np.array([[0, 4, 1], [0, 8, 0], [0, 1, 5]])
    distance = np.subtract.outer(np.arange(3), np.arange(3)) ** 2
    expected = np.outer(table.sum(1), table.sum(0)) / table.sum()
    by_hand = 1 - np.sum(distance * table) / np.sum(distance * expected)
    first, second = expand_table(table)
    assert cohen_kappa(first, second, weights="quadratic") == pytest.approx(by_hand)


def test_cohen_kappa_weights_follow_given_category_order():
    # Ratings 1, 3 and 4 on a 1-4 scale nobody rated 2: given the full scale, a
    # 1-vs-3 disagreement is two steps, not one.
    a = np.array([1, 1, 3, 3, 4, 4, 1, 4, 3, 1])
    b = np.array([3, 1, 3, 4, 4, 1, 1, 3, 3, 4])

    def linear_kappa_by_hand(rank_of):
        ra, rb = np.vectorize(rank_of.get)(a), np.vectorize(rank_of.get)(b)
        observed = np.mean(np.abs(ra - rb))
        expected = np.mean(np.abs(np.subtract.outer(ra, rb)))
        return 1 - observed / expected

    used = linear_kappa_by_hand({1: 0, 3: 1, 4: 2})
    full = linear_kappa_by_hand({1: 0, 2: 1, 3: 2, 4: 3})
    assert used != pytest.approx(full)
    assert cohen_kappa(a, b, weights="linear") == pytest.approx(used)
    assert cohen_kappa(
        a, b, weights="linear", categories=[1, 2, 3, 4]
    ) == pytest.approx(full)
    # Unweighted kappa ignores unused levels.
    assert cohen_kappa(a, b, categories=[1, 2, 3, 4]) == pytest.approx(
        cohen_kappa(a, b)
    )


# --- Binomial test and intervals -------------------------------------------------


@pytest.mark.parametrize(
    ("correct", "n", "exact", "wilson"),
    [
        # Newcombe, R. G. (1998). Two-sided confidence intervals for the single
        # proportion: comparison of seven methods. Stat Med 17, 857-872, Table I:
        # method 5 (Clopper-Pearson exact) and method 3 (Wilson score, no
        # continuity correction), 95 per cent, to 4 decimals.
        (81, 263, (0.2527, 0.3676), (0.2553, 0.3662)),
        (15, 148, (0.0578, 0.1617), (0.0624, 0.1605)),
        (0, 20, (0.0, 0.1684), (0.0, 0.1611)),
        (1, 29, (0.0009, 0.1776), (0.0061, 0.1718)),
    ],
)
def test_accuracy_intervals_match_newcombe_1998(correct, n, exact, wilson):
    summary = detection_summary(*answers_with(correct, n))
    assert summary.correct == correct
    assert tuple(round(bound, 4) for bound in summary.exact_ci) == exact
    assert tuple(round(bound, 4) for bound in summary.wilson_ci) == wilson


def test_binomial_test_is_exact_and_two_sided():
    # 9 of 10 right: P(X >= 9 | p = 1/2) = 11/1024, doubled by symmetry.
    summary = detection_summary(*answers_with(9, 10))
    assert summary.p_value == pytest.approx(22 / 1024, rel=1e-12)


# --- Detection summary -----------------------------------------------------------


def test_always_right_answers_have_accuracy_one():
    truth = np.array([True, False, True, True, False, False])
    summary = detection_summary(truth, truth.copy())
    assert summary.accuracy == 1.0
    assert summary.sensitivity == 1.0
    assert summary.specificity == 1.0
    assert summary.false_positive == summary.false_negative == 0


def test_detection_summary_counts_synthetic_as_positive():
    truth = np.array([True, True, True, False, False])
    answer = np.array([True, False, False, True, False])
    summary = detection_summary(truth, answer)
    assert (summary.true_positive, summary.false_negative) == (1, 2)
    assert (summary.true_negative, summary.false_positive) == (1, 1)
    assert summary.sensitivity == pytest.approx(1 / 3)
    assert summary.specificity == pytest.approx(1 / 2)
    assert summary.accuracy == pytest.approx(2 / 5)
    assert summary.auc is None


def test_auc_is_one_for_perfectly_separated_confidence():
    truth = np.array([True] * 5 + [False] * 5)
    # Right answers throughout; synthetic cases with any confidence rank above
    # real ones, since "real" confidences turn negative.
    confidence = np.array([1, 2, 3, 4, 5, 5, 4, 3, 2, 1])
    summary = detection_summary(truth, truth.copy(), confidence)
    assert summary.auc == 1.0


def test_auc_signs_confidence_by_answer():
    # Signed scores: synthetic cases 5 and -1, real cases 2 and -3. Of the four
    # (synthetic, real) pairs, three rank the synthetic case higher.
    truth = np.array([True, True, False, False])
    answer = np.array([True, False, True, False])
    confidence = np.array([5, 1, 2, 3])
    assert detection_summary(truth, answer, confidence).auc == pytest.approx(0.75)


def test_auc_is_one_half_for_random_confidence():
    rng = np.random.default_rng(6)
    truth = rng.random(4000) < 0.5
    answer = rng.random(4000) < 0.5
    confidence = rng.integers(1, 6, size=4000)
    assert detection_summary(truth, answer, confidence).auc == pytest.approx(
        0.5, abs=0.03
    )


# --- Identical raters ------------------------------------------------------------


def test_identical_raters_have_agreement_one():
    rng = np.random.default_rng(2)
    labels = rng.integers(0, 4, size=50).astype(float)
    assert cohen_kappa(labels, labels) == pytest.approx(1.0)
    assert cohen_kappa(labels, labels, weights="quadratic") == pytest.approx(1.0)
    ratings = np.column_stack([labels] * 5)  # 50 units x 5 raters, all agreeing
    assert gwet_ac1(ratings) == pytest.approx(1.0)
    assert krippendorff_alpha(ratings.T) == pytest.approx(1.0)
    counts = np.stack([np.sum(ratings == c, axis=1) for c in range(4)], axis=1)
    assert fleiss_kappa(counts) == pytest.approx(1.0)


# --- Two-way bootstrap -----------------------------------------------------------


def test_bootstrap_interval_contains_the_point_estimate():
    study = complete_study(np.full(12, 0.7), n_cases=80, seed=3)
    result = bootstrap_ci(study, accuracy, n_boot=500, seed=1)
    assert result.estimate == pytest.approx(accuracy(study))
    assert result.low <= result.estimate <= result.high
    assert result.n_undefined == 0
    assert result.standard_error > 0


def test_bootstrap_recovers_known_reader_accuracy():
    # 20 readers x 200 cases, every reader right with probability 0.6.
    study = complete_study(np.full(20, 0.6), n_cases=200, seed=4)
    result = bootstrap_ci(study, accuracy, n_boot=2000, seed=0)
    assert result.low < 0.6 < result.high
    assert result.high - result.low < 0.06


def test_bootstrap_is_conservative_when_judgment_noise_dominates():
    # Identical readers and no case effects: all variation is judgment noise. A
    # judgment's weight in a draw is the product of its reader's and its case's
    # multiplicities, each with second moment ~2, so the weight has variance ~3
    # and the standard error comes out ~sqrt(3) times the binomial one. Owen
    # (2007), The pigeonhole bootstrap, Ann. Appl. Stat. 1:386-411, shows this
    # bootstrap is conservative in general.
    study = complete_study(np.full(20, 0.6), n_cases=200, seed=4)
    result = bootstrap_ci(study, accuracy, n_boot=2000, seed=0)
    p = accuracy(study)
    binomial_se = np.sqrt(p * (1 - p) / study["reader"].size)
    assert 1.5 < result.standard_error / binomial_se < 2.0


def test_bootstrap_over_readers_widens_interval_when_readers_differ():
    # Half the readers at 0.9, half at 0.3: pooled accuracy 0.6, but the reader
    # spread is uncertainty a binomial interval on all judgments ignores.
    reader_accuracy = np.where(np.arange(20) < 10, 0.9, 0.3)
    study = complete_study(reader_accuracy, n_cases=200, seed=5)
    result = bootstrap_ci(study, accuracy, n_boot=1000, seed=0)
    wilson = detection_summary(study["truth"], study["answer"]).wilson_ci
    assert result.high - result.low > 3 * (wilson[1] - wilson[0])
    assert result.low < 0.6 < result.high


def test_bootstrap_is_reproducible_from_its_seed():
    study = complete_study(np.full(8, 0.6), n_cases=40, seed=7)
    first = bootstrap_ci(study, accuracy, n_boot=200, seed=11)
    again = bootstrap_ci(study, accuracy, n_boot=200, seed=11)
    other = bootstrap_ci(study, accuracy, n_boot=200, seed=12)
    assert first == again
    assert first != other


def test_bootstrap_keeps_the_cross_product_of_drawn_readers_and_cases():
    # An incomplete design: each reader judged a random half of the cases, some
    # twice. Every draw must hold, for each (reader copy, case copy) pair, exactly
    # the judgments that reader gave that case.
    rng = np.random.default_rng(8)
    pairs = [(r, c) for r in range(6) for c in range(10) if rng.random() < 0.5]
    pairs += pairs[:5]  # repeated rounds
    reader_id = np.array([f"reader-{r}" for r, _ in pairs])
    case_id = np.array([100 + c for _, c in pairs])
    n_given = {}
    for pair in zip(reader_id, case_id, strict=True):
        n_given[pair] = n_given.get(pair, 0) + 1
    tables = []

    def record(table):
        tables.append(table)
        return float(len(table["case"]))

    judgments = {
        "reader": reader_id,
        "case": case_id,
        "reader_id": reader_id,
        "case_id": case_id,
    }
    bootstrap_ci(judgments, record, n_boot=50, seed=9)
    observed, draws = tables[0], tables[1:]
    assert sorted(np.unique(observed["reader"])) == list(range(6))
    for table in draws:
        reader_of = {}
        case_of = {}
        for slot, rid in zip(table["reader"], table["reader_id"], strict=True):
            assert reader_of.setdefault(slot, rid) == rid
        for slot, cid in zip(table["case"], table["case_id"], strict=True):
            assert case_of.setdefault(slot, cid) == cid
        assert set(table["reader"]) <= set(range(6))
        assert set(table["case"]) <= set(range(10))
        counted = {}
        for slots in zip(table["reader"], table["case"], strict=True):
            counted[slots] = counted.get(slots, 0) + 1
        for (reader_slot, case_slot), n in counted.items():
            assert n == n_given[(reader_of[reader_slot], case_of[case_slot])]
        expected_rows = sum(
            n_given.get((reader_of[r], case_of[c]), 0)
            for r in reader_of
            for c in case_of
        )
        assert len(table["case"]) == expected_rows


def test_bootstrap_counts_readers_drawn_twice_as_two_raters():
    study = complete_study(np.full(5, 0.6), n_cases=30, seed=10)
    seen = []

    def readers_and_rows(table):
        seen.append((np.unique(table["reader"]).size, table["reader"].size))
        return 0.0

    bootstrap_ci(study, readers_and_rows, n_boot=40, seed=0)
    # A complete design keeps all 5 reader copies and 5 x 30 judgments per draw.
    assert all(copies == 5 and rows == 150 for copies, rows in seen)


def test_bootstrap_leaves_out_undefined_draws():
    study = complete_study(np.full(6, 0.6), n_cases=20, seed=12)
    calls = iter(range(10_000))

    def sometimes_undefined(table):
        return np.nan if next(calls) % 4 == 1 else accuracy(table)

    result = bootstrap_ci(study, sometimes_undefined, n_boot=100, seed=0)
    assert result.n_undefined == 25
    assert np.isfinite([result.low, result.high]).all()


# --- Long table to rating matrix -------------------------------------------------


def test_rating_matrix_places_each_rating_at_case_and_reader():
    judgments = {
        "reader": np.array(["b", "a", "a", "b", "c"]),
        "case": np.array([2, 1, 2, 1, 1]),
        "label": np.array([1.0, 0.0, 1.0, 1.0, 0.0]),
    }
    matrix = rating_matrix(judgments, "label")
    expected = np.array([[0.0, 1.0, 0.0], [1.0, 1.0, NAN]])
    np.testing.assert_array_equal(matrix, expected)


def test_rating_matrix_rejects_repeated_judgments():
    judgments = {"reader": [1, 1], "case": [3, 3], "label": [0, 1]}
    with pytest.raises(ValueError, match="more than once"):
        rating_matrix(judgments, "label")


# --- Bad input -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda: detection_summary([], []), "empty"),
        (lambda: detection_summary([True, False], [True]), "lengths differ"),
        (lambda: detection_summary([True, True], [True, False]), "single category"),
        (lambda: detection_summary([1.0, NAN], [1, 0]), "boolean"),
        (lambda: detection_summary([0, 2], [1, 0]), "boolean"),
        (lambda: detection_summary([1, 0], [1, 0], [3, NAN]), "NaN"),
        (lambda: detection_summary([1, 0], [1, 0], [3, 0]), "positive"),
        (lambda: detection_summary([1, 0], [1, 0], [3]), "lengths differ"),
        (lambda: detection_summary([1, 0], [1, 0], level=1.5), "level"),
        (lambda: fleiss_kappa(np.zeros((0, 3))), "empty"),
        (lambda: fleiss_kappa([[3, 0], [2, 0]]), "same number"),
        (lambda: fleiss_kappa([[3, 0], [3, 0]]), "single category"),
        (lambda: fleiss_kappa([[1, 0], [0, 1]]), "at least 2"),
        (lambda: fleiss_kappa([[2, -1], [1, 0]]), "non-negative"),
        (lambda: fleiss_kappa([[2, NAN], [1, 1]]), "NaN"),
        (lambda: fleiss_kappa([3, 0]), "2-D"),
        (lambda: krippendorff_alpha([[1, 2], [1, 2]], "cardinal"), "level"),
        (lambda: krippendorff_alpha([[1, 2, 3]]), "at least 2 raters"),
        (lambda: krippendorff_alpha([[1, NAN], [NAN, 2]]), "no unit"),
        (lambda: krippendorff_alpha([[1, 1], [1, 1]]), "single category"),
        (lambda: krippendorff_alpha([[-1, 2], [-1, 2]], "ratio"), "non-negative"),
        (lambda: krippendorff_alpha([[1, np.inf], [1, 2]]), "infinite"),
        (lambda: gwet_ac1([[1, 1], [1, 1]]), "at least 2 categories"),
        (lambda: gwet_ac1([[1, NAN], [NAN, 2]]), "no unit"),
        (lambda: gwet_ac1([[1, 2], [1, 3]], categories=[1, 2]), "not among"),
        (lambda: gwet_ac1(np.zeros((0, 2))), "empty"),
        (lambda: cohen_kappa([1, 2], [1]), "lengths differ"),
        (lambda: cohen_kappa([], []), "empty"),
        (lambda: cohen_kappa([1, 1], [1, 1]), "single category"),
        (lambda: cohen_kappa([1, NAN], [1, 2]), "NaN"),
        (lambda: cohen_kappa([1, 2], [1, 2], weights="cubic"), "weights"),
        (lambda: cohen_kappa([1, 3], [1, 2], categories=[1, 2]), "not among"),
    ],
)
def test_bad_input_raises_value_error_with_reason(call, message):
    with pytest.raises(ValueError, match=message):
        call()


@pytest.mark.parametrize(
    ("judgments", "message"),
    [
        ([(1, 2)], "mapping"),
        ({"reader": [1, 2]}, "case"),
        ({"reader": [1, 2], "case": [1]}, "differ in length"),
        ({"reader": [], "case": []}, "empty"),
        ({"reader": [1, 1], "case": [1, 2]}, "at least 2 readers"),
        ({"reader": [1.0, NAN], "case": [1, 2]}, "NaN"),
        ({"reader": [[1, 2]], "case": [[1, 2]]}, "1-D"),
    ],
)
def test_bootstrap_rejects_malformed_tables(judgments, message):
    with pytest.raises(ValueError, match=message):
        bootstrap_ci(judgments, lambda table: 0.0, n_boot=10)


def test_bootstrap_rejects_bad_settings_and_all_undefined_draws():
    study = complete_study(np.full(3, 0.6), n_cases=5, seed=0)
    with pytest.raises(ValueError, match="n_boot"):
        bootstrap_ci(study, accuracy, n_boot=0)
    with pytest.raises(ValueError, match="level"):
        bootstrap_ci(study, accuracy, level=0)
    with pytest.raises(ValueError, match="every bootstrap draw"):
        bootstrap_ci(study, lambda table: np.nan, n_boot=10)


def test_stats_module_does_not_import_django():
    # Loaded as a lone file: the ecgstudy package itself sets up Celery and Django.
    path = Path(__file__).resolve().parents[2] / "ecgstudy" / "analysis" / "stats.py"
    code = (
        "import importlib.util, sys; "
        f"spec = importlib.util.spec_from_file_location('stats', {str(path)!r}); "
        "module = sys.modules['stats'] = importlib.util.module_from_spec(spec); "
        "spec.loader.exec_module(module); "
        "sys.exit(any(m.split('.')[0] in ('django', 'ecgstudy') for m in sys.modules))"
    )
    assert subprocess.run([sys.executable, "-c", code], check=False).returncode == 0

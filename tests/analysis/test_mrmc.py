"""ecgstudy.analysis.mrmc against the published Van Dyke analysis and hand checks."""

from pathlib import Path

import numpy as np
import pytest
from scipy import stats as scipy_stats

from ecgstudy.analysis.mrmc import or_hillis, pairwise_bootstrap

VAN_DYKE = Path(__file__).parent / "data" / "vandyke.lrc"

# RJafroc (Chakraborty), StSignificanceTesting(dataset02, FOM = "Wilcoxon",
# method = "OR", analysisOption = "RRRC"), as printed in its book chapter
# "Illustrations of the OR method"; the F, df, p and CI are also those of MRMCaov's
# VanDyke example (Smith & Hillis).
PUBLISHED_FOMS = [
    [0.91964573, 0.85877617, 0.90386473, 0.97310789, 0.82979066],
    [0.94782609, 0.90531401, 0.92173913, 0.99935588, 0.92995169],
]
PUBLISHED_MEANS = [0.89703704, 0.94083736]


def to_1e6(value: float):
    """Equal to 1e-6, or to 1e-6 relative for values published to 7 digits (df)."""
    return pytest.approx(value, rel=1e-6, abs=1e-6)


def read_lrc(path: Path) -> tuple[dict, dict, dict]:
    """Ratings, case ids and truth of a two-modality LABMRMC (.lrc) file.

    The file opens with a title line; the first reader id, the modality-name line
    and an "L L" line (larger rating = more likely positive) follow. Each reader
    block lists "rating_mod0<TAB>rating_mod1<TAB>case" lines for the negative
    cases, a "*", the positive cases and a "*"; "#" ends the file.
    """
    ratings: dict = {0: {}, 1: {}}
    case_ids: dict = {0: None, 1: None}
    truth: dict = {}
    reader, positive, rows = None, False, {}
    for line in path.read_text().splitlines()[1:]:
        fields = line.rstrip("\t").split("\t")
        if line == "#":
            break
        if line == "*":
            positive = not positive
        elif len(fields) == 1:
            reader, positive = fields[0], False
            rows[reader] = []
        elif len(fields) == 3 and all(f.lstrip("-").isdigit() for f in fields):
            first, second, case = (int(f) for f in fields)
            rows[reader].append((first, second, case))
            truth[case] = positive
    for reader, block in rows.items():
        block = np.array(block)  # (C, 3)
        ratings[0][reader] = block[:, 0].astype(float)
        ratings[1][reader] = block[:, 1].astype(float)
        case_ids[0] = case_ids[1] = block[:, 2].tolist()
    return ratings, case_ids, truth


@pytest.fixture(scope="module")
def van_dyke():
    return read_lrc(VAN_DYKE)


@pytest.fixture(scope="module")
def van_dyke_result(van_dyke):
    return or_hillis(*van_dyke)


def brute_auc(negatives: np.ndarray, positives: np.ndarray) -> float:
    """Mann-Whitney over every (negative, positive) pair, ties counting a half."""
    wins = 0.0
    for x in negatives:
        for y in positives:
            wins += 1.0 if y > x else 0.5 if y == x else 0.0
    return wins / (len(negatives) * len(positives))


def brute_leave_one_out(scores, positive) -> np.ndarray:
    """AUC with each case dropped in turn, recomputed from scratch."""
    keep = np.ones(len(scores), dtype=bool)
    dropped = []
    for k in range(len(scores)):
        keep[:] = True
        keep[k] = False
        s, p = scores[keep], positive[keep]
        dropped.append(brute_auc(s[~p], s[p]))
    return np.array(dropped)


def simulated_arm(rng, n_negative, n_positive, n_readers, shift):
    """Ordinal ratings driven by a case effect, so readers' errors correlate."""
    case_effect = np.r_[np.zeros(n_negative), np.full(n_positive, shift)]
    case_effect = case_effect + rng.normal(0, 0.8, case_effect.size)
    latent = case_effect + rng.normal(0, 0.7, (n_readers, case_effect.size))
    return np.clip(np.round(latent + 3), 1, 5)  # (R, C)


# Van Dyke: the published analysis


def test_van_dyke_file_holds_5_readers_and_69_negative_45_positive_cases(van_dyke):
    ratings, case_ids, truth = van_dyke
    assert list(ratings[0]) == ["0", "1", "2", "3", "4"]
    assert case_ids[0] == list(range(114))
    assert sum(not truth[c] for c in case_ids[0]) == 69
    assert sum(truth[c] for c in case_ids[0]) == 45


def test_van_dyke_per_reader_aucs_match_brute_force_and_published(
    van_dyke, van_dyke_result
):
    ratings, case_ids, truth = van_dyke
    positive = np.array([truth[c] for c in case_ids[0]])
    for i, treatment in enumerate((0, 1)):
        for j, reader in enumerate(ratings[treatment]):
            scores = ratings[treatment][reader]
            expected = brute_auc(scores[~positive], scores[positive])
            assert van_dyke_result.foms[i, j] == pytest.approx(expected, abs=1e-12)
    assert van_dyke_result.foms == to_1e6(np.array(PUBLISHED_FOMS))


def test_van_dyke_treatment_means_match_published(van_dyke_result):
    assert van_dyke_result.treatment_means == to_1e6(np.array(PUBLISHED_MEANS))
    assert van_dyke_result.n_cases == 114


def test_van_dyke_rrrc_test_and_interval_match_published(van_dyke_result):
    result = van_dyke_result
    assert result.f_statistic == to_1e6(4.456319)
    assert result.df_numerator == 1
    assert result.df_denominator == to_1e6(15.25967)
    assert result.p_value == to_1e6(0.05166569)
    (difference,) = result.differences
    assert (difference.first, difference.second) == (0, 1)
    assert difference.estimate == to_1e6(-0.043800322)
    assert difference.standard_error == to_1e6(0.020748618)
    assert difference.ci[0] == to_1e6(-0.0879595)
    assert difference.ci[1] == to_1e6(0.0003588544)
    assert difference.p_value == to_1e6(0.05166569)


def test_van_dyke_variance_components_match_published(van_dyke_result):
    result = van_dyke_result
    assert result.var == to_1e6(0.00080228827)
    assert result.cov1 == to_1e6(0.00034661371)
    assert result.cov2 == to_1e6(0.00034407483)
    assert result.cov3 == to_1e6(0.00023902837)
    assert result.ms_t == to_1e6(0.0047961705)
    assert result.ms_tr == to_1e6(0.00055103062)
    # the same to 9 significant digits, so a wrong jackknife factor would show
    assert result.var == pytest.approx(0.00080228827, rel=1e-7)
    assert result.cov3 == pytest.approx(0.00023902837, rel=1e-7)


def test_van_dyke_single_treatment_intervals_match_published(van_dyke_result):
    first, second = van_dyke_result.per_treatment
    assert first.standard_error == to_1e6(0.033173597)
    assert first.df == to_1e6(12.744648)
    assert first.ci == (to_1e6(0.82522360), to_1e6(0.96885048))
    assert first.ms_r == to_1e6(0.0030826287)
    assert first.cov2 == to_1e6(0.00048396180)
    assert second.standard_error == to_1e6(0.021566368)
    assert second.df == to_1e6(12.710190)
    assert second.ci == (to_1e6(0.89413783), to_1e6(0.98753689))
    assert second.var == to_1e6(0.00059047376)


def test_van_dyke_delong_covariance_matches_structural_components(van_dyke):
    ratings, case_ids, truth = van_dyke
    result = or_hillis(*van_dyke, covariance="delong")
    positive = np.array([truth[c] for c in case_ids[0]])

    def components(scores):
        x, y = scores[~positive], scores[positive]
        psi = (y[None, :] > x[:, None]) + 0.5 * (y[None, :] == x[:, None])
        return psi.mean(axis=1), psi.mean(axis=0)  # V01 (n0,), V10 (n1,)

    v01_a, v10_a = components(ratings[0]["2"])
    v01_b, v10_b = components(ratings[1]["2"])
    expected = (
        np.cov(v10_a, v10_b)[0, 1] / v10_a.size
        + np.cov(v01_a, v01_b)[0, 1] / v01_a.size
    )
    assert result.covariance[0, 2, 1, 2] == pytest.approx(expected, rel=1e-12)
    assert result.foms == pytest.approx(np.array(PUBLISHED_FOMS), abs=1e-6)
    # DeLong and the jackknife agree closely on a sample this size
    assert result.f_statistic == pytest.approx(4.456319, rel=0.02)


# Designs: jackknife over the union of case ids


def test_closed_form_jackknife_equals_refitting_without_each_case():
    rng = np.random.default_rng(3)
    arm = simulated_arm(rng, 12, 9, 3, shift=1.5)  # (R, C)
    ids = list(range(21))
    truth = {c: c >= 12 for c in ids}
    result = or_hillis(
        {"a": dict(enumerate(arm)), "b": dict(enumerate(arm[::-1]))},
        {"a": ids, "b": ids},
        truth,
    )
    positive = np.array([truth[c] for c in ids])
    m = len(ids)
    dropped = np.array([brute_leave_one_out(scores, positive) for scores in arm])
    deviations = dropped - dropped.mean(axis=1, keepdims=True)  # (R, C)
    expected = (m - 1) / m * deviations @ deviations.T  # (R, R)
    assert result.covariance[0, :, 0, :] == pytest.approx(expected, abs=1e-15)
    assert result.covariance[0, :, 1, ::-1] == pytest.approx(expected, abs=1e-15)


def test_nested_design_has_no_cross_treatment_covariance_and_matches_each_arm():
    rng = np.random.default_rng(7)
    n_readers = 4
    arms = {
        "real-vs-A": simulated_arm(rng, 15, 12, n_readers, shift=1.0),
        "real-vs-B": simulated_arm(rng, 11, 14, n_readers, shift=2.0),
    }
    case_ids = {
        "real-vs-A": [f"a{k}" for k in range(27)],
        "real-vs-B": [f"b{k}" for k in range(25)],
    }
    truth = {f"a{k}": k >= 15 for k in range(27)} | {
        f"b{k}": k >= 11 for k in range(25)
    }
    ratings = {t: dict(enumerate(arm)) for t, arm in arms.items()}
    result = or_hillis(ratings, case_ids, truth)

    assert result.n_cases == 52
    assert result.cov1 == 0.0
    assert result.cov3 == 0.0
    assert np.all(result.covariance[0, :, 1, :] == 0.0)

    # By hand: each arm's own leave-one-out jackknife over its own m cases.
    variances, reader_covariances, foms = [], [], []
    for treatment, arm in arms.items():
        positive = np.array([truth[c] for c in case_ids[treatment]])
        m = positive.size
        foms.append([brute_auc(s[~positive], s[positive]) for s in arm])
        dropped = np.array([brute_leave_one_out(s, positive) for s in arm])
        deviations = dropped - dropped.mean(axis=1, keepdims=True)
        cov = (m - 1) / m * deviations @ deviations.T  # (R, R)
        variances.extend(np.diag(cov))
        reader_covariances.extend(cov[~np.eye(n_readers, dtype=bool)])
    foms = np.array(foms)
    var, cov2 = np.mean(variances), np.mean(reader_covariances)
    assert result.foms == pytest.approx(foms, abs=1e-12)
    assert result.var == pytest.approx(var, rel=1e-12)
    assert result.cov2 == pytest.approx(cov2, rel=1e-12)

    interaction = foms - foms.mean(1, keepdims=True) - foms.mean(0) + foms.mean()
    ms_tr = np.sum(interaction**2) / (n_readers - 1)
    ms_t = n_readers * np.sum((foms.mean(1) - foms.mean()) ** 2)
    error = ms_tr + n_readers * max(cov2, 0.0)
    assert result.f_statistic == pytest.approx(ms_t / error, rel=1e-10)
    assert result.df_denominator == pytest.approx(
        error**2 / (ms_tr**2 / (n_readers - 1)), rel=1e-10
    )

    for i, treatment in enumerate(arms):
        alone = or_hillis(
            {treatment: ratings[treatment]}, {treatment: case_ids[treatment]}, truth
        )
        joint, own = result.per_treatment[i], alone.per_treatment[0]
        assert joint.n_cases == own.n_cases == len(case_ids[treatment])
        for field in ("estimate", "standard_error", "df", "var", "cov2"):
            assert getattr(joint, field) == pytest.approx(getattr(own, field))
        assert joint.ci == pytest.approx(own.ci)


def test_shared_negatives_design_correlates_arms_only_through_shared_cases():
    rng = np.random.default_rng(11)
    n_readers, n_real, n_a, n_b = 5, 20, 15, 12
    real = simulated_arm(rng, n_real, 0, n_readers, shift=0.0)  # (R, n_real)
    synthetic_a = simulated_arm(rng, 0, n_a, n_readers, shift=1.2)
    synthetic_b = simulated_arm(rng, 0, n_b, n_readers, shift=2.0)
    real_ids = [f"real{k}" for k in range(n_real)]
    case_ids = {
        "A": real_ids + [f"A{k}" for k in range(n_a)],
        "B": real_ids + [f"B{k}" for k in range(n_b)],
    }
    truth = {c: not c.startswith("real") for ids in case_ids.values() for c in ids}
    ratings = {
        "A": dict(enumerate(np.hstack([real, synthetic_a]))),
        "B": dict(enumerate(np.hstack([real, synthetic_b]))),
    }
    result = or_hillis(ratings, case_ids, truth)

    assert result.n_cases == n_real + n_a + n_b
    # the same readers rated the same real ECGs in both arms
    assert 0 < result.cov1 < result.var
    assert 0 <= result.p_value <= 1
    assert result.df_denominator > 0
    (difference,) = result.differences
    assert difference.ci[0] < difference.estimate < difference.ci[1]
    assert difference.estimate == pytest.approx(
        result.treatment_means[0] - result.treatment_means[1]
    )
    for estimate in result.per_treatment:
        assert 0 <= estimate.ci[0] < estimate.estimate < estimate.ci[1]

    # The cross-arm covariance comes from the shared negatives alone.
    m_a, m_b = n_real + n_a, n_real + n_b
    positive_a = np.array([truth[c] for c in case_ids["A"]])
    positive_b = np.array([truth[c] for c in case_ids["B"]])
    dropped_a = brute_leave_one_out(ratings["A"][0], positive_a)
    dropped_b = brute_leave_one_out(ratings["B"][1], positive_b)
    shared = (dropped_a - dropped_a.mean())[:n_real] @ (dropped_b - dropped_b.mean())[
        :n_real
    ]
    expected = np.sqrt((m_a - 1) / m_a * (m_b - 1) / m_b) * shared
    assert result.covariance[0, 0, 1, 1] == pytest.approx(expected, rel=1e-10)


def test_identical_arms_on_shared_negatives_differ_by_nothing():
    rng = np.random.default_rng(5)
    arm = simulated_arm(rng, 10, 8, 3, shift=1.5)
    case_ids = {
        "A": [f"r{k}" for k in range(10)] + [f"a{k}" for k in range(8)],
        "B": [f"r{k}" for k in range(10)] + [f"b{k}" for k in range(8)],
    }
    truth = {c: c[0] != "r" for ids in case_ids.values() for c in ids}
    ratings = {"A": dict(enumerate(arm)), "B": dict(enumerate(arm))}
    result = or_hillis(ratings, case_ids, truth)
    assert result.differences[0].estimate == 0.0
    assert result.f_statistic == 0.0
    assert result.p_value == pytest.approx(1.0)


# Proportion correct, by hand


def test_proportion_correct_matches_hand_computation():
    ratings = {
        "A": {"r1": [1, 1, 0, 1], "r2": [1, 0, 0, 1]},
        "B": {"r1": [1, 1, 1, 1], "r2": [0, 0, 1, 1]},
    }
    cases = ["c1", "c2", "c3", "c4"]
    result = or_hillis(
        ratings, {"A": cases, "B": cases}, figure_of_merit="proportion_correct"
    )
    # FOMs [[.75, .5], [1, .5]]; covariance of two proportions over the same 4
    # cases is sum (x - x_bar)(y - y_bar) / (4 * 3).
    assert result.foms == pytest.approx(np.array([[0.75, 0.5], [1.0, 0.5]]))
    assert result.treatment_means == pytest.approx([0.625, 0.75])
    assert result.ms_t == pytest.approx(1 / 64)
    assert result.ms_tr == pytest.approx(1 / 64)
    assert result.var == pytest.approx(11 / 192)
    assert result.cov1 == pytest.approx(0.0, abs=1e-15)
    assert result.cov2 == pytest.approx(1 / 48)
    assert result.cov3 == pytest.approx(-1 / 48)
    # error term 1/64 + 2 * (1/48 + 1/48) = 19/192
    assert result.f_statistic == pytest.approx(3 / 19)
    assert result.df_denominator == pytest.approx((19 / 3) ** 2)
    assert result.p_value == pytest.approx(scipy_stats.f.sf(3 / 19, 1, (19 / 3) ** 2))
    (difference,) = result.differences
    assert difference.estimate == pytest.approx(-0.125)
    assert difference.standard_error == pytest.approx(np.sqrt(19 / 192))


def test_single_treatment_gives_its_interval_and_no_f_test(van_dyke):
    ratings, case_ids, truth = van_dyke
    result = or_hillis({0: ratings[0]}, {0: case_ids[0]}, truth)
    assert np.isnan(result.f_statistic)
    assert np.isnan(result.cov1)
    assert result.differences == ()
    assert result.per_treatment[0].ci == (to_1e6(0.82522360), to_1e6(0.96885048))


# Bad input


def tiny_design():
    cases = ["n1", "n2", "p1", "p2"]
    truth = {"n1": False, "n2": False, "p1": True, "p2": True}
    ratings = {
        "A": {"r1": [1, 2, 3, 4], "r2": [2, 1, 4, 3]},
        "B": {"r1": [1, 3, 2, 4], "r2": [1, 2, 3, 3]},
    }
    return ratings, {"A": cases, "B": list(cases)}, truth


def test_reader_missing_a_treatment_is_rejected():
    ratings, case_ids, truth = tiny_design()
    del ratings["B"]["r2"]
    with pytest.raises(ValueError, match="treatment 'B' lacks readers \\['r2'\\]"):
        or_hillis(ratings, case_ids, truth)


def test_treatment_without_two_positive_cases_is_rejected():
    ratings, case_ids, truth = tiny_design()
    truth = dict(truth, p1=False, p2=False)
    with pytest.raises(ValueError, match="0 positive and 4 negative"):
        or_hillis(ratings, case_ids, truth)


def test_ratings_of_the_wrong_length_are_rejected():
    ratings, case_ids, truth = tiny_design()
    ratings["A"]["r1"] = [1, 2, 3]
    with pytest.raises(ValueError, match="shape \\(3,\\).*expected \\(4,\\)"):
        or_hillis(ratings, case_ids, truth)


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda r, c, t: r["A"].update(r1=[1, np.nan, 3, 4]), "NaN"),
        (lambda r, c, t: t.pop("p2"), "truth lacks case"),
        (lambda r, c, t: c["B"].append("n1"), "lists a case id twice"),
        (lambda r, c, t: c.pop("B"), "same treatments"),
        (lambda r, c, t: [r[k].pop("r2") for k in r], "at least 2 readers"),
    ],
)
def test_malformed_input_is_rejected(change, message):
    ratings, case_ids, truth = tiny_design()
    change(ratings, case_ids, truth)
    with pytest.raises(ValueError, match=message):
        or_hillis(ratings, case_ids, truth)


def test_bad_options_are_rejected():
    ratings, case_ids, truth = tiny_design()
    with pytest.raises(ValueError, match="figure_of_merit must be one of"):
        or_hillis(ratings, case_ids, truth, figure_of_merit="sensitivity")
    with pytest.raises(ValueError, match="DeLong covariance is defined for the AUC"):
        or_hillis(
            ratings, case_ids, figure_of_merit="proportion_correct", covariance="delong"
        )
    with pytest.raises(ValueError, match="0/1"):
        or_hillis(ratings, case_ids, figure_of_merit="proportion_correct")
    with pytest.raises(ValueError, match="needs truth"):
        or_hillis(ratings, case_ids)


# Two-way bootstrap of a pairwise difference


def test_pairwise_bootstrap_is_seeded_and_brackets_the_difference(
    van_dyke, van_dyke_result
):
    first = pairwise_bootstrap(*van_dyke, first=0, second=1, n_boot=300, seed=4)
    again = pairwise_bootstrap(*van_dyke, first=0, second=1, n_boot=300, seed=4)
    other = pairwise_bootstrap(*van_dyke, first=0, second=1, n_boot=300, seed=5)
    assert first == again
    assert first != other
    assert first.estimate == to_1e6(-0.043800322)
    assert first.low < first.estimate < first.high
    assert first.n_undefined == 0
    # The pigeonhole bootstrap errs wide; it stays in the OR interval's range.
    or_width = np.diff(van_dyke_result.differences[0].ci)[0]
    assert 0.5 * or_width < first.high - first.low < 3 * or_width


def test_pairwise_bootstrap_of_proportion_correct_on_shared_cases():
    rng = np.random.default_rng(2)
    shared = [f"real{k}" for k in range(20)]
    case_ids = {"A": shared + ["a1", "a2"], "B": shared + ["b1", "b2", "b3"]}
    ratings = {
        t: {r: rng.integers(0, 2, len(ids)) for r in ("r1", "r2", "r3")}
        for t, ids in case_ids.items()
    }
    result = pairwise_bootstrap(
        ratings,
        case_ids,
        first="B",
        second="A",
        figure_of_merit="proportion_correct",
        n_boot=200,
        seed=0,
    )
    means = {t: np.mean([v.mean() for v in ratings[t].values()]) for t in ratings}
    assert result.estimate == pytest.approx(means["B"] - means["A"])
    assert result.low <= result.estimate <= result.high
    with pytest.raises(ValueError, match="'C' is not a treatment"):
        pairwise_bootstrap(
            ratings,
            case_ids,
            first="C",
            second="A",
            figure_of_merit="proportion_correct",
        )

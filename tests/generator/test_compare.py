"""Voltage figures and other generators' published ECGs, side by side."""

import numpy as np
import pytest

from generator.compare import format_table, load_array_set
from generator.ecg import LEADS, canonicalize, expand_to_12, reduce_to_8
from generator.evaluate import amplitude_report, spectrum_distance
from tests.signals import synthetic_ecg

ANCHOR_ORDER = [
    "I",
    "II",
    "V1",
    "V2",
    "V3",
    "V4",
    "V5",
    "V6",
    "III",
    "aVR",
    "aVL",
    "aVF",
]


def ecgs(n: int) -> np.ndarray:
    return np.stack(
        [
            expand_to_12(reduce_to_8(synthetic_ecg(100, seed=k, heart_rate=60 + 5 * k)))
            for k in range(n)
        ]
    )


def test_half_the_voltage_reads_as_a_ratio_of_one_half_in_every_lead():
    real = ecgs(6)
    report = amplitude_report(real, 0.5 * real)
    assert set(report["rms_ratio"]) == set(LEADS)
    assert all(v == pytest.approx(0.5, abs=0.001) for v in report["rms_ratio"].values())
    # resampling both sets: an interval around the ratio, never a point
    for low, high in report["rms_ratio_ci"].values():
        assert low < 0.5 < high
    assert report["rms_real_mv"]["II"] == pytest.approx(
        2 * report["rms_synthetic_mv"]["II"], rel=1e-3
    )
    assert report["near_flat_real"] == 0
    flat = amplitude_report(real, 0.01 * real)
    assert flat["near_flat_synthetic"] == 1.0


def test_the_voltage_ratio_within_a_rhythm_is_not_swayed_by_the_rhythm_mix():
    from generator.evaluate import rms_ratio_by_rhythm

    sinus, fibrillating = ecgs(3), 3 * ecgs(3)  # AF three times the voltage
    real = np.concatenate([sinus, sinus, fibrillating[:1]])  # 6 SR, 1 AF
    synthetic = np.concatenate([sinus, fibrillating])  # 3 SR, 3 AF
    real_rhythms, synthetic_rhythms = ["SR"] * 6 + ["AF"], ["SR"] * 3 + ["AF"] * 3
    mixed = amplitude_report(real, synthetic)["rms_ratio"]
    assert mixed["II"] > 1.1  # the mix alone reads as too much voltage
    found = rms_ratio_by_rhythm(real, real_rhythms, synthetic, synthetic_rhythms)
    assert found["SR"]["n_real"] == 6 and found["AF"]["n_synthetic"] == 3
    assert all(
        v == pytest.approx(1, abs=1e-3) for v in found["SR"]["rms_ratio"].values()
    )
    half = rms_ratio_by_rhythm(real, real_rhythms, 0.5 * synthetic, synthetic_rhythms)
    assert half["SR"]["rms_ratio"]["aVF"] == pytest.approx(0.5, abs=1e-3)
    only_sr = rms_ratio_by_rhythm(real, real_rhythms, sinus, ["SR"] * 3)
    assert list(only_sr) == ["SR"]  # a rhythm one set lacks has no ratio


def test_the_voltage_taught_is_set_beside_the_voltage_judged():
    from generator.evaluate import EcgSet, taught_voltage

    def ecg_set(signals, rhythms):
        n = len(rhythms)
        return EcgSet(signals, rhythms, [None] * n, [str(k) for k in range(n)])

    sinus = ecgs(4)
    test = ecg_set(sinus, ["SR"] * 4)
    train = ecg_set(np.concatenate([1.2 * sinus, 1.2 * sinus]), ["SR"] * 8)
    faithful = ecg_set(1.2 * sinus, ["SR"] * 4)  # draws what train holds
    taught = taught_voltage(train, test, faithful)
    # a training set 1.2 times test's voltage: a faithful generator reads 1.2
    # against test, and 1.0 against what it was taught
    assert all(
        v == pytest.approx(1.2, abs=1e-3)
        for v in taught["train_vs_test"]["rms_ratio"].values()
    )
    assert taught["train_vs_test"]["by_rhythm"]["SR"]["n_real"] == 4
    within = taught["synthetic_vs_train"]["by_rhythm"]["SR"]
    assert within["n_real"] == 8 and within["n_synthetic"] == 4
    assert all(v == pytest.approx(1.0, abs=1e-3) for v in within["rms_ratio"].values())
    short = taught_voltage(train, test, ecg_set(0.9 * sinus, ["SR"] * 4))
    ratio = short["synthetic_vs_train"]["by_rhythm"]["SR"]["rms_ratio"]["V2"]
    assert ratio == pytest.approx(0.75, abs=1e-3)


def test_a_faithful_generator_shows_whether_the_voltage_window_is_in_reach():
    from generator.evaluate import EcgSet, faithful_voltage

    def ecg_set(signals, rhythms):
        n = len(rhythms)
        return EcgSet(signals, rhythms, [None] * n, [str(k) for k in range(n)])

    one = ecgs(1)
    sinus = np.repeat(one, 6, axis=0)  # every patient alike: no sampling spread
    train = ecg_set(np.concatenate([sinus, 3 * sinus]), ["SR"] * 6 + ["AF"] * 6)
    test = ecg_set(sinus[:4], ["SR"] * 4)

    # asked for sinus rhythm, it draws the sinus patients: 1.0 in every draw
    asked_sr = faithful_voltage(train, test, ["SR"] * 5, n_draws=200)
    assert asked_sr["in_window"] == 1.0
    assert asked_sr["rms_ratio_range"]["V2"] == [1.0, 1.0]
    # asked for AF, it draws AF patients of three times the voltage: never in
    asked_af = faithful_voltage(train, test, ["AF"] * 5, n_draws=200)
    assert asked_af["in_window"] == 0.0
    assert asked_af["rms_ratio_range"]["II"] == pytest.approx([3.0, 3.0])
    # a rhythm train lacks is drawn from all of it: half 1x, half 3x
    asked_other = faithful_voltage(train, test, ["other"] * 40, n_draws=200)
    low, high = asked_other["rms_ratio_range"]["I"]
    assert low == pytest.approx(1.0) and high == pytest.approx(3.0)
    assert 0.2 < asked_other["in_window"] < 0.8

    # patients whose voltages spread by a factor 2 either way, against a test
    # set of their median: the window is reached only some of the time
    spread = np.concatenate([f * one for f in np.geomspace(0.5, 2, 41)])
    varied = ecg_set(spread, ["SR"] * 41)
    reach = faithful_voltage(varied, ecg_set(one, ["SR"]), ["SR"] * 10, n_draws=400)
    assert 0.05 < reach["in_window"] < 0.95
    low, high = reach["rms_ratio_range"]["aVF"]
    assert low < 0.9 and high > 1.1


def test_the_spectrum_distance_is_also_given_below_the_display_band():
    real = ecgs(6)
    same = spectrum_distance(real, real, 100)
    assert same["mean"] == 0 and same["mean_below_display"] == 0
    louder = spectrum_distance(real, 2 * real, 100)
    # a factor 2 in amplitude is 4 in power: log10(4) at every frequency
    assert louder["mean_below_display"] == pytest.approx(np.log10(4), rel=0.01)


def test_an_array_file_in_another_lead_order_is_read_into_canonical_form(tmp_path):
    canonical = ecgs(3)
    shuffled = canonical[:, [LEADS.index(lead) for lead in ANCHOR_ORDER]]
    np.save(tmp_path / "set.npy", shuffled.astype(np.float32))
    loaded = load_array_set(tmp_path / "set.npy", leads=ANCHOR_ORDER, name="anchor")
    expected = np.stack([canonicalize(x, 100) for x in canonical])
    np.testing.assert_allclose(loaded.signals, expected, atol=1e-5)
    assert loaded.ids == ["anchor-0", "anchor-1", "anchor-2"]
    np.savez(tmp_path / "set.npz", signals=shuffled)
    assert len(load_array_set(tmp_path / "set.npz", leads=ANCHOR_ORDER)) == 3


@pytest.mark.parametrize(
    ("content", "leads", "message"),
    [
        (np.zeros((2, 8, 1000)), LEADS, r"expected \(n, 12, samples\)"),
        (np.zeros((2, 12, 1000)), [*LEADS[:11], "I"], "12 standard leads"),
        (np.zeros((2, 12, 300)), LEADS, "too short"),
    ],
)
def test_a_bad_array_file_is_a_clear_error(tmp_path, content, leads, message):
    np.save(tmp_path / "bad.npy", content)
    with pytest.raises(ValueError, match=message):
        load_array_set(tmp_path / "bad.npy", leads=leads)
    with pytest.raises(ValueError, match="no such file"):
        load_array_set(tmp_path / "none.npy")
    np.savez(tmp_path / "x.npz", other=content)
    with pytest.raises(ValueError, match="'signals' array"):
        load_array_set(tmp_path / "x.npz")


def test_the_table_puts_every_set_in_a_column():
    row = {
        "n": 3,
        "two_sample_auc": 0.6,
        "spectrum_distance": 0.2,
        "spectrum_distance_below_display": 0.1,
        "near_flat_synthetic": 0.0,
        "rms_ratio": dict.fromkeys(LEADS, 0.9),
        "rms_ratio_ci": dict.fromkeys(LEADS, [0.8, 1.0]),
        "frontal_correlation_real": {"median": 0.48, "sd": 0.5},
        "frontal_correlation_synthetic": {"median": 0.55, "sd": 0.34},
        "qrs_beat_variation": 0.12,
        "qrs_beat_variation_real": 0.09,
    }
    sssd = row | {"two_sample_auc": None, "qrs_beat_variation": 0.44}
    text = format_table({"real val": row, "SSSD-ECG": sssd})
    assert "real val" in text and "SSSD-ECG" in text
    assert "RMS ratio aVF [95% CI]" in text and "0.90 [0.80-1.00]" in text
    assert "corr(I, aVF), real 0.48 (SD 0.50)" in text and "0.55 (SD 0.34)" in text
    change = next(line for line in text.splitlines() if "QRS change" in line)
    assert "real 0.090" in change and change.split()[-2:] == ["0.120", "0.440"]


def test_the_frontal_axis_reads_as_the_correlation_of_leads_i_and_avf():
    from generator.evaluate import frontal_correlation

    t = np.arange(1000) / 100
    beat = np.sin(2 * np.pi * 1.2 * t)
    alike = np.zeros((3, 12, 1000))
    alike[:, LEADS.index("I")] = beat
    alike[:, LEADS.index("aVF")] = 2 * beat + 0.3  # same shape, other size
    unlike = alike.copy()
    unlike[:, LEADS.index("aVF")] = -np.cos(2 * np.pi * 1.2 * t)  # a quarter off
    opposed = alike.copy()
    opposed[:, LEADS.index("aVF")] = -beat
    assert frontal_correlation(alike) == pytest.approx([1, 1, 1])
    assert frontal_correlation(unlike) == pytest.approx([0, 0, 0], abs=1e-9)
    assert frontal_correlation(opposed) == pytest.approx([-1, -1, -1])
    report = amplitude_report(alike, opposed)
    assert report["frontal_correlation_real"] == {"median": 1.0, "sd": 0.0}
    assert report["frontal_correlation_synthetic"]["median"] == -1.0

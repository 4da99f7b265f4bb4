"""The study report on simulated studies whose reader behaviour is known."""

import json

import numpy as np
import pytest

from ecgstudy.analysis.report import build_report, expected_codes
from tests.analysis.simulate import simulate


@pytest.fixture(scope="module")
def report():
    table, info = simulate(readers=12, cases=80, accuracy=0.6, repeats=10)
    return build_report(table, info, n_boot=400, seed=1)


def test_readers_at_60_percent_are_recovered_within_the_interval(report):
    pooled = report["detection"]["pooled"]
    low, high = pooled["bootstrap_ci"]["accuracy"]
    assert low < 0.6 < high
    assert low <= pooled["accuracy"] <= high
    assert pooled["exact_ci"][0] < 0.6 < pooled["exact_ci"][1]
    assert pooled["p_value"] < 1e-6  # 60% over 960 judgments is far from chance
    # More confident answers are right more often, as simulated.
    calibration = report["detection"]["calibration"]
    assert calibration[0]["accuracy"] < 0.5 < calibration[-1]["accuracy"]
    assert pooled["auc"] > 0.7


def test_synthetic_af_read_as_af_less_often_is_a_difference_with_its_interval(report):
    (af,) = [row for row in report["diagnosis"]["per_label"] if row["label"] == "AF"]
    assert af["real"]["rate"] == pytest.approx(0.9, abs=0.06)
    assert af["synthetic"]["rate"] == pytest.approx(0.7, abs=0.08)
    low, high = af["difference"]["bootstrap_ci"]
    assert low < 0.2 < high and low > 0
    (sr,) = [row for row in report["diagnosis"]["per_label"] if row["label"] == "SR"]
    assert sr["difference"]["estimate"] == 0


def test_chance_readers_do_not_agree_beyond_chance(report):
    between = report["agreement"]["answer"]["between_readers"]
    assert abs(between["fleiss_kappa"]) < 0.1
    assert abs(between["krippendorff_alpha"]) < 0.1
    assert between["n_complete_cases"] == 80
    assert len(between["pairwise_cohen"]) == 12 * 11 / 2
    within = report["agreement"]["answer"]["within_readers"]
    assert within["pooled"]["n"] == 120


def test_every_group_and_section_is_reported(report):
    detection = report["detection"]
    assert [row["reader"] for row in detection["per_reader"]][:2] == ["R00", "R01"]
    assert {row["site"] for row in detection["per_site"]} == {"Site A", "Site B"}
    assert len(detection["per_experience"]) == 2
    assert report["quality"]["real"]["n"] == 12 * 40
    assert report["time"]["synthetic"]["median"] > 0
    json.dumps(report, allow_nan=False)  # numbers only, no NaN


def test_perfect_and_identical_readers_give_perfect_figures():
    table, info = simulate(readers=4, cases=20, accuracy=1.0, repeats=4)
    table.confidence[:] = 5.0
    report = build_report(table, info, n_boot=100)
    pooled = report["detection"]["pooled"]
    assert pooled["accuracy"] == 1.0 and pooled["auc"] == 1.0
    assert pooled["bootstrap_ci"]["accuracy"] == [1.0, 1.0]
    between = report["agreement"]["answer"]["between_readers"]
    assert between["fleiss_kappa"] == pytest.approx(1.0)
    assert between["krippendorff_alpha"] == pytest.approx(1.0)
    assert between["gwet_ac1"] == pytest.approx(1.0)
    assert all(p["kappa"] == pytest.approx(1.0) for p in between["pairwise_cohen"])
    assert report["agreement"]["answer"]["within_readers"]["pooled"]["kappa"] == 1.0


def test_switched_off_questions_leave_their_sections_out():
    table, info = simulate(readers=3, cases=10, repeats=0)
    from dataclasses import replace

    info = replace(info, ask_diagnosis=False, ask_quality=False)
    report = build_report(table, info, n_boot=50)
    assert report["diagnosis"] is None and report["quality"] is None
    assert "diagnosis" not in report["agreement"]


def test_a_single_reader_gives_no_agreement_and_no_crash():
    table, info = simulate(readers=1, cases=10, repeats=0)
    report = build_report(table, info, n_boot=50)
    between = report["agreement"]["answer"]["between_readers"]
    assert between["fleiss_kappa"] is None and between["pairwise_cohen"] == []
    assert report["detection"]["pooled"]["bootstrap_ci"] == {}
    json.dumps(report, allow_nan=False)


def test_diagnosis_of_a_rhythm_no_option_names_is_scored_as_other():
    codes = ["SR", "AF", "other"]
    got = expected_codes(np.array(["AF", "SB", "SR"]), codes)
    assert got.tolist() == ["AF", "other", "SR"]
    assert expected_codes(np.array(["SB"]), ["SR", "AF"]).tolist() == [""]

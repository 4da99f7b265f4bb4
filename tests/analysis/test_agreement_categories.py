"""Gwet's AC1 counts every category a question offers, chosen or not.

Chance agreement in AC1 is sum(pi_k (1 - pi_k)) / (q - 1) over the q categories
of the question, so an option nobody picked still changes q. Two readers, four
cases, a diagnosis question with four options (SR, AF, AFL, other); nobody
answers AFL:

    case   reader 1   reader 2   agree
    c1     SR         SR         1
    c2     AF         AF         1
    c3     SR         other      0
    c4     AF         AF         1

Pa = 3/4. Prevalences, each the mean over the four cases of the share of the
case's two ratings in the category:
    SR    (1 + 0 + 1/2 + 0) / 4 = 3/8
    AF    (0 + 1 + 0 + 1) / 4   = 1/2
    AFL   0
    other (0 + 0 + 1/2 + 0) / 4 = 1/8
sum pi (1 - pi) = 3/8 * 5/8 + 1/2 * 1/2 + 0 + 1/8 * 7/8 = (15 + 16 + 7) / 64 = 19/32.
With q = 4: Pe = (19/32) / 3 = 19/96, AC1 = (3/4 - 19/96) / (1 - 19/96) = 53/77
= 0.688. Counting only the three codes chosen (q = 3), as the report did:
Pe = 19/64, AC1 = (3/4 - 19/64) / (1 - 19/64) = 29/45 = 0.644.

The real-or-synthetic question has two categories even when every answer is
"real": Pa = 1, p_real = 1, p_synthetic = 0, Pe = 0 / 1 = 0 and AC1 = 1; with the
one category seen it was undefined.
"""

import numpy as np
import pytest

from ecgstudy.analysis.exports import study_report
from ecgstudy.analysis.report import StudyInfo, StudyTable, build_report
from ecgstudy.studies.models import Assignment
from ecgstudy.studies.services import Answers, judgment_submit, study_launch
from tests.study_fixtures import make_study

OPTIONS = [
    ["SR", "Sinus rhythm"],
    ["AF", "Atrial fibrillation"],
    ["AFL", "Atrial flutter"],
    ["other", "Other"],
]
# Per case, in turn: (reader 1's diagnosis, reader 2's diagnosis).
PATTERN = [("SR", "SR"), ("AF", "AF"), ("SR", "other"), ("AF", "AF")]
DIAGNOSIS_AC1 = 53 / 77
TOO_FEW_CATEGORIES_AC1 = 29 / 45


def hand_built() -> tuple[StudyTable, StudyInfo]:
    rows = [
        (reader, f"c{case}", diagnosis)
        for case, pair in enumerate(PATTERN, start=1)
        for reader, diagnosis in zip(("R01", "R02"), pair, strict=True)
    ]
    n = len(rows)
    table = StudyTable(
        reader=np.array([r for r, _, _ in rows]),
        site=np.full(n, "Site A"),
        experience=np.full(n, "cardiologist"),
        case=np.array([c for _, c, _ in rows]),
        round=np.ones(n, dtype=int),
        synthetic=np.array([c in ("c2", "c4") for _, c, _ in rows]),
        rhythm=np.array(["SR", "AF", "SR", "AF"]).repeat(2),
        answer=np.full(n, "real"),
        confidence=np.full(n, 3.0),
        diagnosis=np.array([d for _, _, d in rows]),
        quality=np.full(n, "good"),
        seconds=np.full(n, 10.0),
    )
    info = StudyInfo(
        name="Hand-built",
        status="Launched",
        ask_origin=True,
        ask_confidence=True,
        confidence_levels=5,
        ask_diagnosis=True,
        diagnosis_options=OPTIONS,
        ask_quality=True,
        n_real=2,
        n_synthetic=2,
    )
    return table, info


def test_the_arithmetic_in_the_docstring():
    pa = 3 / 4
    spread = 3 / 8 * 5 / 8 + 1 / 2 * 1 / 2 + 0 + 1 / 8 * 7 / 8
    assert spread == 19 / 32
    for q, expected in ((4, DIAGNOSIS_AC1), (3, TOO_FEW_CATEGORIES_AC1)):
        pe = spread / (q - 1)
        assert (pa - pe) / (1 - pe) == pytest.approx(expected, abs=1e-12)
    assert (
        round(DIAGNOSIS_AC1, 3) == 0.688 and round(TOO_FEW_CATEGORIES_AC1, 3) == 0.644
    )


def test_the_report_counts_an_unused_diagnosis_option_in_gwets_ac1():
    table, info = hand_built()
    agreement = build_report(table, info, n_boot=20)["agreement"]
    diagnosis = agreement["diagnosis"]["between_readers"]
    assert diagnosis["categories"] == ["SR", "AF", "AFL", "other"]
    assert diagnosis["gwet_ac1"] == pytest.approx(DIAGNOSIS_AC1, abs=1e-12)
    origin = agreement["answer"]["between_readers"]
    assert origin["categories"] == ["real", "synthetic"]
    assert origin["gwet_ac1"] == pytest.approx(1.0)


def test_the_study_report_counts_an_unused_diagnosis_option_in_gwets_ac1(pool):
    study = study_launch(study=make_study(diagnosis_options=OPTIONS))
    counted = list(study.cases.filter(practice=False).order_by("pk"))
    assert len(counted) == 12  # the pattern three times: Pa and pi are unchanged
    first, second = study.participations.order_by("pk")
    for index, case in enumerate(counted):
        for participation, diagnosis in zip(
            (first, second), PATTERN[index % 4], strict=True
        ):
            for assignment in Assignment.objects.filter(
                participation=participation, case=case
            ):
                judgment_submit(
                    assignment=assignment,
                    answers=Answers(
                        origin="real", confidence=3, diagnosis=(diagnosis,)
                    ),
                )
    agreement = study_report(study=study, n_boot=20)["agreement"]
    diagnosis = agreement["diagnosis"]["between_readers"]
    assert diagnosis["n_complete_cases"] == 12
    assert diagnosis["gwet_ac1"] == pytest.approx(DIAGNOSIS_AC1, abs=1e-12)
    assert agreement["answer"]["between_readers"]["gwet_ac1"] == pytest.approx(1.0)

"""Designs beyond one ECG at a time, on the server: paired two-alternative forced
choice (pairing, launch errors, sides, stored choice, blinding) and time-limited
exposure (the sheet sent once, the staircase), and their analyses."""

import csv
import io
import math
import re

import numpy as np
import pytest
from django.core.exceptions import ValidationError
from django.urls import reverse

from ecgstudy.analysis.designs import (
    DesignTable,
    accuracy_by_exposure,
    design_report,
    paired_report,
    staircase_reversals,
    staircase_threshold,
    timed_report,
)
from ecgstudy.analysis.exports import judgments_csv, report_html, study_report
from ecgstudy.pool.models import Origin, Rhythm
from ecgstudy.studies.forms import StudyAdminForm
from ecgstudy.studies.models import (
    CaseQuota,
    Design,
    Judgment,
    Side,
    Study,
)
from ecgstudy.studies.ordering import pair_sides, pair_up, staircase_next
from ecgstudy.studies.services import participation_create, study_launch
from tests.factories import ReaderFactory
from tests.studies.test_reader_pages import (
    COUNTER,
    CSRF,
    SVG,
    WAVEFORM,
    forbidden_strings,
)
from tests.study_fixtures import make_study

PAIRED_ANSWER = {"choice": "left", "confidence": "4", "comment": ""}
TIMED_ANSWER = {"origin": "real", "confidence": "3", "diagnosis": "SR"}
TIMED_ANSWER |= {"quality": "good", "comment": ""}
EXPOSURE = re.compile(rb' data-exposure-ms="\d+"')


def case_url(assignment) -> str:
    return reverse("studies:case", args=[assignment.token])


def paired_study(**fields) -> Study:
    fields = {"design": Design.PAIRED_2AFC, "repeat_fraction": 0} | fields
    return study_launch(study=make_study(**fields))


def timed_study(**fields) -> Study:
    fields = {"design": Design.TIMED, "exposure_ms": 300, "repeat_fraction": 0}
    return study_launch(study=make_study(per_group=2, readers=1, **fields))


def strip(page: bytes, token: str) -> bytes:
    """A page without what may differ between cases: sheets, waveforms,
    counter, CSRF token and the assignment's token."""
    page = SVG.sub(b"<svg/>", WAVEFORM.sub(b"", page))
    page = CSRF.sub(b"", COUNTER.sub(b"", page))
    return page.replace(token.encode(), b"TOKEN")


# Pairing at launch ----------------------------------------------------------------


def test_each_synthetic_case_is_paired_with_a_real_case_of_its_rhythm(pool):
    study = paired_study(per_group=3, readers=2)
    pairs = list(study.pairs.select_related("real__record", "synthetic__record"))
    assert len(pairs) == 6  # 3 synthetic AF + 3 synthetic SR
    for pair in pairs:
        assert pair.real.record.origin == Origin.REAL
        assert pair.synthetic.record.origin == Origin.SYNTHETIC
        assert pair.real.record.rhythm == pair.synthetic.record.rhythm
    cases = [pair.real_id for pair in pairs] + [pair.synthetic_id for pair in pairs]
    assert sorted(cases) == sorted(study.cases.values_list("pk", flat=True))
    # The pairing is the seed's: a second study with the same seed pairs the same.
    again = paired_study(per_group=3, readers=0, name="again")
    records = {(p.real.record_id, p.synthetic.record_id) for p in pairs}
    assert records == {
        (p.real.record_id, p.synthetic.record_id)
        for p in again.pairs.select_related("real", "synthetic")
    }


def test_each_reader_reads_every_pair_once_and_each_ecg_in_one_pair(pool):
    study = paired_study(per_group=3, readers=2)
    for participation in study.participations.all():
        assignments = list(participation.assignments.select_related("pair"))
        assert sorted(a.pair_id for a in assignments) == sorted(
            study.pairs.values_list("pk", flat=True)
        )
        records = [a.pair.real_id for a in assignments]
        records += [a.pair.synthetic_id for a in assignments]
        assert len(records) == len(set(records)) == 12
        assert all(a.case_id == a.pair.synthetic_id for a in assignments)
        assert {a.real_side for a in assignments} <= {Side.LEFT, Side.RIGHT}


def test_a_paired_study_that_does_not_pair_up_is_refused_naming_the_shortage(pool):
    study = make_study(design=Design.PAIRED_2AFC, readers=1, per_group=2)
    CaseQuota.objects.filter(study=study, origin=Origin.REAL, rhythm=Rhythm.AF).update(
        count=1
    )
    with pytest.raises(ValidationError) as raised:
        study_launch(study=study)
    message = " ".join(raised.value.messages)
    assert "AF: 2 synthetic, 1 real" in message
    assert "SR" not in message.split("(")[1]
    study.refresh_from_db()
    assert study.is_draft and not study.cases.exists()
    assert not study.pairs.exists()


def test_a_paired_study_with_practice_cases_is_refused(pool):
    study = make_study(design=Design.PAIRED_2AFC, readers=1, practice_cases=1)
    with pytest.raises(ValidationError, match="no practice cases"):
        study_launch(study=study)


def test_pair_up_is_pure_and_names_every_label_short():
    pairs = pair_up({"AF": [1, 2], "SR": [3]}, {"AF": [10, 11], "SR": [12]}, seed=5)
    assert sorted(pairs) == sorted(
        pair_up({"AF": [1, 2], "SR": [3]}, {"AF": [10, 11], "SR": [12]}, seed=5)
    )
    assert {s for _, s in pairs} == {10, 11, 12} and (3, 12) in pairs
    with pytest.raises(ValueError, match=r"AF: 2 synthetic, 1 real; SR: 0 synthetic"):
        pair_up({"AF": [1], "SR": [3]}, {"AF": [10, 11]}, seed=5)


# Sides ---------------------------------------------------------------------------


def test_the_real_side_is_a_fair_coin_independent_of_the_order():
    sides = pair_sides(4000, seed=7)
    assert 0.47 < sides.count("left") / len(sides) < 0.53
    # No runs of one side: flips of consecutive pages are fair too.
    flips = sum(a != b for a, b in zip(sides, sides[1:], strict=False))
    assert 0.47 < flips / (len(sides) - 1) < 0.53
    assert pair_sides(50, seed=7) == sides[:50]
    assert pair_sides(50, seed=8) != sides[:50]


def test_the_side_of_the_real_ecg_does_not_follow_origin_or_rhythm(pool):
    study = make_study(design=Design.PAIRED_2AFC, readers=0, repeat_fraction=0)
    for index in range(30):
        participation_create(study=study, reader=ReaderFactory(), seed=1000 + index)
    study_launch(study=study)
    assignments = list(
        study.participations.first()
        .assignments.model.objects.filter(participation__study=study)
        .select_related("case__record")
    )
    assert len(assignments) == 30 * 6
    # 90 fair coins per rhythm: outside 30-70% left once in about 10,000 runs
    # (case ids, and so which pages the coins fall on, are random at each launch).
    for rhythm in (Rhythm.AF, Rhythm.SR):
        sides = [a.real_side for a in assignments if a.case.record.rhythm == rhythm]
        assert 0.3 <= sides.count(Side.LEFT) / len(sides) <= 0.7, rhythm
    # Per pair across readers too: no pair keeps its real ECG on one side.
    for pair in study.pairs.all():
        sides = [a.real_side for a in assignments if a.pair_id == pair.pk]
        assert {Side.LEFT, Side.RIGHT} <= set(sides)


# The paired page -------------------------------------------------------------------


@pytest.fixture
def paired_reading(client, pool):
    study = paired_study(per_group=3, readers=1)
    participation = study.participations.get()
    client.force_login(participation.reader.user)
    return client, study, list(participation.assignments.order_by("position"))


def test_paired_pages_are_the_same_bytes_but_sheets_token_and_counter(
    paired_reading,
):
    client, study, assignments = paired_reading
    stripped = set()
    for assignment in assignments:
        page = client.get(case_url(assignment)).content
        svgs = SVG.findall(page)
        assert len(svgs) == 2 and len(WAVEFORM.findall(page)) == 2
        # The sheets are drawn where the stored side says, each by the renderer.
        real = assignment.pair.real.record.sheet.read()
        synthetic = assignment.case.record.sheet.read()
        left, right = (
            (real, synthetic)
            if assignment.real_side == "left"
            else (
                synthetic,
                real,
            )
        )
        assert svgs[0] == SVG.search(left).group(0)
        assert svgs[1] == SVG.search(right).group(0)
        text = page.decode()
        for record_of in (assignment.case, assignment.pair.real):
            fake = type("A", (), {"case": record_of})
            for forbidden in forbidden_strings(fake):
                assert forbidden not in text
        assert "Which one is real?" in text
        assert 'data-key="f"' in text and 'data-key="j"' in text
        for question in ('name="origin"', 'name="diagnosis"', 'name="quality"'):
            assert question not in text
        stripped.add(strip(page, assignment.token))
        response = client.post(case_url(assignment), PAIRED_ANSWER)
        assert response.status_code == 302
    assert len(stripped) == 1
    sides = {a.real_side for a in assignments}
    assert sides == {"left", "right"}, "both sides occur in this fixed-seed study"


def test_the_choice_and_the_sides_are_stored(paired_reading):
    client, study, assignments = paired_reading
    first = assignments[0]
    client.post(case_url(first), {"choice": "right", "confidence": "2"})
    judgment = Judgment.objects.get()
    assert judgment.choice == "right" and judgment.confidence == 2
    assert judgment.origin == "" and judgment.diagnosis == []
    assert judgment.assignment.real_side in ("left", "right")
    # A choice is required; a question the paired page does not ask is refused.
    second = case_url(assignments[1])
    response = client.post(second, {"confidence": "2"}, follow=True)
    assert "Please answer this question." in response.content.decode()
    assert client.post(second, PAIRED_ANSWER | {"origin": "real"}).status_code == 400
    assert client.post(second, {"choice": "middle"}).status_code == 400
    assert Judgment.objects.count() == 1


def test_a_pair_whose_real_ecg_lost_its_files_is_skipped(paired_reading):
    client, study, assignments = paired_reading
    first = assignments[0]
    first.pair.real.record.sheet.storage.delete(first.pair.real.record.sheet.name)
    first.pair.real.record.signal.storage.delete(first.pair.real.record.signal.name)
    response = client.get(case_url(first))
    assert response.status_code == 302
    follow = client.get(response.url, follow=True)
    assert follow.redirect_chain[-1][0] == case_url(assignments[1])


# Time-limited exposure -------------------------------------------------------------


@pytest.fixture
def timed_reading(client, pool):
    study = timed_study()
    participation = study.participations.get()
    client.force_login(participation.reader.user)
    return client, study, list(participation.assignments.order_by("position"))


def test_a_timed_sheet_is_sent_once_and_never_again(timed_reading):
    client, study, assignments = timed_reading
    url = case_url(assignments[0])
    first = client.get(url).content
    assert SVG.search(first) and WAVEFORM.search(first)
    assert b'data-exposure-ms="300"' in first
    assert b"zoom" not in first.split(b'class="keys-legend"')[1][:400]  # no viewer
    assignments[0].refresh_from_db()
    assert assignments[0].sheet_served_at is not None
    assert assignments[0].exposure_ms == 300
    # A reload, and the page after a refused answer: the questions alone.
    for page in (
        client.get(url).content,
        client.post(url, {"origin": "real"}, follow=True).content,
    ):
        assert not SVG.search(page) and b"data-waveform" not in page
        assert b"shown for its set time" in page
        assert b'name="origin"' in page
    client.post(url, TIMED_ANSWER)
    judgment = Judgment.objects.get()
    assert judgment.exposure_ms == 300 and judgment.origin == "real"


def test_timed_pages_are_the_same_bytes_but_sheet_token_and_counter(timed_reading):
    client, study, assignments = timed_reading
    shown, hidden = set(), set()
    for assignment in assignments:
        url = case_url(assignment)
        shown.add(strip(client.get(url).content, assignment.token))
        hidden.add(strip(client.get(url).content, assignment.token))
        assert client.post(url, TIMED_ANSWER).status_code == 302
    assert len(shown) == 1 and len(hidden) == 1
    assert {a.case.record.origin for a in assignments} == {"real", "synthetic"}


def staircase_study() -> Study:
    """A staircase study of one reader: 6 practice cases, then 8 counted ones."""
    return study_launch(
        study=make_study(
            per_group=2,
            readers=1,
            design=Design.TIMED,
            staircase=True,
            exposure_ms=400,
            exposure_min_ms=100,
            exposure_max_ms=800,
            exposure_step=2,
            practice_cases=6,
            repeat_fraction=0,
        )
    )


def read_staircase(client, study: Study, answer) -> list[tuple]:
    """Read every case of the study's one reader, answering ``answer(assignment)``;
    (practice, truth, exposure shown) of each case in reading order."""
    participation = study.participations.get()
    client.force_login(participation.reader.user)
    seen = []
    for assignment in participation.assignments.order_by("position"):
        page = client.get(case_url(assignment)).content
        exposure = int(re.search(rb'data-exposure-ms="(\d+)"', page).group(1))
        truth = assignment.case.record.origin
        seen.append((assignment.case.practice, truth, exposure))
        origin = answer(assignment)
        response = client.post(case_url(assignment), TIMED_ANSWER | {"origin": origin})
        assert response.status_code == 302
    return seen


def test_the_staircase_moves_on_practice_answers_and_sets_the_counted_exposure(
    client, pool
):
    study = staircase_study()
    right = iter([True, True, True, False, False, True])

    def answer(assignment):
        truth = assignment.case.record.origin
        if not assignment.case.practice:
            return truth
        return truth if next(right) else ({"real", "synthetic"} - {truth}).pop()

    seen = read_staircase(client, study, answer)
    assert [practice for practice, _, _ in seen] == [True] * 6 + [False] * 8
    # 400 -> 200 -> 100 -> 100 (the floor) -> 200 -> 400; then 200 after the last
    # practice answer (right), for every counted case.
    assert [exposure for _, _, exposure in seen] == [400, 200, 100, 100, 200, 400] + [
        200
    ] * 8
    stored = Judgment.objects.order_by("assignment__position")
    assert [j.exposure_ms for j in stored] == [exposure for _, _, exposure in seen]
    design = study_report(study=study, n_boot=50, seed=0)["design"]
    (row,) = design["per_reader"]
    assert row["staircase"]["trials"] == 6
    assert row["staircase"]["counted_exposures_ms"] == [200]
    assert row["overall"]["n"] == 8 and row["overall"]["k"] == 8


def test_a_reader_who_always_answers_real_learns_nothing_from_the_exposure(
    client, pool
):
    """The attack: with a staircase on counted answers, answering "real" every time
    made the next exposure shorter after a real case and longer after a synthetic
    one, so the page told the reader each counted case's origin."""
    study = staircase_study()
    seen = read_staircase(client, study, lambda assignment: "real")
    counted = [(truth, exposure) for practice, truth, exposure in seen if not practice]
    assert {truth for truth, _ in counted} == {"real", "synthetic"}
    exposures = [exposure for _, exposure in counted]
    assert len(set(exposures)) == 1, counted
    # And the same whatever the truth of the case before or of the case itself.
    by_truth = {
        truth: {e for t, e in counted if t == truth} for truth in ("real", "synthetic")
    }
    assert by_truth["real"] == by_truth["synthetic"]


def test_a_staircase_study_without_enough_practice_is_not_launched(pool):
    study = make_study(
        per_group=2,
        readers=1,
        design=Design.TIMED,
        staircase=True,
        exposure_ms=400,
        practice_cases=5,
        repeat_fraction=0,
    )
    with pytest.raises(ValidationError) as raised:
        study_launch(study=study)
    message = " ".join(raised.value.messages)
    assert "practice cases only" in message and "at least 6" in message
    study.refresh_from_db()
    assert study.status == Study.Status.DRAFT


def test_staircase_next_clamps_and_refuses_a_factor_of_one():
    assert staircase_next(300, correct=True, factor=1.5, low=100, high=900) == 200
    assert staircase_next(300, correct=False, factor=1.5, low=100, high=900) == 450
    assert staircase_next(120, correct=True, factor=2, low=100, high=900) == 100
    assert staircase_next(800, correct=False, factor=2, low=100, high=900) == 900
    with pytest.raises(ValueError):
        staircase_next(300, correct=True, factor=1, low=100, high=900)


# Settings --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"staircase": True}, "staircase"),  # not a time-limited study
        ({"design": "timed", "staircase": True, "exposure_min_ms": 900}, "exposure_ms"),
        ({"design": "timed", "staircase": True, "exposure_step": 1}, "exposure_step"),
        ({"design": "timed", "exposure_ms": 10}, "exposure_ms"),
        ({"design": "timed", "staircase": True, "practice_cases": 5}, "practice_cases"),
        ({"design": "paired_2afc", "practice_cases": 2}, "practice_cases"),
    ],
)
def test_the_admin_form_refuses_inconsistent_design_settings(db, changes, field):
    data = {
        "name": "Timed",
        "ask_origin": "on",
        "confidence_levels": 5,
        "seed": 1,
        "repeat_fraction": 0,
        "practice_cases": 0,
        "audit_max_auc": 0.65,
        "design": "single",
        "exposure_ms": 500,
        "exposure_min_ms": 100,
        "exposure_max_ms": 2000,
        "exposure_step": 1.5,
    } | changes
    form = StudyAdminForm(data)
    assert not form.is_valid()
    assert field in form.errors, form.errors
    valid = StudyAdminForm(
        data
        | {"design": "timed", "staircase": False}
        | {"exposure_ms": 500, "practice_cases": 0, "exposure_step": 1.5}
    )
    assert valid.is_valid(), valid.errors


def test_design_settings_are_frozen_at_launch(researcher_client, pool):
    study = timed_study()
    url = reverse("admin:studies_study_change", args=[study.pk])
    page = researcher_client.get(url).content.decode()
    assert 'name="design"' not in page and 'name="exposure_ms"' not in page
    assert "Time-limited" in page


# Analyses on hand-made answers -------------------------------------------------------


def binomial_two_sided(k: int, n: int) -> float:
    """The exact two-sided p against 1/2, summed by hand (symmetric case)."""
    tail = min(k, n - k)
    return min(1.0, 2 * sum(math.comb(n, i) for i in range(tail + 1)) / 2**n)


def paired_table(per_reader: dict[str, list[bool]]) -> DesignTable:
    reader, item, correct = [], [], []
    for name, answers in per_reader.items():
        reader += [name] * len(answers)
        item += [f"pair{i}" for i in range(len(answers))]
        correct += answers
    n = len(reader)
    return DesignTable(
        design="paired_2afc",
        staircase=False,
        reader=np.array(reader),
        item=np.array(item),
        position=np.arange(n),
        correct=np.array(correct, dtype=bool),
        exposure_ms=np.full(n, np.nan),
        practice=np.zeros(n, dtype=bool),
    )


def test_paired_analysis_gives_the_exact_binomial_figures():
    table = paired_table({"R01": [True] * 8 + [False] * 2, "R02": [True, False] * 5})
    report = paired_report(table, n_boot=300, seed=1)
    first, second = report["per_reader"]
    assert first["rate"] == 0.8 and first["k"] == 8 and first["n"] == 10
    assert first["p_value"] == pytest.approx(0.109375, abs=1e-12)  # 112/1024
    # Clopper-Pearson for 8/10 (e.g. R binom.test): 0.4439045 to 0.9747893.
    assert first["exact_ci"] == pytest.approx([0.4439045, 0.9747893], abs=1e-6)
    assert second["rate"] == 0.5 and second["p_value"] == pytest.approx(1.0)
    pooled = report["pooled"]
    assert (pooled["k"], pooled["n"]) == (13, 20)
    assert pooled["p_value"] == pytest.approx(binomial_two_sided(13, 20), abs=1e-12)
    low, high = pooled["bootstrap_ci"]
    assert 0 <= low < 0.65 < high <= 1


def test_accuracy_by_exposure_and_the_staircase_threshold_by_hand():
    exposure = np.array([800, 400, 200, 100, 200, 100, 200, 400, 200, 400.0])
    correct = np.array([1, 1, 1, 0, 1, 0, 0, 1, 0, 1], dtype=bool)
    assert staircase_reversals(exposure, correct) == [3, 4, 5, 7, 8, 9]
    result = staircase_threshold(exposure, correct, last=4)
    # The exposures at the last four reversals: 100, 400, 200, 400.
    assert result["reversal_exposures_ms"] == [100, 400, 200, 400]
    assert result["threshold_ms"] == pytest.approx((100 * 400 * 200 * 400) ** 0.25)
    assert staircase_threshold(exposure[:4], correct[:4])["threshold_ms"] is None
    rows = accuracy_by_exposure(exposure, correct)
    assert [(r["exposure_ms"], r["k"], r["n"]) for r in rows] == [
        (100, 0, 2),
        (200, 2, 4),
        (400, 3, 3),
        (800, 1, 1),
    ]


def test_the_timed_report_takes_thresholds_from_practice_and_accuracy_from_counted():
    # Six practice trials (the staircase), then four counted cases at one exposure.
    tracks = {
        "R01": ([400, 200, 100, 200, 100, 200], [1, 1, 0, 1, 0, 1], 100, [1, 1, 0, 1]),
        "R02": ([400, 800, 400, 800, 400, 800], [0, 1, 0, 1, 0, 1], 400, [0, 1, 0, 0]),
    }
    reader, exposure, correct, practice = [], [], [], []
    for name, (shown, right, counted_at, counted_right) in tracks.items():
        reader += [name] * 10
        exposure += shown + [counted_at] * 4
        correct += right + counted_right
        practice += [True] * 6 + [False] * 4
    table = DesignTable(
        design="timed",
        staircase=True,
        reader=np.array(reader),
        item=np.array([f"c{i % 10}" for i in range(20)]),
        position=np.array(list(range(10)) * 2),
        correct=np.array(correct, dtype=bool),
        exposure_ms=np.array(exposure, dtype=float),
        practice=np.array(practice, dtype=bool),
    )
    report = timed_report(table, n_boot=200, seed=0)
    first, second = (row["staircase"]["threshold_ms"] for row in report["per_reader"])
    assert first == pytest.approx((100 * 200 * 100 * 200) ** 0.25)
    assert second == pytest.approx((800 * 400 * 800 * 400 * 800) ** 0.2)
    assert report["threshold_ms"] == pytest.approx(math.sqrt(first * second))
    # Accuracies are of the counted cases alone, at each reader's one exposure.
    assert report["pooled"]["k"] == 4 and report["pooled"]["n"] == 8
    one, two = report["per_reader"]
    assert one["staircase"]["trials"] == 6 and one["overall"]["k"] == 3
    assert one["staircase"]["counted_exposures_ms"] == [100]
    assert two["staircase"]["counted_exposures_ms"] == [400]
    assert [(r["exposure_ms"], r["k"], r["n"]) for r in report["by_exposure"]] == [
        (100, 3, 4),
        (400, 1, 4),
    ]
    assert design_report(None) is None


def test_a_paired_study_answered_on_the_server_is_analysed_in_the_report(client, pool):
    study = paired_study(per_group=2, readers=2)
    expected = {}
    for participation in study.participations.order_by("pk"):
        client.force_login(participation.reader.user)
        right = 0
        for assignment in participation.assignments.all():
            # The first reader always chooses the real one, the second never.
            real = assignment.real_side
            first = participation.pk == study.participations.order_by("pk")[0].pk
            choice = real if first else ("left" if real == "right" else "right")
            right += choice == real
            client.post(case_url(assignment), {"choice": choice, "confidence": "3"})
        expected[participation.pk] = right
    report = study_report(study=study, n_boot=100)
    design = report["design"]
    assert design["design"] == "paired_2afc"
    assert [row["k"] for row in design["per_reader"]] == [4, 0]
    assert design["pooled"]["rate"] == 0.5
    assert report["detection"] is None and report["diagnosis"] is None
    html = report_html(report=report, standalone=False)
    assert "Paired choice: which one is real?" in html
    # The export carries each page's pair, sides and choice.
    rows = list(csv.DictReader(io.StringIO(judgments_csv(study=study))))
    assert len(rows) == 8
    tokens = dict(study.cases.values_list("token", "record__origin"))
    for row in rows:
        # A token may start with "-", which the spreadsheet guard quotes.
        assert tokens[row["case"].removeprefix("'")] == "synthetic"
        assert tokens[row["paired_real_case"].removeprefix("'")] == "real"
        assert row["real_side"] in ("left", "right")
        assert row["answer_choice"] in ("left", "right")


# What the reader is told -------------------------------------------------------------


def test_a_paired_studys_intro_and_keys_legend_describe_its_pages(paired_reading):
    client, study, assignments = paired_reading
    intro = client.get(reverse("studies:intro", args=[study.pk])).content.decode()
    assert "each with two ECGs side by side" in intro
    assert "one at a time" not in intro
    assert "shown more than once" not in intro  # the study has no repeats
    page = client.get(case_url(assignments[0])).content.decode()
    assert "<kbd>F</kbd> picks the left ECG, <kbd>J</kbd> the right" in page
    assert "same in every study" not in page


def test_a_timed_studys_intro_says_each_ecg_is_shown_for_a_limited_time(
    timed_reading,
):
    client, study, _ = timed_reading
    intro = client.get(reverse("studies:intro", args=[study.pk])).content.decode()
    assert "shown for a limited time only" in intro
    assert "one at a time" in intro

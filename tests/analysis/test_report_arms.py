"""The report per arm of a study of several generators: detection and diagnosis
per arm, their differences, and the MRMC table, on screen and in the JSON."""

import csv
import io
import json
import os
from pathlib import Path

import pytest
from django.contrib.auth.models import Group
from django.core.management import call_command
from django.urls import reverse
from scipy.stats import binomtest

from ecgstudy.analysis.exports import report_json, study_report
from ecgstudy.analysis.mrmc import or_hillis
from ecgstudy.pool.models import EcgRecord, Origin, Rhythm, SyntheticSource
from ecgstudy.pool.services import synthetic_source_for_job
from ecgstudy.studies.management.commands.create_demo_study import (
    ARMS_NAME,
    sssd_import_files,
)
from ecgstudy.studies.models import Assignment, CaseQuota, Study
from ecgstudy.studies.selectors import study_case_arms
from ecgstudy.studies.services import (
    Answers,
    judgment_submit,
    participation_create,
    study_launch,
)
from tests.factories import (
    READER_PASSWORD,
    EcgRecordFactory,
    GenerationJobFactory,
    ImportedRecordFactory,
    ReaderFactory,
    SyntheticRecordFactory,
    SyntheticSourceFactory,
    UserFactory,
)
from tests.studies.test_browser import answer_with_keys, sign_in
from tests.study_fixtures import make_study

PER_ARM = 4  # cases of each arm in the study
CHECKPOINT_SHA = "c4ec" * 16
REAL = "real: ptbxl"
OURS = f"synthetic: demo-checkpoint @{CHECKPOINT_SHA[:8]}"
THEIRS = "synthetic: SSSD-ECG 2023"
ARMS = [REAL, THEIRS, OURS]  # real arms first, then generators by label
# How many of an arm's PER_ARM cases each reader calls synthetic, and how many
# they diagnose wrongly (the third reader one more): the report's rates follow
# from these alone.
CALLED_SYNTHETIC = {REAL: 1, OURS: 4, THEIRS: 2}
MISDIAGNOSED = {REAL: 1, OURS: 1, THEIRS: 2}
# SSSD-ECG's published samples sit beside the shared real ECGs.
SSSD_ECG = Path(
    os.environ.get("ECG_DATA_DIR")
    or Path(__file__).resolve().parents[3] / "shared" / "ecg"
).parent.joinpath("anchors", "sssd-ecg")


def make_arms_pool() -> None:
    """PER_ARM SR ECGs of each source: a real dataset, our checkpoint, SSSD-ECG."""
    job = GenerationJobFactory(
        checkpoint_path="/ckpt/demo-checkpoint.pt", checkpoint_sha256=CHECKPOINT_SHA
    )
    synthetic_source_for_job(job=job)
    EcgRecordFactory.create_batch(PER_ARM, dataset="ptbxl", rhythm=Rhythm.SR)
    SyntheticRecordFactory.create_batch(PER_ARM, generation_job=job, rhythm="SR")
    ImportedRecordFactory.create_batch(
        PER_ARM, synthetic_source=SyntheticSourceFactory(), rhythm=Rhythm.SR
    )


def make_arms_study(*, readers: int, name: str = "Three generators") -> Study:
    study = Study.objects.create(
        name=name, seed=8, repeat_fraction=0.0, practice_cases=0
    )
    rows = [
        {"origin": Origin.REAL, "dataset": "ptbxl"},
        {
            "origin": Origin.SYNTHETIC,
            "synthetic_source": SyntheticSource.objects.get(name="demo-checkpoint"),
        },
        {
            "origin": Origin.SYNTHETIC,
            "synthetic_source": SyntheticSource.objects.get(name="SSSD-ECG"),
        },
    ]
    for row in rows:
        CaseQuota.objects.create(study=study, rhythm=Rhythm.SR, count=PER_ARM, **row)
    for index in range(readers):
        participation_create(study=study, reader=ReaderFactory(), seed=30 + index)
    return study


def known_answer(arm: str, index: int, reader: int) -> Answers:
    """Reader ``reader``'s answer to the ``index``-th case (by id) of ``arm``."""
    return Answers(
        origin="synthetic" if index < CALLED_SYNTHETIC[arm] else "real",
        confidence=1 + (index + 2 * reader) % 5,
        diagnosis=("AF",)
        if (index + reader) % PER_ARM < MISDIAGNOSED[arm] + (reader == 2)
        else ("SR",),
        quality="good",
    )


def answer_all(study: Study, *, skip_reader=None) -> None:
    arms = study_case_arms(study=study)
    index = {}
    for arm in set(arms.values()):
        ids = sorted(pk for pk, label in arms.items() if label == arm)
        index |= {pk: i for i, pk in enumerate(ids)}
    readers = list(study.participations.order_by("pk"))
    for number, participation in enumerate(readers):
        if participation == skip_reader:
            continue
        for assignment in participation.assignments.select_related("case"):
            case = assignment.case
            judgment_submit(
                assignment=assignment,
                answers=known_answer(arms[case.pk], index[case.pk], number),
            )


@pytest.fixture
def arms_study(db):
    make_arms_pool()
    study = study_launch(study=make_arms_study(readers=3))
    answer_all(study)
    return study


@pytest.fixture
def report(arms_study):
    return study_report(study=arms_study, n_boot=200)


def direct_or_hillis(study: Study, figure_of_merit: str):
    """or_hillis on the study's ratings, gathered here from the judgments: the
    signed confidence with the real cases shared by both generators, or whether
    the diagnosis was right on each arm's own cases."""
    arms = study_case_arms(study=study)
    value, truth = {}, {}
    for assignment in Assignment.objects.filter(
        participation__study=study
    ).select_related("case__record", "judgment"):
        record, judgment = assignment.case.record, assignment.judgment
        truth[assignment.case_id] = record.origin == "synthetic"
        if figure_of_merit == "auc":
            sign = 1 if judgment.origin == "synthetic" else -1
            rating = sign * judgment.confidence
        else:
            rating = float(judgment.diagnosis == [record.rhythm])
        value[assignment.participation_id, assignment.case_id] = rating
    readers = sorted({reader for reader, _ in value})

    def cases_of(arm: str) -> list[int]:
        return sorted(pk for pk, label in arms.items() if label == arm)

    if figure_of_merit == "auc":
        case_ids = {arm: cases_of(REAL) + cases_of(arm) for arm in ARMS[1:]}
    else:
        case_ids = {arm: cases_of(arm) for arm in ARMS}
    ratings = {
        arm: {reader: [value[reader, pk] for pk in ids] for reader in readers}
        for arm, ids in case_ids.items()
    }
    return or_hillis(
        ratings,
        case_ids,
        truth if figure_of_merit == "auc" else None,
        figure_of_merit=figure_of_merit,
    )


def by_arm(rows: list[dict], key: str = "arm") -> dict[str, dict]:
    return {row[key]: row for row in rows}


def test_each_arm_is_called_synthetic_at_its_known_rate_with_exact_intervals(report):
    arms = by_arm(report["arms"]["per_arm"])
    assert list(arms) == ARMS
    readers = 3
    for arm, called in CALLED_SYNTHETIC.items():
        block = arms[arm]["called_synthetic"]
        n, k = PER_ARM * readers, called * readers
        assert (block["n"], block["count"]) == (n, k)
        assert block["rate"] == pytest.approx(k / n)
        exact = binomtest(k, n).proportion_ci(method="exact")
        assert block["exact_ci"] == pytest.approx([exact.low, exact.high])
        assert arms[arm]["cases"] == PER_ARM
    # A real arm is right when called real; a generator's when called synthetic.
    assert arms[REAL]["called_correctly"]["count"] == (PER_ARM - 1) * readers
    assert arms[OURS]["called_correctly"]["count"] == PER_ARM * readers
    for arm, wrong in MISDIAGNOSED.items():
        block = arms[arm]["diagnosis"]
        assert (block["n"], block["count"]) == (
            PER_ARM * readers,
            (PER_ARM - wrong) * readers - 1,
        )


def test_every_generator_is_compared_with_each_other_and_with_real(report):
    pairs = {(row["first"], row["second"]): row for row in report["arms"]["pairwise"]}
    assert set(pairs) == {(THEIRS, OURS), (THEIRS, REAL), (OURS, REAL)}
    ours_vs_real = pairs[OURS, REAL]["called_synthetic"]
    assert ours_vs_real["estimate"] == pytest.approx(1 - 1 / 4)
    low, high = ours_vs_real["bootstrap_ci"]
    assert low <= ours_vs_real["estimate"] <= high
    theirs_vs_ours = pairs[THEIRS, OURS]["diagnosis"]
    assert theirs_vs_ours["estimate"] == pytest.approx(5 / 12 - 8 / 12)
    assert None not in theirs_vs_ours["bootstrap_ci"]


@pytest.mark.parametrize("figure_of_merit", ["auc", "proportion_correct"])
def test_the_mrmc_table_is_or_hillis_on_the_same_ratings(
    arms_study, report, figure_of_merit
):
    expected = direct_or_hillis(arms_study, figure_of_merit)
    block = report["mrmc"]["auc" if figure_of_merit == "auc" else "diagnosis"]
    assert block["figure_of_merit"] == figure_of_merit
    assert block["n_readers"] == 3
    assert block["n_cases"] == expected.n_cases
    per_arm = by_arm(block["per_arm"])
    assert set(per_arm) == set(expected.treatments)
    for estimate in expected.per_treatment:
        row = per_arm[estimate.treatment]
        assert row["estimate"] == pytest.approx(estimate.estimate)
        assert row["ci"] == pytest.approx(list(estimate.ci))
        assert row["n_cases"] == estimate.n_cases
    assert block["f_statistic"] == pytest.approx(expected.f_statistic)
    assert block["df_denominator"] == pytest.approx(expected.df_denominator)
    assert block["p_value"] == pytest.approx(expected.p_value)
    differences = {(d["first"], d["second"]): d for d in block["differences"]}
    for difference in expected.differences:
        row = differences[difference.first, difference.second]
        assert row["estimate"] == pytest.approx(difference.estimate)
        assert row["ci"] == pytest.approx(list(difference.ci))


def test_the_auc_treats_each_generator_against_the_shared_real_cases(report):
    block = report["mrmc"]["auc"]
    assert block["arms"] == [THEIRS, OURS]
    assert block["rating"] == "signed confidence"
    for row in block["per_arm"]:
        assert row["n_cases"] == 2 * PER_ARM  # the real cases and its own
    assert block["n_cases"] == 3 * PER_ARM
    # Every reader calls each of our ECGs synthetic: our arm is found more easily.
    per_arm = by_arm(block["per_arm"])
    assert per_arm[OURS]["estimate"] > per_arm[THEIRS]["estimate"]
    assert [(d["first"], d["second"]) for d in block["differences"]] == [(THEIRS, OURS)]


def test_with_one_generator_the_mrmc_auc_has_per_arm_rows_only(db):
    make_arms_pool()
    study = Study.objects.create(name="One", seed=3, repeat_fraction=0.0)
    source = SyntheticSource.objects.get(name="demo-checkpoint")
    CaseQuota.objects.create(
        study=study, origin="real", rhythm="SR", count=PER_ARM, dataset="ptbxl"
    )
    CaseQuota.objects.create(
        study=study,
        origin="synthetic",
        rhythm="SR",
        count=PER_ARM,
        synthetic_source=source,
    )
    for index in range(2):
        participation_create(study=study, reader=ReaderFactory(), seed=index)
    study_launch(study=study)
    answer_all(study)
    block = study_report(study=study, n_boot=50)["mrmc"]["auc"]
    assert [row["arm"] for row in block["per_arm"]] == [OURS]
    assert block["differences"] == [] and block["f_statistic"] is None


def test_the_json_report_carries_the_arms_and_the_mrmc_table(
    researcher_client, arms_study
):
    url = reverse("admin:studies_study_report_file", args=[arms_study.pk, "json"])
    response = researcher_client.get(url)
    assert response.status_code == 200
    report = json.loads(response.content)
    assert [row["arm"] for row in report["arms"]["per_arm"]] == ARMS
    assert len(report["arms"]["pairwise"]) == 3
    assert report["mrmc"]["auc"]["per_arm"] and report["mrmc"]["diagnosis"]["per_arm"]
    assert {row["arm"] for row in report["cases"]} == {REAL, OURS, THEIRS}
    sources = {row["arm"]: row["synthetic_source"] for row in report["cases"]}
    assert sources == {REAL: None, OURS: OURS[11:], THEIRS: THEIRS[11:]}
    json.loads(report_json(report))  # no NaN anywhere


def test_the_csv_names_each_judgments_generator(researcher_client, arms_study):
    url = reverse("admin:studies_study_report_file", args=[arms_study.pk, "csv"])
    rows = list(csv.DictReader(io.StringIO(researcher_client.get(url).text)))
    assert {row["synthetic_source"] for row in rows} == {"", OURS[11:], THEIRS[11:]}


def test_a_study_without_named_sources_has_no_arms_section(researcher_client, pool):
    study = study_launch(study=make_study(per_group=2))
    answer = Answers(origin="real", confidence=3, diagnosis=("SR",))
    for assignment in Assignment.objects.filter(participation__study=study):
        judgment_submit(assignment=assignment, answers=answer)
    report = study_report(study=study, n_boot=50)
    assert report["arms"] is None
    assert [row["arm"] for row in report["mrmc"]["diagnosis"]["per_arm"]] == [
        "real",
        "synthetic",
    ]
    page = researcher_client.get(
        reverse("admin:studies_study_report", args=[study.pk])
    ).content.decode()
    assert 'id="arms"' not in page and 'id="mrmc"' in page


@pytest.mark.skipif(
    not (SSSD_ECG / "metadata_results.csv").is_file(),
    reason=f"SSSD-ECG's published samples are not at {SSSD_ECG}",
)
def test_the_sssd_ecg_samples_import_through_the_demo_command(db, tmp_path):
    array, labels = sssd_import_files(SSSD_ECG, tmp_path)
    out = io.StringIO()
    call_command(
        "import_synthetic",
        str(array),
        name="SSSD-ECG",
        version="2023",
        labels=str(labels),
        lead_order="I,II,V1,V2,V3,V4,V5,V6,III,aVR,aVL,aVF",
        fs=100,
        stdout=out,
    )
    source = SyntheticSource.objects.get(name="SSSD-ECG")
    records = EcgRecord.objects.filter(synthetic_source=source)
    assert records.count() >= 1 and "imported" in out.getvalue()
    assert records.filter(rhythm="SR").exists()
    assert all(record.sheet for record in records)


@pytest.mark.django_db(transaction=True)
@pytest.mark.browser
def test_a_three_arm_study_read_in_the_browser_shows_its_arms_in_the_report(
    browser, live_server, output_dir
):
    make_arms_pool()
    researcher = UserFactory(username="researcher", is_staff=True)
    researcher.groups.add(Group.objects.get(name="Researchers"))
    study = study_launch(study=make_arms_study(readers=2, name="Three arms"))
    browser_reader, other = study.participations.order_by("pk")
    answer_all(study, skip_reader=browser_reader)
    arms = study_case_arms(study=study)

    page = browser.new_page(viewport={"width": 1400, "height": 900})
    errors = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    sign_in(
        page,
        live_server.url + reverse("login"),
        browser_reader.reader.user.username,
        READER_PASSWORD,
    )
    page.click("text=Start")
    page.click("a.button.primary")
    order = list(browser_reader.assignments.order_by("position"))
    assert len(order) == 3 * PER_ARM
    first_real = next(a for a in order if arms[a.case_id] == REAL)
    for assignment in order:
        page.wait_for_selector(".case-progress")
        # Our generator's ECGs and one real ECG are called synthetic (the first
        # real one in this reader's order: case ids, and so orders, are random).
        arm = arms[assignment.case_id]
        origin_key = "s" if arm == OURS or assignment == first_real else "r"
        answer_with_keys(page, origin_key, "n")
    page.wait_for_selector("text=Thank you")
    assert not errors
    assert browser_reader.assignments.filter(judgment__isnull=True).count() == 0

    admin = browser.new_page(viewport={"width": 1400, "height": 1000})
    sign_in(admin, f"{live_server.url}/admin/", "researcher", READER_PASSWORD)
    admin.goto(live_server.url + reverse("admin:studies_study_report", args=[study.pk]))
    admin.wait_for_selector("#arms table.arms-table")
    per_arm = admin.inner_text("#arms table.arms-table")
    for arm in (REAL, OURS, THEIRS):
        assert arm in per_arm
    assert "100.0% (8/8;" in per_arm  # both readers called all of ours synthetic
    pairwise = admin.inner_text("#arms table.arms-pairwise")
    assert pairwise.count("synthetic:") == 4  # 3 pairs, one of two generators each
    mrmc = admin.inner_text("#mrmc")
    assert "AUC of the confidence-rated answer per arm" in mrmc
    assert "test of equal arms" in mrmc and "differences between arms" in mrmc
    # F on (1, ddf) for two generators: a number, not a dash.
    f_test = admin.locator("#mrmc table.mrmc-test tbody tr").first
    assert float(f_test.locator("td").first.inner_text()) >= 0
    assert f_test.locator("td").nth(1).inner_text().startswith("1, ")
    # The two sections, one under the other: the arms and the MRMC table.
    top = admin.locator("#arms").bounding_box()
    bottom = admin.locator("#mrmc").bounding_box()
    admin.screenshot(
        path=str(output_dir / "report_arms.png"),
        full_page=True,
        clip={
            "x": 0,
            "y": top["y"],
            "width": 1400,
            "height": bottom["y"] + bottom["height"] - top["y"],
        },
    )
    admin.close()
    page.close()


@pytest.mark.skipif(
    not (SSSD_ECG / "metadata_results.csv").is_file(),
    reason=f"SSSD-ECG's published samples are not at {SSSD_ECG}",
)
@pytest.mark.django_db(transaction=True)
@pytest.mark.browser
def test_the_demo_study_with_arms_is_read_in_the_browser_and_reported_per_arm(
    pool, browser, live_server, output_dir
):
    """The three-arm demo (real, our checkpoint, SSSD-ECG's published samples
    imported by the command) launches, a reader answers it in Chromium, and the
    report shows each arm, their differences and the MRMC table."""
    out = io.StringIO()
    call_command(
        "create_demo_study", "--arms", per_group=2, sssd_dir=SSSD_ECG, stdout=out
    )
    study = Study.objects.get(name=ARMS_NAME)
    assert study.status == Study.Status.LAUNCHED
    checkpoint = SyntheticSource.objects.get(kind=SyntheticSource.Kind.CHECKPOINT)
    arms = study_case_arms(study=study)
    assert set(arms.values()) == {
        "real",
        f"synthetic: {checkpoint.label}",
        "synthetic: SSSD-ECG 2023",
    }
    assert "imported" in out.getvalue() and "reader1" in out.getvalue()

    browser_reader, other = study.participations.order_by("pk")
    for n, assignment in enumerate(other.assignments.order_by("position")):
        judgment_submit(
            assignment=assignment,
            answers=Answers(
                origin="synthetic" if n % 2 else "real",
                confidence=1 + n % 5,
                diagnosis=("SR",),
                quality="good",
            ),
        )
    user = browser_reader.reader.user
    user.set_password(READER_PASSWORD)
    user.save()
    page = browser.new_page(viewport={"width": 1366, "height": 768})
    errors = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    sign_in(page, live_server.url + reverse("login"), user.username, READER_PASSWORD)
    page.click("text=Start")
    page.click("a.button.primary")
    for assignment in browser_reader.assignments.order_by("position"):
        page.wait_for_selector(".case-progress")
        synthetic = arms[assignment.case_id].startswith("synthetic")
        answer_with_keys(page, "s" if synthetic else "r", "n")
    page.wait_for_selector("text=Thank you")
    assert not errors

    researcher = UserFactory(username="researcher", is_staff=True)
    researcher.groups.add(Group.objects.get(name="Researchers"))
    admin = browser.new_page(viewport={"width": 1400, "height": 1000})
    sign_in(admin, f"{live_server.url}/admin/", "researcher", READER_PASSWORD)
    admin.goto(live_server.url + reverse("admin:studies_study_report", args=[study.pk]))
    per_arm = admin.inner_text("#arms table.arms-table")
    assert "SSSD-ECG 2023" in per_arm and checkpoint.label in per_arm
    assert admin.inner_text("#arms table.arms-pairwise").count("synthetic:") >= 2
    assert "AUC of the confidence-rated answer per arm" in admin.inner_text("#mrmc")
    admin.screenshot(path=str(output_dir / "report_demo_arms.png"), full_page=True)


def test_the_demo_study_with_arms_leaves_out_sssd_ecg_if_its_folder_is_absent(
    pool, tmp_path
):
    out = io.StringIO()
    call_command(
        "create_demo_study", "--arms", per_group=2, sssd_dir=tmp_path, stdout=out
    )
    study = Study.objects.get(name=ARMS_NAME)
    assert len(set(study_case_arms(study=study).values())) == 2
    assert "SSSD-ECG's published samples are not at" in out.getvalue()

"""Researchers see which ECGs a study drew and how each reader answered; admin lists
fit the screen."""

import re
from datetime import timedelta

import pytest
from django.contrib.auth.models import Group
from django.urls import reverse

from ecgstudy.pool.models import EcgRecord
from ecgstudy.studies.models import Assignment, Judgment, StudyCase
from ecgstudy.studies.services import Answers, judgment_submit
from tests.factories import READER_PASSWORD, EcgRecordFactory, UserFactory
from tests.study_fixtures import make_pool, make_study

LONG_COMMENT = (
    "Baseline wander in the limb leads, P waves hard to see in V1 and the "
    "T waves in the lateral leads look oddly symmetric for a real tracing"
)


def answer_all(study) -> dict[int, str]:
    """Every assignment answered with a comment of its own; assignment id -> comment."""
    comments = {}
    for assignment in Assignment.objects.filter(participation__study=study):
        comments[assignment.pk] = f"comment-{assignment.pk} {LONG_COMMENT}"
        judgment_submit(
            assignment=assignment,
            answers=Answers(
                origin="synthetic" if assignment.pk % 2 else "real",
                confidence=1 + assignment.pk % 5,
                diagnosis=("AF", "other"),
                quality="acceptable",
                comment=comments[assignment.pk],
            ),
        )
    return comments


def cases_url(study) -> str:
    return (
        reverse("admin:studies_studycase_changelist") + f"?study__id__exact={study.pk}"
    )


@pytest.fixture
def answered_study(launched_study):
    answer_all(launched_study)
    return launched_study


def row_of(page: str, token: str) -> str:
    """The part of the changelist that shows one case: from its sheet cell to the
    next case's."""
    body = page[page.index('<table id="result_list"') :]
    rows = re.split(r'<t[hd] class="field-sheet">', body)[1:]
    found = [row for row in rows if token in row]
    assert len(found) == 1, f"{len(found)} rows show {token}"
    return found[0]


def test_the_cases_page_lists_every_case_with_provenance_and_each_answer(
    researcher_client, answered_study
):
    response = researcher_client.get(cases_url(answered_study))
    assert response.status_code == 200
    page = response.content.decode()
    cases = StudyCase.objects.filter(study=answered_study).select_related(
        "record__generation_job"
    )
    assert f"{cases.count()} study cases" in page
    for case in cases:
        row = row_of(page, case.token)
        record = case.record
        sheet = reverse("admin:pool_ecgrecord_sheet", args=[record.pk])
        assert f'src="{sheet}"' in row and 'class="sheet-thumb"' in row
        assert record.get_origin_display() in row
        assert record.get_rhythm_display() in row
        assert "; ".join(record.labels) in row
        assert record.dataset in row and record.source_id in row
        assert reverse("admin:pool_ecgrecord_change", args=[record.pk]) in row
        job = record.generation_job
        if job is None:
            assert "seed " not in row and "checkpoint" not in row
        else:
            assert f">{job.pk}</a> #{record.generation_index}," in row
            assert f"seed {record.generation_seed}" in row
            assert f"{job.sampler} {job.steps} steps" in row
            assert f'title="{job.checkpoint_sha256}"' in row
            assert job.checkpoint_sha256[:12] in row
        # Every reader's answer to this case, with its comment, readably.
        for assignment in case.assignments.select_related(
            "judgment", "participation__reader__user"
        ):
            judgment = assignment.judgment
            assert f"comment-{assignment.pk} " in row
            assert str(assignment.participation.reader) in row
            assert (
                f"<td>{judgment.get_origin_display()}, {judgment.confidence}</td>"
                "<td>Atrial fibrillation + Other</td><td>Acceptable</td>"
            ) in row
        n_answers = case.assignments.count()
        assert row.count("<td>Atrial fibrillation + Other</td>") == n_answers
    assert '["AF"' not in page and "&quot;AF&quot;" not in page  # no raw JSON


def test_a_case_page_shows_the_same_provenance(researcher_client, answered_study):
    case = StudyCase.objects.filter(
        study=answered_study, record__origin="synthetic"
    ).first()
    page = researcher_client.get(
        reverse("admin:studies_studycase_change", args=[case.pk])
    ).content.decode()
    assert case.record.source_id in page
    assert f"seed {case.record.generation_seed}" in page
    assert "Atrial fibrillation + Other" in page


def test_the_study_page_links_to_its_cases(researcher_client, launched_study):
    page = researcher_client.get(
        reverse("admin:studies_study_change", args=[launched_study.pk])
    ).content.decode()
    assert cases_url(launched_study).replace("&", "&amp;") in page or (
        cases_url(launched_study) in page
    )


def test_only_researchers_see_the_cases(client, answered_study):
    plain_staff = UserFactory(username="plainstaff", is_staff=True)
    client.force_login(plain_staff)
    assert client.get(cases_url(answered_study)).status_code == 403
    reader = answered_study.participations.first().reader.user
    client.force_login(reader)
    response = client.get(cases_url(answered_study))
    assert response.status_code == 302 and "/admin/login/" in response["Location"]


def test_nobody_edits_or_deletes_a_case_in_the_admin(researcher_client, launched_study):
    case = StudyCase.objects.filter(study=launched_study).first()
    page = researcher_client.get(
        reverse("admin:studies_studycase_change", args=[case.pk])
    ).content.decode()
    assert 'name="_save"' not in page
    delete = reverse("admin:studies_studycase_delete", args=[case.pk])
    assert researcher_client.get(delete).status_code == 403
    add = reverse("admin:studies_studycase_add")
    assert researcher_client.get(add).status_code == 403


def test_judgments_show_seconds_to_one_decimal_and_diagnoses_as_text(
    researcher_client, answered_study
):
    judgment = Judgment.objects.filter(
        assignment__participation__study=answered_study
    ).first()
    Judgment.objects.filter(pk=judgment.pk).update(
        served_at=judgment.submitted_at - timedelta(seconds=12.345678)
    )
    page = researcher_client.get(
        reverse("admin:studies_judgment_changelist")
    ).content.decode()
    assert '<td class="field-seconds_display">12.3</td>' in page
    assert "12.34" not in page
    assert "Atrial fibrillation + Other" in page
    assert "[&#x27;AF&#x27;" not in page and '["AF"' not in page


def test_the_pool_list_has_sheets_an_origin_rhythm_summary_and_natural_order(
    researcher_client, db
):
    make_pool()  # 4 real and 4 synthetic of each of AF and SR
    for source_id in ("rec10", "rec9", "rec100"):
        EcgRecordFactory(dataset="zz", source_id=source_id)
    url = reverse("admin:pool_ecgrecord_changelist")
    page = researcher_client.get(url).content.decode()
    assert page.count('class="sheet-thumb"') == EcgRecord.objects.count()
    summary = page[page.index('id="origin-rhythm-summary"') :]
    summary = summary[: summary.index("</table>")]
    cells = re.findall(r"<t[dh]>([^<]*)</t[dh]>", summary)
    assert cells == [
        *["rhythm", "Real", "Synthetic", "total"],
        *["Atrial fibrillation", "4", "4", "8"],
        *["Sinus rhythm", "7", "4", "11"],
        *["all", "11", "8", "19"],
    ]
    # Source ids in the order people count, not as text ("rec10" < "rec9").
    assert page.index("zz/rec9<") < page.index("zz/rec10<") < page.index("zz/rec100<")
    # The summary follows the list's filters.
    filtered = researcher_client.get(url + "?origin__exact=synthetic").content.decode()
    assert "<td>Sinus rhythm</td><td>0</td><td>4</td><td>4</td>" in filtered


# In the browser: the lists fit a 1440 px screen; at 1024 px the filters move above.

LISTS = {
    "admin_study_cases.png": None,  # the study's cases, filled in below
    "admin_pool_records.png": "admin:pool_ecgrecord_changelist",
    "admin_judgments.png": "admin:studies_judgment_changelist",
    "admin_generation_jobs.png": "admin:pool_generationjob_changelist",
}


@pytest.mark.browser
@pytest.mark.django_db(transaction=True)
def test_admin_lists_fit_1440_wide_without_sideways_scrolling(
    browser, live_server, output_dir
):
    from ecgstudy.studies.services import study_launch

    make_pool()
    study = study_launch(study=make_study(name="Rhythm study at two sites"))
    answer_all(study)
    researcher = UserFactory(username="researcher", is_staff=True)
    researcher.groups.add(Group.objects.get(name="Researchers"))
    page = browser.new_page(viewport={"width": 1440, "height": 900})
    page.goto(f"{live_server.url}/admin/login/")
    page.fill("#id_username", "researcher")
    page.fill("#id_password", READER_PASSWORD)
    with page.expect_navigation():
        page.keyboard.press("Enter")
    for screen in (1440, 1024):
        page.set_viewport_size({"width": screen, "height": 900})
        for name, url_name in LISTS.items():
            url = reverse(url_name) if url_name else cases_url(study)
            page.goto(live_server.url + url)
            page.wait_for_selector("#result_list")
            page.wait_for_load_state("networkidle")
            shot = name if screen == 1440 else name.replace(".png", f"_{screen}.png")
            page.screenshot(path=str(output_dir / shot), full_page=False)
            width = page.evaluate("document.documentElement.scrollWidth")
            inner = page.evaluate("window.innerWidth")
            assert width <= inner, f"{shot}: the page is {width} px wide in {inner} px"
            results = page.evaluate(
                "(() => { const r = document.querySelector('#changelist .results');"
                " return [r.scrollWidth, r.clientWidth]; })()"
            )
            if screen >= 1440:  # narrower, a wide table may scroll in its box
                assert results[0] <= results[1], f"{shot}: the table scrolls sideways"
            table = page.locator("#result_list").bounding_box()
            panel = page.locator("#changelist-filter")
            if panel.count():  # the filters beside the table, above or below it
                box = panel.bounding_box()
                beside = box["x"] >= table["x"] + table["width"] - 1
                above = box["y"] + box["height"] <= table["y"] + 1
                below = box["y"] >= table["y"] + table["height"] - 1
                assert beside or above or below, f"{shot}: the filters cover the table"
    # Thumbnails of the sheets are SVG images the browser can fetch (they load
    # lazily, so the visible ones are also checked as decoded images).
    page.goto(live_server.url + cases_url(study))
    page.wait_for_load_state("networkidle")
    kinds = page.evaluate(
        "Promise.all(Array.from(document.querySelectorAll('img.sheet-thumb'))"
        ".map(img => fetch(img.src).then(r => r.status + ' ' +"
        " r.headers.get('content-type'))))"
    )
    assert (
        kinds == ["200 image/svg+xml"] * StudyCase.objects.filter(study=study).count()
    )
    assert page.evaluate("document.querySelector('img.sheet-thumb').naturalWidth") > 0

"""The reader's pages: blinding, access, answering once, timing, the end."""

import re

import pytest
from django.contrib.sessions.models import Session
from django.http import QueryDict
from django.urls import reverse

from ecgstudy.studies.forms import (
    MAX_CHOICE_CHARS,
    MAX_COMMENT_CHARS,
    MAX_DISPLAY_POST_CHARS,
    JudgmentForm,
)
from ecgstudy.studies.models import Assignment, Judgment, Participation
from ecgstudy.studies.services import study_close, study_launch
from tests.factories import ReaderFactory
from tests.study_fixtures import make_study

ANSWER = {
    "origin": "synthetic",
    "confidence": "4",
    "diagnosis": "AF",
    "quality": "good",
    "comment": "",
}
SVG = re.compile(rb"<svg\b.*?</svg>", re.S)
COUNTER = re.compile(rb'<div class="case-progress">.*?</div>', re.S)
CSRF = re.compile(rb'name="csrfmiddlewaretoken" value="[^"]+"')
WAVEFORM = re.compile(rb' data-waveform="([A-Za-z0-9_-]*)"')


def case_url(assignment: Assignment) -> str:
    return reverse("studies:case", args=[assignment.token])


def ordered(participation: Participation) -> list[Assignment]:
    return list(
        participation.assignments.select_related("case__record__generation_job")
    )


@pytest.fixture
def reading(client, launched_study):
    """A signed-in reader of the launched study: (client, participation)."""
    participation = launched_study.participations.order_by("pk").first()
    client.force_login(participation.reader.user)
    return client, participation


def forbidden_strings(assignment: Assignment) -> list[str]:
    record = assignment.case.record
    strings = [
        record.source_id,
        # "synthetic", the generator's dataset name, is also a word of the
        # question, the same on every page; it is checked in the sheet below.
        *([record.dataset] if record.dataset != "synthetic" else []),
        record.signal.name,
        record.signal.name.rsplit("/", 1)[-1].split(".")[0],
        record.sheet.name.rsplit("/", 1)[-1].split(".")[0],
        record.signal_sha256,
        assignment.case.token,
        *[label for label in record.labels if len(label) > 3],
    ]
    job = record.generation_job
    if job is not None:
        strings += [job.checkpoint_path, job.checkpoint_sha256, "checkpoint"]
        strings += [str(record.generation_seed)]
    return strings


def test_every_case_page_is_the_same_bytes_but_sheet_token_and_counter(reading):
    client, participation = reading
    stripped = set()
    origins = set()
    waveform_lengths = set()
    for assignment in ordered(participation):
        url = case_url(assignment)
        response = client.get(url)
        assert response.status_code == 200
        page = response.content
        svg = SVG.search(page).group(0)
        origin = assignment.case.record.origin
        origins.add(origin)
        # Nothing that identifies the record reaches the reader, anywhere.
        headers = "\n".join(f"{k}: {v}" for k, v in response.headers.items())
        for text in forbidden_strings(assignment):
            for where, haystack in (("page", page.decode()), ("url", url)):
                assert text not in haystack, f"{text!r} leaks into the {where}"
            assert text not in headers
        for word in (b"real", b"synthetic", b"Real", b"Synthetic", b"id="):
            assert word not in svg
        # The waveform is the one other part that differs: fixed-width text of the
        # ECG's samples, of the same length for every case.
        waveform = WAVEFORM.search(page).group(1)
        waveform_lengths.add(len(waveform))
        for word in (b"real", b"synthetic", b"Real", b"Synthetic"):
            assert word not in waveform
        page = WAVEFORM.sub(b"", page)
        page = SVG.sub(b"<svg/>", page)
        page = COUNTER.sub(b"", page)
        page = CSRF.sub(b"", page)
        stripped.add(page.replace(assignment.token.encode(), b"TOKEN"))
        assert client.post(url, ANSWER).status_code == 302
    assert origins == {"real", "synthetic"}
    assert len(stripped) == 1
    assert waveform_lengths == {12 * 1000 * 3}


def test_a_reader_cannot_open_another_readers_case(reading, launched_study):
    client, participation = reading
    other = launched_study.participations.exclude(pk=participation.pk).first()
    assignment = other.assignments.first()
    assert client.get(case_url(assignment)).status_code == 404
    assert client.post(case_url(assignment), ANSWER).status_code == 404
    assert not Judgment.objects.exists()


def test_a_reader_outside_the_study_gets_404_everywhere(client, launched_study):
    client.force_login(ReaderFactory().user)
    assignment = Assignment.objects.filter(participation__study=launched_study)[0]
    for name in ("intro", "continue", "done"):
        url = reverse(f"studies:{name}", args=[launched_study.pk])
        assert client.get(url).status_code == 404
    assert client.get(case_url(assignment)).status_code == 404


def test_a_closed_study_shows_no_case(reading, launched_study):
    client, participation = reading
    assignment = ordered(participation)[0]
    study_close(study=launched_study)
    assert client.get(case_url(assignment)).status_code == 404
    assert client.post(case_url(assignment), ANSWER).status_code == 404
    assert not Judgment.objects.exists()
    listing = client.get(reverse("studies:list")).content.decode()
    assert "Closed" in listing


def test_anonymous_visitors_are_sent_to_sign_in(client, launched_study):
    assignment = Assignment.objects.filter(participation__study=launched_study)[0]
    for url in (
        case_url(assignment),
        reverse("studies:list"),
        reverse("studies:continue", args=[launched_study.pk]),
    ):
        response = client.get(url)
        assert response.status_code == 302
        assert response.url.startswith(reverse("login"))


def test_continue_opens_the_next_unanswered_case_in_the_stored_order(reading):
    client, participation = reading
    assignments = ordered(participation)
    continue_url = reverse("studies:continue", args=[participation.study_id])
    assert client.get(continue_url).url == case_url(assignments[0])
    client.get(case_url(assignments[0]))
    client.post(case_url(assignments[0]), ANSWER)
    assert client.get(continue_url).url == case_url(assignments[1])


def test_a_second_submit_is_a_no_op_not_an_error(reading):
    client, participation = reading
    first = ordered(participation)[0]
    client.get(case_url(first))
    assert client.post(case_url(first), ANSWER).status_code == 302
    changed = ANSWER | {"origin": "real"}
    again = client.post(case_url(first), changed)
    assert again.status_code == 302
    assert Judgment.objects.count() == 1
    assert Judgment.objects.get().origin == "synthetic"


def test_an_answered_case_is_not_shown_again(reading):
    client, participation = reading
    first, second = ordered(participation)[:2]
    client.post(case_url(first), ANSWER)
    response = client.get(case_url(first))
    assert response.status_code == 302
    assert client.get(response.url).url == case_url(second)


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"origin": None}, "Please answer this question."),
        # A textarea sends each line break as CRLF but counts it once.
        ({"origin": None, "comment": "x\r\n" * 1000}, "Please answer this question."),
    ],
)
def test_a_bad_answer_is_refused_with_the_reason_and_nothing_stored(
    reading, change, message
):
    client, participation = reading
    first = ordered(participation)[0]
    data = {k: v for k, v in (ANSWER | change).items() if v is not None}
    response = client.post(case_url(first), data)
    # Post/Redirect/Get: the reasons are shown by the GET the browser is sent to.
    assert response.status_code == 302 and response.url == case_url(first)
    page = client.get(response.url).content.decode()
    assert message in page
    assert not Judgment.objects.exists()
    # Shown once: a reload is a fresh page.
    assert message not in client.get(case_url(first)).content.decode()


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"confidence": "7"}, "Select a valid choice"),
        ({"diagnosis": "MI"}, "Select a valid choice"),
        ({"quality": "superb"}, "Select a valid choice"),
        ({"peek": "1"}, "This study does not ask: peek"),
        # Longer than the textarea's maxlength or than any viewer's settings.
        ({"comment": "x" * 2001}, "at most 2000 characters"),
        ({"display": "{" + " " * 2000 + "}"}, ""),  # a hidden field: no message
    ],
)
def test_an_answer_no_case_page_can_send_is_a_400_that_stores_nothing(
    reading, change, message
):
    client, participation = reading
    first = ordered(participation)[0]
    response = client.post(case_url(first), ANSWER | change)
    assert response.status_code == 400
    assert message in response.content.decode()
    assert not Judgment.objects.exists()


@pytest.mark.parametrize("upload_limit", [None, "default"])
def test_a_huge_comment_is_a_400_and_leaves_the_session_small(
    reading, settings, upload_limit
):
    if upload_limit is None:  # the form's own refusal, past Django's body limit
        settings.DATA_UPLOAD_MAX_MEMORY_SIZE = None
    client, participation = reading
    first = ordered(participation)[0]
    huge = ANSWER | {"origin": "", "comment": "x" * 1_800_000}
    response = client.post(case_url(first), huge)
    assert response.status_code == 400
    assert not Judgment.objects.exists()
    assert all(len(s.session_data) < 5_000 for s in Session.objects.all())


def test_a_refused_answer_keeps_only_the_forms_fields_each_cut_to_its_limit(
    launched_study,
):
    form = JudgmentForm(
        QueryDict(
            "origin=real&origin=synthetic&peek=1&confidence="
            + "9" * 500
            + "&comment="
            + "y" * 3000
            + "&display="
            + "z" * 3000
        ),
        study=launched_study,
    )
    assert not form.is_valid()
    kept = form.refused_data()
    assert set(kept) == {"origin", "confidence", "comment", "display"}
    assert kept["origin"] == ["real"]
    assert len(kept["confidence"][0]) == MAX_CHOICE_CHARS
    assert len(kept["comment"][0]) == MAX_COMMENT_CHARS
    assert len(kept["display"][0]) == MAX_DISPLAY_POST_CHARS


def test_an_answer_to_a_question_switched_off_is_refused(client, pool):
    study = study_launch(study=make_study(ask_quality=False, ask_comment=False))
    participation = study.participations.first()
    client.force_login(participation.reader.user)
    url = case_url(ordered(participation)[0])
    page = client.get(url).content.decode()
    assert 'name="quality"' not in page and 'name="comment"' not in page
    response = client.post(url, ANSWER)
    assert response.status_code == 400
    assert "does not ask: comment, quality" in response.content.decode()
    data = {k: ANSWER[k] for k in ("origin", "confidence", "diagnosis")}
    assert client.post(url, data).status_code == 302
    judgment = Judgment.objects.get()
    assert judgment.quality == "" and judgment.diagnosis == ["AF"]


def test_the_time_on_a_case_is_measured_on_the_server(reading):
    client, participation = reading
    first = ordered(participation)[0]
    client.get(case_url(first))
    client.post(case_url(first), ANSWER)
    judgment = Judgment.objects.get()
    assert judgment.served_at is not None
    assert 0 <= judgment.seconds < 60


def test_taking_a_break_saves_nothing_and_resumes_on_the_same_case(reading):
    client, participation = reading
    first = ordered(participation)[0]
    page = client.get(case_url(first)).content.decode()
    link = re.search(r'<a class="break"[^>]*>Take a break</a>', page).group(0)
    assert 'href="/studies/"' in link and "data-confirm=" in link
    assert client.get(reverse("studies:list")).status_code == 200
    assert not Judgment.objects.exists()
    resume = client.get(reverse("studies:continue", args=[participation.study_id]))
    assert resume.url == case_url(first)


def test_the_last_case_leads_to_a_thank_you_without_accuracy(reading):
    client, participation = reading
    for assignment in ordered(participation):
        client.post(case_url(assignment), ANSWER)
    done = client.get(
        reverse("studies:continue", args=[participation.study_id]), follow=True
    )
    text = done.content.decode()
    assert "Thank you" in text
    assert "%" not in text and "correct" not in text
    assert Judgment.objects.count() == participation.assignments.count()


def test_feedback_at_the_end_only_when_the_researcher_turned_it_on(client, pool):
    study = study_launch(study=make_study(show_feedback=True, readers=1))
    participation = study.participations.get()
    client.force_login(participation.reader.user)
    for assignment in ordered(participation):
        client.post(case_url(assignment), ANSWER)
    text = client.get(reverse("studies:done", args=[study.pk])).content.decode()
    # Every answer was "synthetic": right on the synthetic half of 12 cases.
    assert "correctly in 6 of 12 cases (50%)" in text


def test_the_study_list_shows_progress_and_only_the_readers_studies(reading, pool):
    client, participation = reading
    make_study(name="Someone else's study")
    text = client.get(reverse("studies:list")).content.decode()
    assert participation.study.name in text
    assert "Someone else" not in text
    assert "0 of 15 answered" in text
    intro = reverse("studies:intro", args=[participation.study_id])
    assert f'href="{intro}">Start' in text
    # after a break the instructions stay one click away, beside Continue
    first = ordered(participation)[0]
    client.get(case_url(first))
    client.post(case_url(first), ANSWER)
    text = client.get(reverse("studies:list")).content.decode()
    assert "1 of 15 answered" in text and ">Continue</a>" in text
    assert f'href="{intro}">Instructions</a>' in text


def test_the_intro_tells_the_ratio_only_if_the_researcher_chose_to(client, pool):
    hidden = study_launch(study=make_study(readers=1))
    shown = study_launch(study=make_study(readers=1, reveal_ratio=True, name="b"))
    for study, expected in ((hidden, False), (shown, True)):
        client.force_login(study.participations.get().reader.user)
        text = client.get(reverse("studies:intro", args=[study.pk])).content.decode()
        assert ("6 are real and 6 are synthetic" in text) is expected


def test_the_intro_and_keys_legend_of_a_one_ecg_study(reading):
    client, participation = reading
    study = participation.study
    intro = client.get(reverse("studies:intro", args=[study.pk])).content.decode()
    assert "one at a time" in intro and "shown more than once" in intro
    assert "limited time" not in intro and "side by side" not in intro
    page = client.get(reverse("studies:continue", args=[study.pk]), follow=True)
    legend = re.search(r'<p class="keys-legend">(.*?)</p>', page.content.decode())
    assert legend.group(1).startswith("The letter or digit beside an answer picks it")


def test_every_post_needs_csrf(launched_study):
    from django.test import Client

    client = Client(enforce_csrf_checks=True)
    participation = launched_study.participations.first()
    client.force_login(participation.reader.user)
    response = client.post(case_url(ordered(participation)[0]), ANSWER)
    assert response.status_code == 403
    assert not Judgment.objects.exists()

"""Researchers set up, launch, watch and close studies in the admin."""

import pytest
from django.core.management import call_command
from django.urls import reverse

from ecgstudy.studies.models import Invitation, Participation, Reader, Study
from tests.factories import ReaderFactory, UserFactory


def study_form(**changes) -> dict:
    data = {
        "name": "AF study",
        "instructions": "Read each ECG as in the clinic.",
        "ask_origin": "on",
        "ask_confidence": "on",
        "confidence_levels": "5",
        "ask_diagnosis": "on",
        "diagnosis_options": "SR: Normal sinus rhythm\nAF: Atrial fibrillation\n"
        "other: Other",
        "ask_quality": "on",
        "ask_comment": "on",
        "seed": "3",
        "repeat_fraction": "0.25",
        "practice_cases": "0",
        "audit_max_auc": "0.65",
        "quotas-TOTAL_FORMS": "2",
        "quotas-INITIAL_FORMS": "0",
        "quotas-0-origin": "real",
        "quotas-0-rhythm": "AF",
        "quotas-0-count": "2",
        "quotas-1-origin": "synthetic",
        "quotas-1-rhythm": "AF",
        "quotas-1-count": "2",
        "participations-TOTAL_FORMS": "0",
        "participations-INITIAL_FORMS": "0",
    }
    return data | changes


def test_a_researcher_sets_up_and_launches_a_study(researcher_client, pool):
    reader = ReaderFactory()
    data = study_form(
        **{
            "participations-TOTAL_FORMS": "1",
            "participations-0-reader": str(reader.pk),
        }
    )
    response = researcher_client.post(reverse("admin:studies_study_add"), data)
    assert response.status_code == 302, response.content.decode()[:3000]
    study = Study.objects.get()
    assert study.diagnosis_options[1] == ["AF", "Atrial fibrillation"]
    assert study.participations.get().reader == reader
    launch = reverse("admin:studies_study_launch", args=[study.pk])
    confirm = researcher_client.get(launch).content.decode()
    assert "2 real and 2 synthetic" in confirm
    researcher_client.post(launch)
    study.refresh_from_db()
    assert study.status == "launched"
    assert study.cases.count() == 4
    assert Participation.objects.get().assignments.count() == 5  # one repeat
    progress = researcher_client.get(
        reverse("admin:studies_study_progress", args=[study.pk])
    ).content.decode()
    assert reader.user.username in progress and "0 / 5" in progress


def test_a_launch_that_cannot_happen_says_why(researcher_client, pool):
    researcher_client.post(
        reverse("admin:studies_study_add"), study_form(**{"quotas-0-count": "50"})
    )
    study = Study.objects.get()
    launch = reverse("admin:studies_study_launch", args=[study.pk])
    text = researcher_client.get(launch).content.decode()
    assert "50 real AF asked, 4 distinct in the pool" in text
    response = researcher_client.post(launch, follow=True)
    assert "Not launched" in response.content.decode()
    study.refresh_from_db()
    assert study.is_draft and not study.cases.exists()


def test_questions_and_case_mix_are_frozen_after_launch(
    researcher_client, launched_study
):
    url = reverse("admin:studies_study_change", args=[launched_study.pk])
    page = researcher_client.get(url).content.decode()
    assert 'name="confidence_levels"' not in page
    assert 'name="seed"' not in page
    assert 'name="quotas-0-count"' not in page
    researcher_client.post(
        url,
        {
            "name": "Renamed",
            "instructions": "",
            "show_feedback": "on",
            "quotas-TOTAL_FORMS": "0",
            "quotas-INITIAL_FORMS": "0",
            "participations-TOTAL_FORMS": "0",
            "participations-INITIAL_FORMS": "2",
        },
    )
    launched_study.refresh_from_db()
    assert launched_study.confidence_levels == 5 and launched_study.seed == 11


def test_a_reader_added_in_the_admin_after_launch_can_start(
    researcher_client, launched_study
):
    reader = ReaderFactory()
    url = reverse("admin:studies_study_change", args=[launched_study.pk])
    data = {
        "name": launched_study.name,
        "instructions": "",
        "quotas-TOTAL_FORMS": "0",
        "quotas-INITIAL_FORMS": "0",
        "participations-TOTAL_FORMS": "1",
        "participations-INITIAL_FORMS": "0",
        "participations-0-reader": str(reader.pk),
    }
    assert researcher_client.post(url, data).status_code == 302
    participation = Participation.objects.get(reader=reader)
    assert participation.assignments.count() == 15


def test_closing_a_study_ends_answering(researcher_client, launched_study):
    url = reverse("admin:studies_study_close", args=[launched_study.pk])
    assert "Close the study" in researcher_client.get(url).content.decode()
    researcher_client.post(url)
    launched_study.refresh_from_db()
    assert launched_study.status == "closed" and launched_study.closed_at


def test_a_new_reader_gets_a_one_time_invitation_link(researcher_client, client):
    response = researcher_client.post(
        reverse("admin:studies_reader_add"),
        {"username": "dr.lee", "email": "lee@example.org", "site": "Oslo"},
        follow=True,
    )
    text = response.content.decode()
    assert "Invitation for dr.lee" in text
    link = text.split("Invitation for dr.lee")[1].split('href="')[1].split('"')[0]
    reader = Reader.objects.get(user__username="dr.lee")
    assert reader.site == "Oslo" and not reader.user.has_usable_password()
    assert Invitation.objects.get().token_sha256 not in link
    researcher_client.logout()
    password = "correct-horse-battery"
    form = {"new_password1": password, "new_password2": password}
    assert client.post(link, form).status_code == 302
    assert client.get(reverse("studies:list")).status_code == 200
    client.logout()
    assert client.post(link, form).status_code == 404
    signed_in = client.post(
        reverse("login"), {"username": "dr.lee", "password": password}
    )
    assert signed_in.status_code == 302


def test_staff_without_the_researcher_group_cannot_see_studies(client, launched_study):
    client.force_login(UserFactory(username="clerk", is_staff=True))
    for url in (
        reverse("admin:studies_study_changelist"),
        reverse("admin:studies_study_progress", args=[launched_study.pk]),
        reverse("admin:studies_study_launch", args=[launched_study.pk]),
    ):
        assert client.get(url).status_code == 403


def test_readers_cannot_reach_the_admin(client, launched_study):
    client.force_login(launched_study.participations.first().reader.user)
    response = client.get(reverse("admin:studies_study_changelist"))
    assert response.status_code == 302 and "/admin/login/" in response.url


def test_create_demo_study_makes_a_launched_study_and_prints_logins(pool, capsys):
    call_command("create_demo_study", per_group=2)
    out = capsys.readouterr().out
    study = Study.objects.get()
    assert study.status == "launched" and study.cases.count() == 8
    assert "is launched: 4 real + 4 synthetic ECGs" in out
    assert "Reader 'reader1', password: " in out and "reader2" in out
    password = out.split("Reader 'reader1', password: ")[1].split()[0]
    from django.test import Client

    signed_in = Client().post(
        reverse("login"), {"username": "reader1", "password": password}
    )
    assert signed_in.status_code == 302 and signed_in.url == "/"
    call_command("create_demo_study")  # again: the same study, new passwords
    assert Study.objects.count() == 1
    assert Participation.objects.filter(study=study).count() == 2


def test_create_demo_study_on_an_empty_pool_says_what_to_run(db):
    from django.core.management.base import CommandError

    with pytest.raises(CommandError, match="setup_demo"):
        call_command("create_demo_study")
    assert not Study.objects.exists()


def test_a_new_study_form_offers_the_default_diagnoses(researcher_client):
    page = researcher_client.get(reverse("admin:studies_study_add")).content.decode()
    assert "SR: Normal sinus rhythm\nAF: Atrial fibrillation\nother: Other" in page


def test_a_launched_study_shows_its_options_and_cannot_be_deleted(
    researcher_client, launched_study
):
    url = reverse("admin:studies_study_change", args=[launched_study.pk])
    page = researcher_client.get(url).content.decode()
    assert "<code>AF</code> Atrial fibrillation" in page
    delete = reverse("admin:studies_study_delete", args=[launched_study.pk])
    assert researcher_client.post(delete, {"post": "yes"}).status_code == 403
    assert Study.objects.filter(pk=launched_study.pk).exists()

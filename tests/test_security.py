"""Who reaches what: every role against every URL; login rate limit; bad POSTs."""

import pytest
from django.contrib.auth.models import Group
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ecgstudy.studies.models import Assignment, Judgment
from ecgstudy.studies.selectors import next_assignment
from ecgstudy.studies.services import study_close, study_launch
from tests.factories import READER_PASSWORD, ReaderFactory, UserFactory
from tests.study_fixtures import make_study

ROLES = (
    "anonymous",
    "reader_in_study",
    "reader_not_in_study",
    "reader_of_closed_study",
    "researcher",
    "superuser",
)
# What each role gets: a status code, or "login" for a redirect to a sign-in page.
READER_ONLY = {
    "anonymous": "login",
    "reader_in_study": 200,
    "reader_not_in_study": 404,
    "reader_of_closed_study": 404,
    "researcher": 404,
    "superuser": 404,
}
RESEARCHERS_ONLY = {
    "anonymous": "admin-login",
    "reader_in_study": "admin-login",
    "reader_not_in_study": "admin-login",
    "reader_of_closed_study": "admin-login",
    "researcher": 200,
    "superuser": 200,
}
NOBODY = dict.fromkeys(ROLES, 404)
EXPECTED = {
    "study list": {**READER_ONLY, "reader_not_in_study": 200}
    | {"reader_of_closed_study": 200, "researcher": 200, "superuser": 200},
    "study intro": READER_ONLY,
    "continue": {**READER_ONLY, "reader_in_study": 302},
    "case page": READER_ONLY,
    "closed study's case": {**READER_ONLY, "reader_in_study": 404},
    "admin index": RESEARCHERS_ONLY,
    "admin study": RESEARCHERS_ONLY,
    "admin progress": RESEARCHERS_ONLY,
    "report": RESEARCHERS_ONLY,
    "judgments export": RESEARCHERS_ONLY,
    "record sheet": RESEARCHERS_ONLY,
    "record signal": RESEARCHERS_ONLY,
    "sheet file by its media path": NOBODY,
    "signal file by its media path": NOBODY,
}


@pytest.fixture
def world(pool):
    """A launched study, a closed one, and a user of every role."""
    study = study_launch(study=make_study(readers=1))
    closed = study_launch(study=make_study(readers=1, name="Closed study"))
    study_close(study=closed)
    researcher = UserFactory(username="researcher", is_staff=True)
    researcher.groups.add(Group.objects.get(name="Researchers"))
    users = {
        "anonymous": None,
        "reader_in_study": study.participations.get().reader.user,
        "reader_not_in_study": ReaderFactory().user,
        "reader_of_closed_study": closed.participations.get().reader.user,
        "researcher": researcher,
        "superuser": UserFactory(username="root", is_staff=True, is_superuser=True),
    }
    first = next_assignment(participation=study.participations.get())
    closed_assignment = Assignment.objects.filter(participation__study=closed)[0]
    record = first.case.record
    urls = {
        "study list": reverse("studies:list"),
        "study intro": reverse("studies:intro", args=[study.pk]),
        "continue": reverse("studies:continue", args=[study.pk]),
        "case page": reverse("studies:case", args=[first.token]),
        "closed study's case": reverse("studies:case", args=[closed_assignment.token]),
        "admin index": reverse("admin:index"),
        "admin study": reverse("admin:studies_study_change", args=[study.pk]),
        "admin progress": reverse("admin:studies_study_progress", args=[study.pk]),
        "report": reverse("admin:studies_study_report", args=[study.pk]),
        "judgments export": reverse(
            "admin:studies_study_report_file", args=[study.pk, "csv"]
        ),
        "record sheet": reverse("admin:pool_ecgrecord_sheet", args=[record.pk]),
        "record signal": reverse("admin:pool_ecgrecord_signal", args=[record.pk]),
        "sheet file by its media path": f"/media/{record.sheet.name}",
        "signal file by its media path": f"/media/{record.signal.name}",
    }
    return users, urls


@pytest.mark.parametrize("role", ROLES)
def test_every_role_gets_what_the_design_says_on_every_url(client, world, role):
    users, urls = world
    if users[role] is not None:
        client.force_login(users[role])
    got = {}
    for name, url in urls.items():
        response = client.get(url)
        if response.status_code == 302 and "/admin/login/" in response.url:
            got[name] = "admin-login"
        elif response.status_code == 302 and response.url.startswith("/accounts/login"):
            got[name] = "login"
        else:
            got[name] = response.status_code
    assert got == {name: expected[role] for name, expected in EXPECTED.items()}


def test_signing_in_is_rate_limited(client, db):
    user = ReaderFactory().user
    url = reverse("login")
    statuses = [
        client.post(url, {"username": user.username, "password": "wrong!"}).status_code
        for _ in range(5)
    ]
    assert statuses == [200, 200, 200, 200, 429]  # the form again, then locked out
    locked = client.post(url, {"username": user.username, "password": READER_PASSWORD})
    assert locked.status_code == 429
    assert "Too many sign-in attempts" in locked.content.decode()
    other = ReaderFactory().user
    fine = client.post(url, {"username": other.username, "password": READER_PASSWORD})
    assert fine.status_code == 302  # another account from the same place is not locked


def test_the_case_page_does_a_fixed_small_number_of_queries(client, pool):
    counts = []
    for per_group in (1, 4):
        study = study_launch(study=make_study(per_group=per_group, readers=1))
        participation = study.participations.get()
        client.force_login(participation.reader.user)
        url = reverse(
            "studies:case", args=[next_assignment(participation=participation).token]
        )
        with CaptureQueriesContext(connection) as queries:
            assert client.get(url).status_code == 200
        counts.append(len(queries))
    # session, user, assignment, next assignment, serving time, counter
    assert counts == [6, 6]


def test_an_oversized_answer_is_refused_and_nothing_written(client, launched_study):
    participation = launched_study.participations.first()
    client.force_login(participation.reader.user)
    url = reverse(
        "studies:case", args=[next_assignment(participation=participation).token]
    )
    data = {"origin": "real", "confidence": "3", "diagnosis": "AF", "quality": "good"}
    response = client.post(url, data | {"comment": "x" * 3_000_000})
    assert response.status_code == 400
    many = client.post(url, data | {f"field{i}": "1" for i in range(1200)})
    assert many.status_code == 400
    assert not Judgment.objects.exists()


def test_a_token_of_another_study_is_not_found_and_nothing_written(client, pool):
    first = study_launch(study=make_study(readers=1))
    second = study_launch(study=make_study(readers=1, name="Another"))
    client.force_login(first.participations.get().reader.user)
    foreign = next_assignment(participation=second.participations.get())
    answer = {"origin": "real", "confidence": "3", "diagnosis": "AF", "quality": "good"}
    response = client.post(reverse("studies:case", args=[foreign.token]), answer)
    assert response.status_code == 404
    assert not Judgment.objects.exists()


FIELDS = ["origin", "confidence", "diagnosis", "quality", "comment", "extra", "round"]
VALUES = st.one_of(
    st.sampled_from(["real", "synthetic", "AF", "SR", "other", "good", "poor", "3"]),
    st.text(max_size=30),
    st.integers(-5, 20).map(str),
)


@settings(
    max_examples=60,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(form=st.dictionaries(st.sampled_from(FIELDS), st.lists(VALUES, max_size=3)))
def test_any_post_is_one_answer_or_a_4xx_that_writes_nothing(
    client, launched_study, form
):
    participation = launched_study.participations.first()
    client.force_login(participation.reader.user)
    assignment = next_assignment(participation=participation)
    if assignment is None:
        return
    before = Judgment.objects.count()
    url = reverse("studies:case", args=[assignment.token])
    response = client.post(url, form)
    after = Judgment.objects.count()
    assert response.status_code in (302, 400)
    # A refused answer comes back to its own case page (Post/Redirect/Get).
    accepted = response.status_code == 302 and response.url != url
    assert after == before + (1 if accepted else 0)
    if accepted:
        judgment = Judgment.objects.get(assignment=assignment)
        assert judgment.origin in ("real", "synthetic")
        assert 1 <= judgment.confidence <= 5
        assert judgment.diagnosis in (["SR"], ["AF"], ["other"])

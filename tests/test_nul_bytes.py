"""A NUL character anywhere in a request is a 400 or a 404, never a server error.

PostgreSQL refuses text with NUL in a query, so without a guard `/case/%00/`,
`/admin/pool/ecgrecord/?rhythm=%00` or a session cookie with a NUL end in a 500.
"""

import pytest
from django.contrib import admin
from django.urls import reverse

from ecgstudy.studies.models import Judgment
from ecgstudy.studies.selectors import next_assignment
from tests.factories import UserFactory

MIDDLEWARE = "ecgstudy.middleware.RejectNulMiddleware"
ANSWER = {"origin": "real", "confidence": "3", "diagnosis": "AF", "quality": "good"}


@pytest.fixture
def nul_guard(settings):
    """The project's middleware with the NUL guard before the session is read."""
    if MIDDLEWARE not in settings.MIDDLEWARE:
        middleware = list(settings.MIDDLEWARE)
        at = middleware.index("django.contrib.sessions.middleware.SessionMiddleware")
        settings.MIDDLEWARE = [*middleware[:at], MIDDLEWARE, *middleware[at:]]


@pytest.fixture
def without_nul_guard(settings):
    """The middleware without the guard: the URL converter alone stands."""
    settings.MIDDLEWARE = [m for m in settings.MIDDLEWARE if m != MIDDLEWARE]


@pytest.fixture
def served(client):
    """The test client, answering a server error with a 500 rather than raising."""
    client.raise_request_exception = False
    return client


def changelist_queries(model_admin) -> list[str]:
    """A search and every simple filter of an admin list, each with a NUL value."""
    names = [name for name in model_admin.list_filter if isinstance(name, str)]
    queries = ["q=%00", "q=ECG%00x", "o=%00", "p=%00"]
    for name in names:
        queries += [f"{name}=%00", f"{name}__exact=%00", f"{name}__in=a,%00"]
    return queries


def test_no_admin_changelist_fails_on_a_nul_in_a_filter_or_search(
    served, db, nul_guard
):
    served.force_login(UserFactory(username="root", is_staff=True, is_superuser=True))
    got = {}
    for model, model_admin in admin.site._registry.items():
        meta = model._meta
        url = reverse(f"admin:{meta.app_label}_{meta.model_name}_changelist")
        assert served.get(url).status_code == 200
        for query in changelist_queries(model_admin):
            got[f"{url}?{query}"] = served.get(f"{url}?{query}").status_code
    assert len(got) > 40
    assert [url for url, status in got.items() if status >= 500] == []
    assert {url: status for url, status in got.items() if status != 400} == {}


def test_a_nul_in_a_case_token_is_not_found_even_without_the_guard(
    served, launched_study, without_nul_guard
):
    participation = launched_study.participations.first()
    served.force_login(participation.reader.user)
    token = next_assignment(participation=participation).token
    for bad in ("%00", f"{token}%00", f"{token[:5]}%00{token[5:]}", "a.b", "%C3%A9"):
        assert served.get(f"/case/{bad}/").status_code == 404, bad
        assert served.post(f"/case/{bad}/", ANSWER).status_code == 404, bad
    assert served.get(f"/case/{token}/").status_code == 200
    assert not Judgment.objects.exists()


def test_a_nul_in_the_path_query_form_or_cookie_is_a_bad_request(
    served, launched_study, nul_guard
):
    participation = launched_study.participations.first()
    served.force_login(participation.reader.user)
    case = reverse(
        "studies:case", args=[next_assignment(participation=participation).token]
    )
    assert served.get("/case/%00/").status_code == 400
    assert served.get(f"{case}?x=%00").status_code == 400
    assert served.get(f"{case}?%00=x").status_code == 400
    assert served.get("/studies/%00/").status_code == 400
    assert served.post(case, ANSWER | {"comment": "a\x00b"}).status_code == 400
    assert served.post(case, ANSWER | {"x\x00": "1"}).status_code == 400
    assert not Judgment.objects.exists()
    login = served.post(reverse("login"), {"username": "a\x00", "password": "x"})
    assert login.status_code == 400
    served.cookies["sessionid"] = "abcdefgh\x00ijkl"
    assert served.get(reverse("studies:list")).status_code == 400


def test_requests_without_a_nul_pass_the_guard(served, launched_study, nul_guard):
    participation = launched_study.participations.first()
    served.force_login(participation.reader.user)
    case = reverse(
        "studies:case", args=[next_assignment(participation=participation).token]
    )
    assert served.get(f"{case}?note=%2500%20and%20%E2%9C%93").status_code == 200
    assert (
        served.post(case, ANSWER | {"comment": "%00 is fine as text"}).status_code
        == 302
    )
    assert Judgment.objects.get().comment == "%00 is fine as text"

"""Smaller guarantees: one value per answer, password rules, checkpoints, .env."""

import pytest
from django.contrib.auth.password_validation import validate_password
from django.core.exceptions import ValidationError
from django.urls import reverse

from ecgstudy.studies.models import Judgment
from ecgstudy.studies.selectors import next_assignment
from ecgstudy.studies.services import study_launch
from tests.conftest import REPO_ROOT
from tests.study_fixtures import make_study

ANSWER = {"origin": "real", "confidence": "3", "quality": "good"}


@pytest.fixture
def multiple_choice_case(client, pool):
    study = study_launch(study=make_study(readers=1, diagnosis_multiple=True))
    participation = study.participations.get()
    client.force_login(participation.reader.user)
    assignment = next_assignment(participation=participation)
    return reverse("studies:case", args=[assignment.token]), assignment


@pytest.mark.parametrize(
    "form",
    [
        ANSWER | {"diagnosis": ["AF", "AF", "SR"]},  # a checkbox twice
        ANSWER | {"diagnosis": ["AF"], "origin": ["real", "synthetic"]},
        ANSWER | {"diagnosis": ["AF"], "quality": ["good", "good"]},
    ],
)
def test_an_answer_given_twice_is_refused_and_nothing_written(
    client, multiple_choice_case, form
):
    url, _ = multiple_choice_case
    response = client.post(url, form)
    assert response.status_code == 400
    assert not Judgment.objects.exists()


def test_several_distinct_diagnoses_are_stored_once_each(client, multiple_choice_case):
    url, assignment = multiple_choice_case
    assert client.post(url, ANSWER | {"diagnosis": ["AF", "SR"]}).status_code == 302
    assert Judgment.objects.get(assignment=assignment).diagnosis == ["AF", "SR"]


def test_a_password_like_the_username_is_refused(django_user_model, db):
    user = django_user_model(username="drkowalski", email="kowalski@example.org")
    with pytest.raises(ValidationError, match="too similar"):
        validate_password("drkowalski1", user)
    validate_password("quiet-harbour-lantern", user)


@pytest.mark.parametrize("path", ["/etc/passwd", "/nonexistent/x.pt", "../../x.pt"])
def test_the_generation_form_accepts_only_checkpoints_of_its_folder(
    admin_client, settings, tmp_path, path
):
    settings.GENERATOR_CHECKPOINT_DIR = tmp_path
    (tmp_path / "mine.pt").write_bytes(b"not a checkpoint")
    outside = tmp_path.parent / "outside.pt"
    outside.write_bytes(b"secret")
    (tmp_path / "link.pt").symlink_to(outside)
    url = reverse("admin:pool_generationjob_add")
    page = admin_client.get(url).content.decode()
    assert "mine.pt" in page and "link.pt" not in page
    form = {
        "checkpoint": path,
        "per_label": "AF=1",
        "sampler": "ddim",
        "steps": 2,
        "guidance": 1.0,
        "seed": 1,
        "chunk_size": 4,
    }
    text = admin_client.post(url, form).content.decode()
    assert "Select a valid choice" in text
    # Nothing tells whether the file exists or what it holds.
    for leak in ("not found", "cannot be loaded", "load key", "root:"):
        assert leak not in text
    linked = admin_client.post(url, form | {"checkpoint": str(tmp_path / "link.pt")})
    assert "Select a valid choice" in linked.content.decode()


def test_the_example_environment_is_safe_to_copy():
    lines = (REPO_ROOT / ".env.example").read_text().splitlines()
    values = dict(
        line.split("=", 1) for line in lines if "=" in line and not line.startswith("#")
    )
    assert values["DEBUG"] == "0"
    assert values["SECRET_KEY"] == ""  # refused at start-up until one is set

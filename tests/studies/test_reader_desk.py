"""The reader's desk on the server: fixed keys, stored display settings, stale
submits, Post/Redirect/Get and the truth of practice cases (and of no other)."""

import json
import re

import numpy as np
import pytest
from django.urls import reverse

from ecgstudy.pool.render import LEADS, waveform_text
from ecgstudy.studies.forms import (
    DIAGNOSIS_KEYS,
    ORIGIN_KEYS,
    QUALITY_KEYS,
    SPARE_DIAGNOSIS_KEYS,
    study_questions,
)
from ecgstudy.studies.models import Judgment, SheetLayout, Study
from ecgstudy.studies.services import study_launch
from tests.study_fixtures import make_study

ANSWER = {
    "origin": "synthetic",
    "confidence": "4",
    "diagnosis": "AF",
    "quality": "good",
}
VIEWER_KEYS = set("+=-0")


def keys_of(study: Study) -> dict[str, dict[str, str]]:
    return {q.name: {o.value: o.key for o in q.options} for q in study_questions(study)}


def case_url(assignment) -> str:
    return reverse("studies:case", args=[assignment.token])


def test_keys_belong_to_the_option_not_to_the_list(db):
    short = Study(diagnosis_options=[["SR", "Sinus"], ["AF", "Atrial fibrillation"]])
    long = Study(
        diagnosis_options=[
            ["PACED", "Paced"],
            ["AFL", "Atrial flutter"],
            ["AF", "AF"],
            ["SB", "Sinus bradycardia"],
            ["SR", "Normal sinus rhythm"],
            ["other", "Other"],
        ],
        diagnosis_multiple=True,
    )
    a, b = keys_of(short), keys_of(long)
    assert a["origin"] == b["origin"] == {"real": "r", "synthetic": "s"}
    assert a["quality"] == b["quality"] == {"good": "g", "acceptable": "u", "poor": "x"}
    assert a["confidence"] == {str(n): str(n) for n in range(1, 6)}
    assert a["diagnosis"] == {"SR": "n", "AF": "a"}
    assert b["diagnosis"] == {
        "PACED": "p",
        "AFL": "l",
        "AF": "a",
        "SB": "b",
        "SR": "n",
        "other": "o",
    }


def test_no_key_is_shared_between_questions_or_with_the_viewer():
    tables = [
        set(ORIGIN_KEYS.values()),
        set(QUALITY_KEYS.values()),
        set(DIAGNOSIS_KEYS.values()) | set(SPARE_DIAGNOSIS_KEYS),
        {str(n) for n in range(1, 10)},
        VIEWER_KEYS,
    ]
    every = [key for table in tables for key in table]
    assert len(every) == len(set(every))
    assert len(DIAGNOSIS_KEYS) == len(set(DIAGNOSIS_KEYS.values()))


def test_codes_outside_the_table_take_spare_letters_in_order(db):
    study = Study(diagnosis_options=[["XYZ", "x"], ["AF", "AF"], ["QRS", "q"]])
    assert keys_of(study)["diagnosis"] == {"XYZ": "d", "AF": "a", "QRS": "e"}


def test_multiple_choice_is_drawn_as_checkboxes_with_a_hint(client, pool):
    study = study_launch(study=make_study(readers=1, diagnosis_multiple=True))
    participation = study.participations.get()
    client.force_login(participation.reader.user)
    page = client.get(case_url(participation.assignments.first())).content.decode()
    assert re.search(r'type="checkbox" name="diagnosis" value="AF" data-key="a"', page)
    assert re.search(r'type="radio" name="origin" value="real" data-key="r"', page)
    assert "choose all that apply" in page


@pytest.fixture
def reading(client, pool):
    study = study_launch(study=make_study(readers=1, reader_may_change_layout=False))
    participation = study.participations.get()
    client.force_login(participation.reader.user)
    return client, list(participation.assignments.order_by("position"))


@pytest.mark.parametrize(
    ("posted", "stored"),
    [
        (
            {"layout": "3x4", "gain": 20, "zoom": 2.345, "calipers": True},
            {"layout": "3x4", "gain": 20, "zoom": 2.35, "calipers": True},
        ),
        ({"layout": "12x1", "gain": 7, "zoom": 99, "calipers": "yes"}, {}),
        ({"script": "<x>", "voltage": False}, {"voltage": False}),
        ("not json", {}),
        ([1, 2], {}),
    ],
    ids=["allowed", "out-of-range", "unknown-key", "malformed", "not-an-object"],
)
def test_display_settings_are_stored_only_from_the_allow_list(reading, posted, stored):
    client, assignments = reading
    raw = posted if isinstance(posted, str) else json.dumps(posted)
    response = client.post(case_url(assignments[0]), ANSWER | {"display": raw})
    assert response.status_code == 302
    assert Judgment.objects.get().display == stored


def test_a_submit_from_a_stale_tab_says_it_was_not_saved(reading):
    client, assignments = reading
    first = assignments[0]
    client.post(case_url(first), ANSWER)
    response = client.post(case_url(first), ANSWER | {"origin": "real"}, follow=True)
    text = response.content.decode()
    assert "already been answered" in text and "not saved" in text
    assert response.redirect_chain[-1][0] == case_url(assignments[1])
    assert Judgment.objects.get().origin == "synthetic"
    # A submit for a case further on in the order is refused too, and said so.
    later = client.post(case_url(assignments[3]), ANSWER, follow=True)
    assert "not your current case" in later.content.decode()
    assert Judgment.objects.count() == 1


def test_a_refused_answer_keeps_what_was_picked_and_the_clock(reading):
    client, assignments = reading
    url = case_url(assignments[0])
    client.get(url)
    served = assignments[0].__class__.objects.get(pk=assignments[0].pk).served_at
    response = client.post(url, {"origin": "real", "comment": "wide QRS"})
    assert response.status_code == 302
    page = client.get(url).content.decode()
    assert "Please answer this question." in page
    assert 'value="real" data-key="r" checked' in page and "wide QRS" in page
    assert (
        assignments[0].__class__.objects.get(pk=assignments[0].pk).served_at == served
    )


def test_a_practice_case_reveals_its_truth_after_the_answer(client, pool):
    study = study_launch(study=make_study(readers=1, practice_cases=1))
    participation = study.participations.get()
    client.force_login(participation.reader.user)
    practice, counted = participation.assignments.order_by("position")[:2]
    assert practice.case.practice and not counted.case.practice
    reveal_url = reverse("studies:practice", args=[practice.token])
    assert client.get(reveal_url).status_code == 404  # not before the answer

    response = client.post(case_url(practice), ANSWER)
    assert response.url == reveal_url
    text = client.get(reveal_url).content.decode()
    record = practice.case.record
    assert f'This ECG was <strong class="reveal-origin">{record.origin}' in text
    assert record.get_rhythm_display() in text
    normal = {True: "A normal ECG.", False: "Not a normal ECG."}.get(record.normal)
    assert normal is None or normal in text
    # The reader's diagnosis as the study's option names it, not its code.
    assert "You answered: synthetic; Atrial fibrillation." in text
    # The sheet is shown again beside its truth.
    assert '<div class="practice-sheet"' in text and "<svg" in text

    # A counted case goes straight on and never reveals anything.
    after = client.post(case_url(counted), ANSWER)
    assert after.url == reverse("studies:continue", args=[study.pk])
    counted_reveal = reverse("studies:practice", args=[counted.token])
    assert client.get(counted_reveal).status_code == 404
    page = client.get(client.get(after.url).url).content.decode()
    assert "This ECG was" not in page


def test_a_practice_case_shows_the_rhythm_never_the_sources_own_labels(client, pool):
    study = study_launch(study=make_study(readers=1, practice_cases=1))
    participation = study.participations.get()
    client.force_login(participation.reader.user)
    practice = participation.assignments.order_by("position").first()
    record = practice.case.record
    # A dataset's own wording (PTB-XL statements), or a generator's codes.
    dataset_labels = ["NORM", "sinus rhythm (PTB-XL SCP: SR)", "LUDB: Sinus rhythm"]
    record.labels = dataset_labels
    record.normal = False
    record.save(update_fields=["labels", "normal"])
    client.post(case_url(practice), ANSWER)
    text = client.get(reverse("studies:practice", args=[practice.token])).content
    text = text.decode()
    assert record.get_rhythm_display() in text and "Not a normal ECG." in text
    for label in [*dataset_labels, "PTB-XL", "LUDB", "Labels:"]:
        assert label not in text, label


def test_the_viewer_settings_are_the_studys_not_the_cases(client, pool):
    study = study_launch(
        study=make_study(
            readers=1, layout=SheetLayout.TWELVE, reader_may_change_layout=False
        )
    )
    participation = study.participations.get()
    client.force_login(participation.reader.user)
    configs = set()
    for assignment in participation.assignments.order_by("position")[:4]:
        page = client.get(case_url(assignment)).content.decode()
        configs.add(re.search(r'data-viewer="([^"]*)"', page).group(1))
        client.post(case_url(assignment), ANSWER)
    assert len(configs) == 1
    config = json.loads(configs.pop().replace("&quot;", '"'))
    assert config["layout"] == "12x1" and config["layouts"] == ["12x1"]


def decode(text: str, n: int) -> np.ndarray:
    alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
    digits = np.array([alphabet.index(c) for c in text]).reshape(-1, 3)
    values = digits[:, 0] * 4096 + digits[:, 1] * 64 + digits[:, 2] - 2**17
    return values.reshape(len(LEADS), n) / 1000


def test_the_waveform_text_has_one_length_whatever_the_amplitudes():
    rng = np.random.default_rng(0)
    quiet = rng.normal(0, 0.01, (12, 1200))
    loud = np.clip(rng.normal(0, 3, (12, 1200)), -5, 5)
    texts = [
        waveform_text(signal, 100) for signal in (quiet, loud, np.zeros((12, 1000)))
    ]
    assert {len(text) for text in texts} == {12 * 1000 * 3}
    for signal, text in zip((quiet, loud), texts, strict=False):
        assert np.abs(decode(text, 1000) - signal[:, :1000]).max() <= 0.0005
    with pytest.raises(ValueError, match="too short"):
        waveform_text(np.zeros((12, 50)), 100)

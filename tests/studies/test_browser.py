"""In headless Chromium: a researcher launches a study, a reader reads it all."""

import pytest
from django.contrib.auth.models import Group
from django.urls import reverse

from ecgstudy.studies.models import Judgment, Study
from tests.factories import READER_PASSWORD, UserFactory
from tests.study_fixtures import make_study

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.browser]


def sign_in(page, url: str, username: str, password: str) -> None:
    page.goto(url)
    page.fill("#id_username", username)
    page.fill("#id_password", password)
    with page.expect_navigation():
        page.keyboard.press("Enter")


def answer_with_keys(page, origin_key: str, diagnosis_key: str) -> None:
    page.wait_for_selector(".ecg-viewer svg")
    for key in (origin_key, "4", diagnosis_key, "g"):
        # On a loaded machine the page may draw before its key handler is bound:
        # a key pressed then is lost, so press until the answer is selected.
        answer = f'form input[data-key="{key}"]'
        for _ in range(40):
            page.keyboard.press(key)
            if page.is_checked(answer):
                break
            page.wait_for_timeout(250)
        assert page.is_checked(answer), f"key {key!r} selected no answer"
    with page.expect_navigation(timeout=60_000):
        page.keyboard.press("Enter")


def test_a_researcher_launches_and_a_reader_answers_every_case_by_keyboard(
    browser, live_server, pool, output_dir
):
    researcher = UserFactory(username="researcher", is_staff=True)
    researcher.groups.add(Group.objects.get(name="Researchers"))
    study = make_study(per_group=2, readers=1, name="Demo: real or synthetic?")
    reader = study.participations.get().reader

    admin = browser.new_page(viewport={"width": 1400, "height": 900})
    sign_in(admin, f"{live_server.url}/admin/", "researcher", READER_PASSWORD)
    admin.goto(live_server.url + reverse("admin:studies_study_change", args=[study.pk]))
    admin.click("a.study-launch")
    admin.click("#launch-button")
    admin.wait_for_selector("#progress-table")
    assert Study.objects.get().status == "launched"

    page = browser.new_page(viewport={"width": 1600, "height": 1000})
    errors = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    sign_in(
        page,
        live_server.url + reverse("login"),
        reader.user.username,
        READER_PASSWORD,
    )
    page.click("text=Start")
    page.click("a.button.primary")  # the intro's start button
    total = study.participations.get().assignments.count()
    assert total == 10
    for number in range(total):
        page.wait_for_selector(".case-progress")
        if number == 1:
            page.screenshot(path=str(output_dir / "study_case_page.png"))
            # The viewer works on the live page: gain and calipers.
            page.click("button[data-gain='20']")
            svg_box = page.locator(".ecg-sheet svg").bounding_box()
            y = svg_box["y"] + svg_box["height"] * 0.8
            page.mouse.click(svg_box["x"] + svg_box["width"] * 0.3, y)
            page.mouse.click(svg_box["x"] + svg_box["width"] * 0.4, y)
            assert "ms" in page.locator(".ecg-readout").inner_text()
        if number == total // 2:
            # A break: nothing is saved, and the reader continues where they were.
            before = Judgment.objects.count()
            page.keyboard.press("s")
            # Something is picked, so the break asks first.
            page.once("dialog", lambda dialog: dialog.accept())
            page.click("text=Take a break")
            page.wait_for_selector(".study-list")
            assert Judgment.objects.count() == before
            page.click("text=Continue")
        origin_key = "rs"[number % 2]
        diagnosis_key = "na"[number % 2]
        answer_with_keys(page, origin_key, diagnosis_key)
    page.wait_for_selector("text=Thank you")
    assert not errors

    judgments = list(
        Judgment.objects.filter(assignment__participation__reader=reader).order_by(
            "assignment__position"
        )
    )
    assert len(judgments) == total
    for number, judgment in enumerate(judgments):
        assert judgment.origin == ("real", "synthetic")[number % 2]
        assert judgment.diagnosis == [("SR", "AF")[number % 2]]
        assert judgment.confidence == 4 and judgment.quality == "good"
        assert judgment.served_at is not None and judgment.seconds >= 0

    admin.reload()
    admin.wait_for_selector("#progress-table")
    assert f"{total} / {total}" in admin.inner_text("#progress-table")
    admin.screenshot(path=str(output_dir / "study_admin_progress.png"), full_page=True)
    admin.close()
    page.close()

"""The paired and time-limited designs in headless Chromium: a paired study read
with F/J and Enter, a time-limited study whose sheet leaves the DOM after its
exposure, and each design's analysis in the admin report."""

import pytest
from django.contrib.auth.models import Group
from django.urls import reverse

from ecgstudy.studies.models import Design, Judgment
from ecgstudy.studies.services import study_launch
from tests.factories import READER_PASSWORD, UserFactory
from tests.study_fixtures import make_study

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.browser]

EXPOSURE_MS = 300
# Notes, in the page's own clock, when the sheet's viewer leaves the DOM.
WATCH_REMOVAL = """
new MutationObserver(records => {
  for (const record of records) {
    for (const node of record.removedNodes) {
      if (node.classList && node.classList.contains('ecg-viewer')) {
        window.viewerRemovedAt = performance.now();
      }
    }
  }
}).observe(document, {childList: true, subtree: true});
"""
# How long the sheet was on screen: from the first paint to its removal.
SHOWN_MS = """() => window.viewerRemovedAt - performance.getEntriesByName(
    'first-contentful-paint')[0].startTime"""


def signed_in_page(browser, url: str, username: str, size=(1600, 950)):
    context = browser.new_context(viewport={"width": size[0], "height": size[1]})
    context.add_init_script(WATCH_REMOVAL)
    page = context.new_page()
    page.js_errors = []
    page.on("pageerror", lambda error: page.js_errors.append(str(error)))
    page.goto(url)
    page.fill("#id_username", username)
    page.fill("#id_password", READER_PASSWORD)
    with page.expect_navigation():
        page.keyboard.press("Enter")
    return page


def reader_page(browser, live_server, study):
    reader = study.participations.get().reader
    page = signed_in_page(
        browser, live_server.url + reverse("login"), reader.user.username
    )
    page.goto(live_server.url + reverse("studies:continue", args=[study.pk]))
    return page


def report_page(browser, live_server, study, output_dir, name: str):
    """The study's report in the admin, as a researcher sees it."""
    researcher = UserFactory(username=f"researcher-{study.pk}", is_staff=True)
    researcher.groups.add(Group.objects.get(name="Researchers"))
    page = signed_in_page(
        browser, f"{live_server.url}/admin/", researcher.username, size=(1400, 900)
    )
    page.goto(live_server.url + reverse("admin:studies_study_report", args=[study.pk]))
    page.screenshot(path=str(output_dir / name), full_page=True)
    return page


def current_assignment(study):
    participation = study.participations.get()
    return (
        participation.assignments.filter(judgment__isnull=True)
        .order_by("position")
        .first()
    )


def test_a_paired_study_is_answered_by_keyboard_and_analysed(
    browser, live_server, pool, output_dir
):
    study = study_launch(
        study=make_study(
            per_group=2, readers=1, design=Design.PAIRED_2AFC, repeat_fraction=0
        )
    )
    page = reader_page(browser, live_server, study)
    total = study.participations.get().assignments.count()
    assert total == 4
    chosen_real = []
    for number in range(total):
        page.wait_for_selector(".case-sheets .ecg-viewer.is-ready >> nth=1")
        assert page.locator(".case-sheet").count() == 2
        sides = page.eval_on_selector_all(
            ".case-sheet", "nodes => nodes.map(n => n.dataset.side)"
        )
        assert sides == ["left", "right"]
        if number == 0:
            page.screenshot(path=str(output_dir / "design_paired_case.png"))
        real_side = current_assignment(study).real_side
        # Right on the first three pages, wrong on the last.
        right = number < 3
        side = real_side if right else {"left": "right", "right": "left"}[real_side]
        chosen_real.append(right)
        for key in ("f" if side == "left" else "j", "4"):
            page.keyboard.press(key)
        checked = page.eval_on_selector(
            "input[name=choice]:checked", "input => input.value"
        )
        assert checked == side
        with page.expect_navigation():
            page.keyboard.press("Enter")
    page.wait_for_selector("text=Thank you")
    assert not page.js_errors
    page.context.close()

    judgments = Judgment.objects.order_by("assignment__position")
    assert [j.choice == j.assignment.real_side for j in judgments] == chosen_real
    assert {j.confidence for j in judgments} == {4}

    admin = report_page(
        browser, live_server, study, output_dir, "design_paired_report.png"
    )
    text = admin.inner_text("body")
    assert "Paired choice: which one is real?" in text
    assert "75.0% (3/4)" in text
    admin.context.close()


# Each paired sheet's smallest lead label on screen, in CSS pixels.
PAIRED_LABEL_SIZES = """() => [...document.querySelectorAll('.case-sheet svg')].map(
    svg => Math.min(...[...svg.querySelectorAll('.ecg-labels text')].map(
        t => parseFloat(getComputedStyle(t).fontSize) * svg.getScreenCTM().a)))"""


def test_both_paired_sheets_stay_legible_and_whole_on_small_screens(
    browser, live_server, pool, output_dir
):
    study = study_launch(
        study=make_study(
            per_group=1, readers=1, design=Design.PAIRED_2AFC, repeat_fraction=0
        )
    )
    page = reader_page(browser, live_server, study)
    page.wait_for_selector(".case-sheets .ecg-viewer.is-ready >> nth=1")
    for width, height in ((1920, 1080), (1366, 768), (1024, 768)):
        page.set_viewport_size({"width": width, "height": height})
        page.wait_for_timeout(150)  # the label sizing follows a resize observer
        page.screenshot(path=str(output_dir / f"design_paired_{width}x{height}.png"))
        size = page.viewport_size
        for selector in (".case-sheet svg >> nth=0", ".case-sheet svg >> nth=1"):
            box = page.locator(selector).bounding_box()
            assert box["x"] >= 0 and box["y"] >= 0, (width, selector)
            assert box["x"] + box["width"] <= size["width"] + 0.5, (width, selector)
            assert box["y"] + box["height"] <= size["height"] + 0.5, (width, selector)
            # the sheets, not the answers, get the width
            assert box["width"] >= 0.38 * width, (width, box["width"])
        submit = page.locator("button.submit").bounding_box()
        assert submit["y"] + submit["height"] <= height + 0.5
        assert min(page.evaluate(PAIRED_LABEL_SIZES)) >= 11, (width, height)
    assert not page.js_errors
    page.context.close()


@pytest.mark.parametrize("staircase", [False, True], ids=["fixed", "staircase"])
def test_a_timed_study_removes_the_sheet_after_its_exposure(
    browser, live_server, pool, output_dir, staircase
):
    settings = {"design": Design.TIMED, "exposure_ms": EXPOSURE_MS}
    if staircase:
        settings |= {
            "staircase": True,
            "exposure_min_ms": 150,
            "exposure_max_ms": 600,
            "exposure_step": 2,
            "practice_cases": 6,
        }
    study = study_launch(
        study=make_study(per_group=1, readers=1, repeat_fraction=0, **settings)
    )
    kind = "staircase" if staircase else "fixed"
    page = reader_page(browser, live_server, study)
    total = study.participations.get().assignments.count()
    for number in range(total):
        page.wait_for_selector(".case-sheet[data-exposure-ms] .ecg-sheet svg")
        exposure = int(
            page.get_attribute(".case-sheet[data-exposure-ms]", "data-exposure-ms")
        )
        if number == 0:
            assert exposure == EXPOSURE_MS
            page.screenshot(path=str(output_dir / f"design_timed_{kind}_shown.png"))
        page.wait_for_selector(".ecg-viewer", state="detached", timeout=5000)
        shown_ms = page.evaluate(SHOWN_MS)
        # The page's clocks are coarsened to a fraction of a millisecond.
        assert exposure - 2 <= shown_ms < exposure + 1000, shown_ms
        # Gone from the DOM, not hidden: no sheet, no waveform, no viewer.
        assert page.locator("svg").count() == 0
        assert page.locator("[data-waveform]").count() == 0
        assert page.locator(".exposure-over").is_visible()
        if number == 0:
            page.screenshot(path=str(output_dir / f"design_timed_{kind}_removed.png"))
            # A reload does not bring the sheet back: the server never resends it.
            page.reload()
            page.wait_for_selector(".exposure-over")
            assert page.locator("svg").count() == 0
        current = current_assignment(study)
        truth = current.case.record.origin
        answer = "r" if truth == "real" else "s"
        if number % 2:
            answer = {"r": "s", "s": "r"}[answer]
        for key in (answer, "3", "n", "g"):
            page.keyboard.press(key)
        with page.expect_navigation():
            page.keyboard.press("Enter")
        if current.case.practice:
            with page.expect_navigation():
                page.click("#next-case")
    page.wait_for_selector("text=Thank you")
    assert not page.js_errors
    page.context.close()

    judgments = list(Judgment.objects.order_by("assignment__position"))
    assert len(judgments) == total
    exposures = [j.exposure_ms for j in judgments]
    if staircase:
        # Practice: right, wrong, ... from 300 ms by a factor of 2; the counted
        # cases all at the exposure the last (wrong) practice answer set.
        assert exposures == [300, 150] * 3 + [300] * (total - 6)
    else:
        assert exposures == [EXPOSURE_MS] * total

    name = f"design_timed_{kind}_report.png"
    admin = report_page(browser, live_server, study, output_dir, name)
    text = admin.inner_text("body")
    assert "Time-limited exposure: accuracy by exposure" in text
    if staircase:
        assert "Staircase: the exposure at which readers reach chance" in text
    admin.context.close()

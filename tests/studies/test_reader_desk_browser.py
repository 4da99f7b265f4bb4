"""The reader's desk in headless Chromium at the screens physicians use: the sheet
and the answers in one view, fixed keys, the break, stale tabs, Back after an
error, practice answers, layouts and calipers."""

import pytest
from django.urls import reverse

from ecgstudy.studies.models import Judgment, SheetLayout
from ecgstudy.studies.services import study_launch
from tests.factories import READER_PASSWORD
from tests.study_fixtures import make_study

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.browser]

SCREENS = [(1920, 1080), (1366, 768), (1024, 768), (768, 1024)]
# Both studies ask the same questions with different diagnosis lists.
SHORT_LIST = [["SR", "Sinus rhythm"], ["AF", "Atrial fibrillation"]]
LONG_LIST = [
    ["PACED", "Paced rhythm"],
    ["AFL", "Atrial flutter"],
    ["SB", "Sinus bradycardia"],
    ["AF", "Atrial fibrillation"],
    ["SR", "Normal sinus rhythm"],
    ["other", "Other"],
]
LABEL_SIZES = """() => {
    const svg = document.querySelector('.ecg-viewer svg');
    const scale = svg.getScreenCTM().a;
    return [...svg.querySelectorAll('.ecg-labels text')].map(
        t => parseFloat(getComputedStyle(t).fontSize) * scale);
}"""


def sign_in(page, live_server, user) -> None:
    page.goto(live_server.url + reverse("login"))
    page.fill("#id_username", user.username)
    page.fill("#id_password", READER_PASSWORD)
    with page.expect_navigation():
        page.keyboard.press("Enter")


def open_study(browser, live_server, study, size=(1366, 768)):
    """A signed-in reader's page on the study's current case; JS errors collected."""
    context = browser.new_context(viewport={"width": size[0], "height": size[1]})
    page = context.new_page()
    page.js_errors = []
    page.on("pageerror", lambda error: page.js_errors.append(str(error)))
    sign_in(page, live_server, study.participations.get().reader.user)
    page.goto(live_server.url + reverse("studies:continue", args=[study.pk]))
    page.wait_for_selector(".ecg-viewer.is-ready")
    return page


def inside_viewport(page, selector: str) -> bool:
    box = page.locator(selector).bounding_box()
    size = page.viewport_size
    return (
        box is not None
        and box["x"] >= 0
        and box["y"] >= 0
        and box["x"] + box["width"] <= size["width"] + 0.5
        and box["y"] + box["height"] <= size["height"] + 0.5
    )


def answer_by_keys(page, keys) -> None:
    for key in keys:
        page.keyboard.press(key)
    with page.expect_navigation():
        page.keyboard.press("Enter")


@pytest.fixture
def study(pool):
    return study_launch(
        study=make_study(
            per_group=1, readers=1, diagnosis_options=LONG_LIST, diagnosis_multiple=True
        )
    )


def test_sheet_and_submit_share_the_screen_with_legible_labels(
    browser, live_server, study, output_dir
):
    page = open_study(browser, live_server, study)
    for width, height in SCREENS:
        page.set_viewport_size({"width": width, "height": height})
        page.wait_for_timeout(150)  # the label sizing follows a resize observer
        name = f"reader_case_{width}x{height}.png"
        page.screenshot(path=str(output_dir / name))
        assert inside_viewport(page, ".ecg-sheet svg"), f"sheet cut at {width}x{height}"
        assert inside_viewport(page, "button.submit"), (
            f"submit hidden at {width}x{height}"
        )
        assert page.evaluate("document.scrollingElement.scrollTop") == 0
        sheet = page.locator(".ecg-sheet svg").bounding_box()
        form = page.locator("#answer-form").bounding_box()
        if width >= 1024:  # side by side: the answers never cover the sheet
            assert form["x"] >= sheet["x"] + sheet["width"] - 1
        else:  # stacked: the answers below the sheet, in view
            assert form["y"] >= sheet["y"] + sheet["height"] - 1
            assert form["y"] < height - 150
        sizes = page.evaluate(LABEL_SIZES)
        assert len(sizes) == 13 and min(sizes) >= 11, (width, height, sizes)
    assert not page.js_errors
    page.context.close()


def test_a_whole_study_by_keyboard_alone_in_two_studies_with_the_same_keys(
    browser, live_server, pool
):
    studies = [
        study_launch(study=make_study(per_group=1, readers=1, name=name, **fields))
        for name, fields in (
            ("Short list", {"diagnosis_options": SHORT_LIST}),
            ("Long list", {"diagnosis_options": LONG_LIST, "diagnosis_multiple": True}),
        )
    ]
    for study in studies:
        page = open_study(browser, live_server, study, size=(1024, 768))
        total = study.participations.get().assignments.count()
        for number in range(total):
            page.wait_for_selector(".ecg-viewer.is-ready")
            diagnosis = "na"[number % 2]  # SR is N and AF is A in both studies
            keys = ["rs"[number % 2], "3", diagnosis, "u"]
            if number == 0:
                keys.append(diagnosis)  # a second press keeps the box ticked
            answer_by_keys(page, keys)
        page.wait_for_selector("text=Thank you")
        assert not page.js_errors
        page.context.close()
        judgments = Judgment.objects.filter(
            assignment__participation__study=study
        ).order_by("assignment__position")
        assert judgments.count() == total
        for number, judgment in enumerate(judgments):
            assert judgment.origin == ("real", "synthetic")[number % 2]
            assert judgment.diagnosis == [("SR", "AF")[number % 2]]
            assert (judgment.confidence, judgment.quality) == (3, "acceptable")
            assert judgment.display["layout"] == "3x4"


def test_keys_tick_and_never_untick_and_choice_kinds_look_different(
    browser, live_server, study
):
    page = open_study(browser, live_server, study)
    for _ in range(2):
        page.keyboard.press("a")
        page.keyboard.press("l")
    assert page.is_checked("input[name=diagnosis][value=AF]")
    assert page.is_checked("input[name=diagnosis][value=AFL]")
    page.click("label.option:has(input[value=AF])")  # a click still toggles
    assert not page.is_checked("input[name=diagnosis][value=AF]")
    kinds = page.evaluate(
        """() => ['origin', 'diagnosis'].map(name => {
            const input = document.querySelector(`input[name=${name}]`);
            const box = input.getBoundingClientRect();
            return [input.type, getComputedStyle(input).opacity, box.width > 8];
        })"""
    )
    assert kinds == [["radio", "1", True], ["checkbox", "1", True]]
    assert "choose all that apply" in page.inner_text(".question-diagnosis legend")
    page.context.close()


def test_a_break_asks_first_only_when_something_is_picked(browser, live_server, study):
    page = open_study(browser, live_server, study)
    case_url = page.url
    dialogs = []

    def dismiss(dialog):
        dialogs.append(dialog.message)
        dialog.dismiss()

    page.on("dialog", dismiss)
    page.keyboard.press("r")
    page.click("#take-a-break")
    assert len(dialogs) == 1 and "not saved" in dialogs[0]
    assert page.url == case_url and page.is_checked("input[value=real]")
    page.remove_listener("dialog", dismiss)
    page.once("dialog", lambda dialog: dialog.accept())
    with page.expect_navigation():
        page.click("#take-a-break")
    page.wait_for_selector(".study-list")
    assert not Judgment.objects.exists()
    # Nothing picked: no question, straight to the list.
    page.goto(case_url)
    page.on("dialog", dismiss)
    with page.expect_navigation():
        page.click("#take-a-break")
    assert len(dialogs) == 1
    page.context.close()


def test_a_stale_tab_is_told_and_back_after_an_error_is_a_normal_page(
    browser, live_server, study, output_dir
):
    first = open_study(browser, live_server, study, size=(1024, 768))
    second = first.context.new_page()  # another tab of the same browser
    second.goto(first.url)
    answer_by_keys(first, ["s", "5", "a", "g"])
    answer_by_keys(second, ["r", "1", "n", "x"])
    message = second.inner_text(".messages")
    assert "already been answered" in message and "not saved" in message
    second.screenshot(path=str(output_dir / "reader_stale_tab_1024x768.png"))
    assert Judgment.objects.get().origin == "synthetic"
    second.close()

    # Submit with nothing picked: the reasons come by Post/Redirect/Get.
    url = first.url
    with first.expect_navigation():
        first.keyboard.press("Enter")
    assert first.url == url
    assert first.locator(".question.has-error").count() >= 3
    first.screenshot(path=str(output_dir / "reader_refused_1024x768.png"))
    # Answering a question takes its "please answer" away; the others keep theirs.
    errors = first.locator(".question.has-error").count()
    first.keyboard.press("s")
    assert first.locator(".question-origin.has-error").count() == 0
    assert first.locator(".question-origin .error").count() == 0
    assert first.locator(".question.has-error").count() == errors - 1
    response = first.go_back()
    assert response is not None and response.status == 200
    assert first.url == url
    first.wait_for_selector(".ecg-viewer.is-ready")
    assert first.locator(".question.has-error").count() == 0
    response = first.go_forward()
    assert response is not None and response.status == 200
    first.context.close()


def test_a_practice_answer_shows_the_truth_before_the_next_case(
    browser, live_server, pool, output_dir
):
    study = study_launch(study=make_study(per_group=1, readers=1, practice_cases=1))
    practice = study.participations.get().assignments.get(position=0)
    page = open_study(browser, live_server, study)
    assert "Practice case 1 of 1" in page.inner_text(".case-progress")
    answer_by_keys(page, ["r", "2", "n", "g"])
    truth = page.inner_text("#practice-reveal")
    record = practice.case.record
    assert f"This ECG was {record.origin}" in truth
    page.screenshot(path=str(output_dir / "reader_practice_reveal.png"))
    with page.expect_navigation():
        page.keyboard.press("Enter")
    page.wait_for_selector(".ecg-viewer.is-ready")
    assert "Case 1 of" in page.inner_text(".case-progress")
    answer_by_keys(page, ["s", "2", "a", "g"])
    # After a counted case the next page is the next case, never a truth.
    assert page.locator("#practice-reveal").count() == 0
    page.wait_for_selector(".ecg-viewer.is-ready")
    page.context.close()


def test_calipers_measure_time_and_voltage_and_markers_can_be_dragged(
    browser, live_server, study, output_dir
):
    page = open_study(browser, live_server, study)
    point = """([x, y]) => {
        const svg = document.querySelector('.ecg-viewer svg');
        const p = new DOMPoint(x, y).matrixTransform(svg.getScreenCTM());
        return [p.x, p.y];
    }"""
    state = "document.querySelector('.ecg-viewer').ecgViewer.state()"
    page.mouse.click(*page.evaluate(point, [40.0, 100.0]))
    page.mouse.click(*page.evaluate(point, [61.0, 90.0]))
    readout = page.inner_text(".ecg-readout")
    # 21 mm at 25 mm/s is 840 ms; 10 mm up at 10 mm/mV is 1 mV.
    assert "840 ms" in readout and "1.00 mV" in readout
    handle = page.locator(".ecg-caliper-handle[data-marker='1']").bounding_box()
    page.mouse.move(
        handle["x"] + handle["width"] / 2, handle["y"] + handle["height"] / 2
    )
    page.mouse.down()
    page.mouse.move(*page.evaluate(point, [65.0, 80.0]), steps=5)
    page.mouse.up()
    after = page.evaluate(state)
    assert after["calipers"] == pytest.approx([40.0, 65.0], abs=0.3)
    assert after["voltageMv"] == pytest.approx(2.0, abs=0.05)
    assert after["zoom"] == 1  # the drag moved the marker, not the sheet
    assert "1000 ms" in page.inner_text(".ecg-readout")
    page.screenshot(path=str(output_dir / "reader_calipers.png"))
    answer_by_keys(page, ["r", "2", "n", "g"])
    display = Judgment.objects.get().display
    assert display["calipers"] is True and display["voltage"] is True
    page.context.close()


TRACES = """() => [...document.querySelectorAll('.ecg-traces > path')].map(path => {
    const box = path.getBBox();
    return [path.getAttribute('d').split(',').length - 1, box.x, box.width];
})"""


def test_the_reader_switches_layouts_drawn_band_limited_from_the_waveform(
    browser, live_server, study, output_dir
):
    page = open_study(browser, live_server, study)
    viewer = "document.querySelector('.ecg-viewer').ecgViewer"
    # The standard layout, redrawn from the waveform: 13 traces, four points a sample.
    traces = page.evaluate(TRACES)
    assert len(traces) == 13
    assert traces[-1][0] == 999 * 4 + 1  # the 10-s rhythm strip at 100 Hz
    assert page.locator(".ecg-layout button").count() == 3

    page.click("button[data-layout='12x1']")
    traces = page.evaluate(TRACES)
    assert len(traces) == 12
    assert all(width == pytest.approx(250, abs=0.5) for _, _, width in traces)
    assert page.locator(".ecg-labels text").count() == 12
    assert min(page.evaluate(LABEL_SIZES.replace("13", "12"))) >= 11
    assert inside_viewport(page, ".ecg-sheet svg")
    assert inside_viewport(page, "button.submit")
    page.screenshot(path=str(output_dir / "reader_layout_12x1_1366x768.png"))

    page.click("button[data-layout='6x2']")
    traces = page.evaluate(TRACES)
    assert len(traces) == 12
    assert [round(x) for _, x, _ in traces[:2]] == [15, 140]  # 0 s and 5 s
    page.screenshot(path=str(output_dir / "reader_layout_6x2_1366x768.png"))
    # Calipers measure on the new sheet: 25 mm is one second.
    point = """([x, y]) => {
        const svg = document.querySelector('.ecg-viewer svg');
        const p = new DOMPoint(x, y).matrixTransform(svg.getScreenCTM());
        return [p.x, p.y];
    }"""
    page.mouse.click(*page.evaluate(point, [50.0, 60.0]))
    page.mouse.click(*page.evaluate(point, [75.0, 60.0]))
    assert page.evaluate(f"{viewer}.state()")["intervalMs"] == pytest.approx(
        1000, abs=1
    )
    answer_by_keys(page, ["s", "4", "a", "g"])
    assert Judgment.objects.get().display["layout"] == "6x2"
    assert not page.js_errors
    page.context.close()


def test_a_layout_fixed_by_the_researcher_offers_no_switch(
    browser, live_server, pool, output_dir
):
    study = study_launch(
        study=make_study(
            per_group=1,
            readers=1,
            layout=SheetLayout.TWELVE,
            reader_may_change_layout=False,
        )
    )
    page = open_study(browser, live_server, study, size=(1024, 768))
    assert page.locator(".ecg-layout").count() == 0
    assert len(page.evaluate(TRACES)) == 12
    assert inside_viewport(page, "button.submit")
    page.screenshot(path=str(output_dir / "reader_layout_12x1_fixed_1024x768.png"))
    page.context.close()

"""The physician's ECG sheet viewer in headless Chromium: zoom, pan, gain, calipers."""

import json
import re
from pathlib import Path

import pytest

from ecgstudy.pool.render import render_sheet
from tests.signals import synthetic_ecg

pytestmark = pytest.mark.browser

STATIC = Path(__file__).resolve().parents[2] / "static" / "ecgstudy"
CONFIG = {
    "speed_mm_s": 25.0,
    "gain_mm_mv": 10.0,
    "gains": [5, 10, 20],
    "baselines_mm": [50.0, 90.0, 130.0, 170.0],
    "trace_rows": [0, 0, 0, 0, 1, 1, 1, 1, 2, 2, 2, 2, 3],
    "calibration": {
        "start_mm": 5.0,
        "rise_mm": 7.5,
        "fall_mm": 12.5,
        "end_mm": 15.0,
        "mv": 1.0,
    },
}
CONFIG_JSON = json.dumps(CONFIG)
SHEET = (270.0, 220.0)
VIEWER = "document.querySelector('.ecg-viewer').ecgViewer"
STATE = f"{VIEWER}.state()"


@pytest.fixture(scope="module")
def sheet_svg():
    return render_sheet(synthetic_ecg(100, seed=0), 100)


class Viewer:
    """One open page with the viewer, and the errors it has reported so far."""

    def __init__(self, page):
        self.page = page
        self.page_errors = []
        self.console_errors = []
        page.on("pageerror", self._on_page_error)
        page.on("console", self._on_console)

    def _on_page_error(self, error):
        self.page_errors.append(error)

    def _on_console(self, message):
        if message.type == "error":
            self.console_errors.append(message.text)

    def state(self):
        return self.page.evaluate(STATE)

    def client_point(self, x_mm, y_mm):
        """Viewport pixels of a sheet point, through the SVG's current CTM."""
        return self.page.evaluate(
            """([x, y]) => {
                const svg = document.querySelector('.ecg-viewer svg');
                const p = new DOMPoint(x, y).matrixTransform(svg.getScreenCTM());
                return [p.x, p.y];
            }""",
            [x_mm, y_mm],
        )

    def click_mm(self, x_mm, y_mm=120.0):
        self.page.mouse.click(*self.client_point(x_mm, y_mm))

    def drag(self, start, end):
        self.page.mouse.move(*start)
        self.page.mouse.down()
        self.page.mouse.move(*end, steps=5)
        self.page.mouse.up()


@pytest.fixture(scope="module")
def browser_context(browser):
    """One context for the module: a fresh one per test costs more than the test."""
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    yield context
    context.close()


@pytest.fixture
def open_viewer(browser_context, tmp_path, sheet_svg):
    """Open the viewer on a file:// page; fail on any uncaught JS error."""
    viewers = []

    def open_(data_viewer=CONFIG_JSON, after=""):
        attribute = "" if data_viewer is None else f" data-viewer='{data_viewer}'"
        html = tmp_path / f"viewer{len(viewers)}.html"
        html.write_text(
            "<!doctype html><html><head><meta charset='utf-8'>"
            f"<link rel='stylesheet' href='{(STATIC / 'viewer.css').as_uri()}'>"
            "</head><body>"
            f"<div class='ecg-viewer'{attribute}><div class='ecg-sheet'>"
            f"{sheet_svg}</div></div>{after}"
            f"<script src='{(STATIC / 'viewer.js').as_uri()}'></script>"
            "</body></html>",
            encoding="utf-8",
        )
        viewer = Viewer(browser_context.new_page())
        viewers.append(viewer)
        viewer.page.goto(html.as_uri())
        return viewer

    yield open_
    for viewer in viewers:
        viewer.page.evaluate("0")  # delivers any error event still in flight
        viewer.page.close()
    errors = [str(error) for viewer in viewers for error in viewer.page_errors]
    console = [text for viewer in viewers for text in viewer.console_errors]
    assert not errors, f"uncaught JS errors: {errors}"
    assert not console, f"console errors: {console}"


def trace_height(viewer, index=0):
    return viewer.page.evaluate(
        "i => document.querySelectorAll('.ecg-traces > path')[i]"
        ".getBoundingClientRect().height",
        index,
    )


def trace_attributes(viewer, index=0):
    return viewer.page.evaluate(
        """i => {
            const path = document.querySelectorAll('.ecg-traces > path')[i];
            return [path.getAttribute('d'), path.getAttribute('transform')];
        }""",
        index,
    )


def calibration_steps(viewer):
    """(baseline, step height) of each row's calibration pulse, from its path."""
    d = viewer.page.evaluate(
        "document.querySelector('path.ecg-calibration').getAttribute('d')"
    )
    steps = re.findall(r"M[\d.]+,([\d.]+)H[\d.]+V([\d.]+)", d)
    return [(float(base), float(base) - float(top)) for base, top in steps]


def test_gain_20_doubles_a_trace_and_gain_10_restores_the_drawing(open_viewer):
    viewer = open_viewer()
    original = trace_attributes(viewer, 0)
    height = trace_height(viewer, 0)
    assert height > 20

    viewer.page.get_by_role("button", name="Gain 20 mm/mV").click()
    assert trace_height(viewer, 0) == pytest.approx(2 * height, rel=0.02)
    assert viewer.state()["gain"] == 20
    pressed = viewer.page.locator(".ecg-gain button[aria-pressed='true']")
    assert pressed.all_inner_texts() == ["20"]

    viewer.page.get_by_role("button", name="Gain 5 mm/mV").click()
    assert trace_height(viewer, 0) == pytest.approx(height / 2, rel=0.02)

    viewer.page.get_by_role("button", name="Gain 10 mm/mV").click()
    assert trace_attributes(viewer, 0) == original
    assert original[1] is None
    assert trace_height(viewer, 0) == pytest.approx(height, abs=0.01)


def test_gain_scales_the_rhythm_strip_about_its_own_baseline(open_viewer):
    viewer = open_viewer()
    top = viewer.client_point(0, 170.0)[1]

    def extent():
        box = viewer.page.evaluate(
            "() => { const r = document.querySelectorAll('.ecg-traces > path')[12]"
            ".getBoundingClientRect(); return [r.top, r.bottom]; }"
        )
        return top - box[0], box[1] - top

    above, below = extent()
    viewer.page.evaluate(f"{VIEWER}.setGain(20)")
    assert extent() == pytest.approx((2 * above, 2 * below), rel=0.03)


def test_calibration_step_height_follows_the_gain(open_viewer):
    viewer = open_viewer()
    original = viewer.page.evaluate(
        "document.querySelector('path.ecg-calibration').getAttribute('d')"
    )
    assert calibration_steps(viewer) == [(b, 10.0) for b in CONFIG["baselines_mm"]]
    for gain in (5, 20):
        viewer.page.evaluate(f"{VIEWER}.setGain({gain})")
        steps = calibration_steps(viewer)
        assert steps == [(b, float(gain)) for b in CONFIG["baselines_mm"]]
    viewer.page.evaluate(f"{VIEWER}.setGain(10)")
    restored = viewer.page.evaluate(
        "document.querySelector('path.ecg-calibration').getAttribute('d')"
    )
    assert restored == original


def test_two_clicks_21_mm_apart_read_840_ms_and_71_bpm_and_escape_clears(
    open_viewer,
):
    viewer = open_viewer()
    viewer.click_mm(40.0)
    assert viewer.state()["intervalMs"] is None
    assert len(viewer.state()["calipers"]) == 1
    viewer.click_mm(61.0)

    state = viewer.state()
    assert state["intervalMs"] == pytest.approx(840, abs=1)
    assert state["calipers"] == pytest.approx([40.0, 61.0], abs=0.05)
    readout = viewer.page.inner_text(".ecg-readout")
    assert "840 ms" in readout and "71 bpm" in readout
    markers = viewer.page.locator(".ecg-calipers line.ecg-caliper-marker")
    assert markers.count() == 2
    assert viewer.page.evaluate(
        "document.querySelector('svg').lastElementChild.getAttribute('class')"
    ) == ("ecg-calipers")

    viewer.page.keyboard.press("Escape")
    assert viewer.state()["calipers"] == []
    assert viewer.state()["intervalMs"] is None
    assert viewer.page.inner_text(".ecg-readout") == ""
    assert viewer.page.locator(".ecg-calipers line").count() == 0


def test_a_third_click_starts_a_new_measurement(open_viewer):
    viewer = open_viewer()
    for x in (40.0, 61.0, 100.0):
        viewer.click_mm(x)
    state = viewer.state()
    assert state["calipers"] == pytest.approx([100.0], abs=0.05)
    assert state["intervalMs"] is None
    viewer.click_mm(120.0)
    assert viewer.state()["intervalMs"] == pytest.approx(800, abs=1)
    assert "75 bpm" in viewer.page.inner_text(".ecg-readout")


def test_calipers_stay_on_the_sheet_through_zoom_and_gain(open_viewer):
    viewer = open_viewer()
    viewer.click_mm(40.0)
    viewer.click_mm(61.0)
    viewer.page.evaluate(f"{VIEWER}.zoomBy(2)")
    viewer.page.evaluate(f"{VIEWER}.setGain(20)")
    state = viewer.state()
    assert state["calipers"] == pytest.approx([40.0, 61.0], abs=0.05)
    assert state["intervalMs"] == pytest.approx(840, abs=1)
    # The marker is drawn in sheet millimetres, so it still sits at x = 40 mm.
    line_x = viewer.page.evaluate(
        "document.querySelector('.ecg-calipers line').getBoundingClientRect().x"
    )
    assert line_x == pytest.approx(viewer.client_point(40.0, 0)[0], abs=2)


def test_a_drag_pans_instead_of_placing_a_marker_when_zoomed(open_viewer):
    viewer = open_viewer()
    viewer.page.evaluate(f"{VIEWER}.zoomBy(4)")
    before = viewer.state()["viewBox"]
    start = viewer.client_point(before[0] + before[2] / 2, before[1] + before[3] / 2)
    viewer.drag(start, (start[0] - 100, start[1] - 60))

    after = viewer.state()
    assert after["calipers"] == []
    assert after["viewBox"][0] > before[0] and after["viewBox"][1] > before[1]
    assert after["viewBox"][2:] == pytest.approx(before[2:])
    assert viewer.page.locator(".ecg-viewer.is-panning").count() == 0


def test_a_small_jitter_still_counts_as_a_click(open_viewer):
    viewer = open_viewer()
    viewer.page.evaluate(f"{VIEWER}.zoomBy(2)")
    box = viewer.state()["viewBox"]
    start = viewer.client_point(box[0] + 10, box[1] + 10)
    viewer.drag(start, (start[0] + 2, start[1] + 1))
    state = viewer.state()
    assert state["viewBox"] == box
    assert len(state["calipers"]) == 1


def test_zoom_buttons_step_by_1_25_and_fit_restores_the_whole_sheet(open_viewer):
    viewer = open_viewer()
    assert viewer.page.evaluate(
        "document.querySelector('svg').getAttribute('viewBox')"
    ) == ("0 0 270.00 220.00")
    height_before = viewer.page.evaluate(
        "document.querySelector('svg').getBoundingClientRect().height"
    )

    viewer.page.get_by_role("button", name="Zoom in").click()
    state = viewer.state()
    assert state["zoom"] == pytest.approx(1.25)
    assert state["viewBox"][2] == pytest.approx(SHEET[0] / 1.25)
    assert state["viewBox"][3] == pytest.approx(SHEET[1] / 1.25)
    # Zooming changes what the sheet shows, never the size of the element.
    assert viewer.page.evaluate(
        "document.querySelector('svg').getBoundingClientRect().height"
    ) == pytest.approx(height_before)

    viewer.page.get_by_role("button", name="Zoom in").click()
    assert viewer.state()["viewBox"][2] == pytest.approx(SHEET[0] / 1.25**2)
    viewer.page.get_by_role("button", name="Fit the whole sheet").click()
    assert viewer.state()["viewBox"] == [0, 0, *SHEET]
    assert viewer.state()["zoom"] == 1


def test_zoom_stays_between_the_whole_sheet_and_8x(open_viewer):
    viewer = open_viewer()
    viewer.page.evaluate(f"{VIEWER}.zoomBy(0.8)")
    assert viewer.state()["viewBox"] == [0, 0, *SHEET]
    assert viewer.page.get_by_role("button", name="Zoom out").is_disabled()

    viewer.page.evaluate(f"for (let i = 0; i < 12; i++) {VIEWER}.zoomBy(1.25)")
    state = viewer.state()
    assert state["zoom"] == 8
    assert state["viewBox"][2] == pytest.approx(SHEET[0] / 8)
    assert viewer.page.get_by_role("button", name="Zoom in").is_disabled()

    viewer.page.get_by_role("button", name="Zoom out").evaluate(
        "button => { for (let i = 0; i < 12; i++) button.click(); }"
    )
    assert viewer.state()["viewBox"] == [0, 0, *SHEET]


def test_panning_is_clamped_to_the_sheet(open_viewer):
    viewer = open_viewer()
    viewer.page.evaluate(f"{VIEWER}.zoomBy(2)")
    half = [SHEET[0] / 2, SHEET[1] / 2]

    def drag_from_the_views_corner(to):
        # Two drags, each from just inside the view's top left corner, cross
        # further than the view can travel.
        for _ in range(2):
            x, y, _, _ = viewer.state()["viewBox"]
            viewer.drag(viewer.client_point(x + 2, y + 2), to)

    drag_from_the_views_corner((1275, 895))
    assert viewer.state()["viewBox"] == pytest.approx([0, 0, *half])

    viewer.page.evaluate(f"{VIEWER}.reset()")
    viewer.page.evaluate(f"{VIEWER}.zoomBy(2)")
    for _ in range(2):
        x, y, _, _ = viewer.state()["viewBox"]
        viewer.drag(viewer.client_point(x + 60, y + 40), (5, 5))
    assert viewer.state()["viewBox"] == pytest.approx([*half, *half])

    # Zooming out from a corner pulls the view back inside the sheet.
    viewer.page.evaluate(f"{VIEWER}.zoomBy(0.8)")
    x, y, w, h = viewer.state()["viewBox"]
    assert x >= 0 and x + w <= SHEET[0] + 1e-9
    assert y >= 0 and y + h <= SHEET[1] + 1e-9


def test_a_drag_at_the_whole_sheet_neither_pans_nor_measures(open_viewer):
    viewer = open_viewer()
    start = viewer.client_point(100.0, 80.0)
    viewer.drag(start, (start[0] + 80, start[1]))
    state = viewer.state()
    assert state["viewBox"] == [0, 0, *SHEET]
    assert state["calipers"] == []


def test_ctrl_wheel_zooms_around_the_pointer_and_a_plain_wheel_scrolls_at_1x(
    open_viewer,
):
    viewer = open_viewer(after="<div style='height: 3000px'></div>")
    viewer.page.evaluate(
        """() => window.addEventListener('wheel', e => {
            window.__wheels = (window.__wheels || []).concat(e.defaultPrevented);
        })"""
    )
    point = viewer.client_point(200.0, 60.0)
    viewer.page.mouse.move(*point)
    viewer.page.keyboard.down("Control")
    viewer.page.mouse.wheel(0, -100)
    viewer.page.keyboard.up("Control")
    viewer.page.wait_for_function(f"{STATE}.zoom > 1")

    state = viewer.state()
    assert state["zoom"] == pytest.approx(1.25)
    # The sheet point under the pointer has not moved on the screen.
    assert viewer.client_point(200.0, 60.0) == pytest.approx(point, abs=0.5)

    # Once zoomed, a plain wheel zooms (here: back out to the whole sheet).
    viewer.page.mouse.wheel(0, 100)
    viewer.page.wait_for_function(f"{STATE}.zoom === 1")
    viewer.page.wait_for_function("(window.__wheels || []).length === 2")
    assert viewer.page.evaluate("window.scrollY") == 0
    # At the whole sheet a plain wheel is left to the page, which scrolls.
    viewer.page.mouse.wheel(0, 100)
    viewer.page.wait_for_function("(window.__wheels || []).length === 3")
    assert viewer.page.evaluate("window.__wheels") == [True, True, False]
    viewer.page.wait_for_function("window.scrollY > 0")
    assert viewer.state()["zoom"] == 1


def test_keyboard_zooms_resets_and_clears(open_viewer):
    viewer = open_viewer()
    viewer.page.keyboard.press("+")
    assert viewer.state()["zoom"] == pytest.approx(1.25)
    viewer.page.keyboard.press("=")
    assert viewer.state()["zoom"] == pytest.approx(1.25**2)
    viewer.page.keyboard.press("-")
    assert viewer.state()["zoom"] == pytest.approx(1.25)
    viewer.page.keyboard.press("0")
    assert viewer.state()["zoom"] == 1


def test_letters_digits_and_modified_keys_leave_the_viewer_alone(open_viewer):
    viewer = open_viewer()
    viewer.click_mm(40.0)
    viewer.page.evaluate(f"{VIEWER}.zoomBy(2)")
    # The question form listens for these keys too, so none may be swallowed.
    viewer.page.evaluate(
        """() => window.addEventListener('keydown', e => {
            if (e.defaultPrevented) window.__prevented = true;
        })"""
    )
    before = viewer.state()
    for key in ("r", "s", "f", "g", "1", "2", "5", "9", "Control+=", "Alt+-"):
        viewer.page.keyboard.press(key)
    assert viewer.state() == before
    assert viewer.page.evaluate("window.__prevented || false") is False


def test_typing_in_a_textarea_does_not_drive_the_viewer(open_viewer):
    viewer = open_viewer(after="<textarea id='notes'></textarea>")
    viewer.click_mm(40.0)
    before = viewer.state()
    viewer.page.click("#notes")
    viewer.page.keyboard.type("+=-0")
    viewer.page.keyboard.press("Escape")
    assert viewer.page.input_value("#notes") == "+=-0"
    assert viewer.state() == before


def test_toolbar_buttons_never_submit_a_form(open_viewer):
    viewer = open_viewer()
    viewer.page.evaluate(
        """() => {
            const form = document.createElement('form');
            form.addEventListener('submit', e => {
                e.preventDefault();
                window.__submitted = true;
            });
            const root = document.querySelector('.ecg-viewer');
            root.parentNode.insertBefore(form, root);
            form.appendChild(root);
        }"""
    )
    buttons = viewer.page.locator(".ecg-toolbar button")
    assert buttons.count() == 6
    assert set(buttons.evaluate_all("bs => bs.map(b => b.type)")) == {"button"}
    labels = buttons.evaluate_all("bs => bs.map(b => b.getAttribute('aria-label'))")
    assert all(labels)
    buttons.evaluate_all("bs => bs.forEach(b => b.click())")
    assert viewer.page.evaluate("window.__submitted || false") is False
    readout = viewer.page.locator(".ecg-readout")
    assert readout.get_attribute("aria-live") == "polite"
    assert "Click two points" in viewer.page.inner_text(".ecg-toolbar")


@pytest.mark.parametrize(
    "data_viewer",
    [
        "{not json",
        None,
        json.dumps({**CONFIG, "trace_rows": [0, 1, 2]}),
        json.dumps({**CONFIG, "gains": "5,10,20"}),
    ],
    ids=["malformed", "missing", "wrong-trace-count", "wrong-type"],
)
def test_a_bad_configuration_leaves_the_sheet_static_with_one_error(
    open_viewer, data_viewer
):
    viewer = open_viewer(data_viewer=data_viewer)
    viewer.page.evaluate("0")
    assert len(viewer.console_errors) == 1
    assert "ECG viewer" in viewer.console_errors[0]
    viewer.console_errors.clear()
    assert viewer.page.locator(".ecg-toolbar").count() == 0
    assert viewer.page.evaluate(f"{VIEWER} === undefined")
    assert viewer.page.evaluate(
        "document.querySelector('svg').getAttribute('viewBox')"
    ) == ("0 0 270.00 220.00")
    viewer.page.keyboard.press("+")
    assert viewer.page.locator(".ecg-calipers").count() == 0

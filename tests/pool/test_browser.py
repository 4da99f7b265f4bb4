"""A researcher in headless Chromium signs in and opens an ECG's page."""

import pytest
from django.urls import reverse

from tests.factories import EcgRecordFactory

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.browser]


def test_researcher_opens_an_ecg_page_and_sees_the_sheet(
    browser, live_server, django_user_model, output_dir
):
    django_user_model.objects.create_superuser("researcher", password="pw-research-1")
    EcgRecordFactory(dataset="ludb", source_id="42")
    page = browser.new_page(viewport={"width": 1400, "height": 1000})
    page.goto(f"{live_server.url}/admin/")
    page.fill("#id_username", "researcher")
    page.fill("#id_password", "pw-research-1")
    page.click("input[type=submit]")
    page.wait_for_selector("#site-name")

    page.goto(live_server.url + reverse("admin:pool_ecgrecord_changelist"))
    page.click("text=ludb/42")
    sheet = page.locator("img.ecg-sheet")
    sheet.wait_for()
    # The image must really have loaded: an SVG sheet wider than it is tall.
    size = sheet.evaluate("img => [img.complete, img.naturalWidth, img.naturalHeight]")
    assert size[0] and size[1] > size[2] > 0
    path = output_dir / "admin_ecg_sheet.png"
    sheet.screenshot(path=str(path))
    assert path.stat().st_size > 10_000
    page.close()

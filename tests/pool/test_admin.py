"""Researchers' admin pages of the pool: list filters, the record page, its sheet."""

import pytest
from django.urls import reverse

from tests.factories import EcgRecordFactory

pytestmark = pytest.mark.django_db


def test_record_list_filters_by_dataset_origin_and_rhythm(admin_client):
    EcgRecordFactory(dataset="ludb", rhythm="AF")
    EcgRecordFactory(dataset="ptbxl", rhythm="SR")
    url = reverse("admin:pool_ecgrecord_changelist")
    page = admin_client.get(url).content.decode()
    for facet in ("By dataset", "By origin", "By rhythm"):
        assert facet in page
    filtered = admin_client.get(url, {"rhythm__exact": "AF"}).content.decode()
    assert "ludb/" in filtered and "ptbxl/" not in filtered


def test_record_page_shows_its_sheet(admin_client):
    record = EcgRecordFactory()
    page = admin_client.get(reverse("admin:pool_ecgrecord_change", args=[record.pk]))
    sheet_url = reverse("admin:pool_ecgrecord_sheet", args=[record.pk])
    assert page.status_code == 200
    assert sheet_url in page.content.decode()
    sheet = admin_client.get(sheet_url)
    assert sheet.status_code == 200
    assert sheet["Content-Type"] == "image/svg+xml"
    assert sheet.content.startswith(b"<svg")
    signal_url = reverse("admin:pool_ecgrecord_signal", args=[record.pk])
    assert signal_url in page.content.decode()
    download = admin_client.get(signal_url)
    assert download.status_code == 200
    assert download.content[:2] == b"PK"  # an .npz is a zip archive


def test_sheet_is_not_served_to_anonymous_or_non_staff(client, django_user_model):
    record = EcgRecordFactory()
    sheet_url = reverse("admin:pool_ecgrecord_sheet", args=[record.pk])
    assert client.get(sheet_url).status_code == 302  # to the login page
    client.force_login(
        django_user_model.objects.create_user("reader", password="pw-reader-123")
    )
    response = client.get(sheet_url)
    assert response.status_code == 302 and "login" in response["Location"]


def test_records_cannot_be_added_or_edited_by_hand(admin_client):
    record = EcgRecordFactory(rhythm="SR")
    assert admin_client.get(reverse("admin:pool_ecgrecord_add")).status_code == 403
    url = reverse("admin:pool_ecgrecord_change", args=[record.pk])
    admin_client.post(url, {"rhythm": "AF"})
    record.refresh_from_db()
    assert record.rhythm == "SR"


@pytest.mark.parametrize(
    "url",
    [
        "admin:pool_generationjob_add",
        "admin:pool_syntheticsource_add",
        "admin:studies_reader_add",
    ],
)
def test_custom_admin_forms_load_the_admin_form_styles(admin_client, url):
    """Their fields sit in aligned rows (label column, help under the field) like
    every other admin form, which needs admin/css/forms.css."""
    response = admin_client.get(reverse(url))
    assert response.status_code == 200
    assert b"admin/css/forms.css" in response.content
    assert b'class="module aligned"' in response.content

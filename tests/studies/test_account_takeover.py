"""Invitations set readers' passwords only: never a staff, superuser or disabled one."""

import pytest
from django.contrib.auth.models import Group
from django.core.exceptions import ValidationError
from django.urls import reverse

from ecgstudy.studies.models import Invitation, Reader
from ecgstudy.studies.services import (
    invitation_accept,
    invitation_create,
    invitation_usable,
    reader_add,
)
from tests.factories import ReaderFactory, UserFactory

NEW_PASSWORD = "taken-over-pass-phrase"


def _invite_link(response, username: str) -> str:
    text = response.content.decode()
    return text.split(f"Invitation for {username}")[-1].split('href="')[1].split('"')[0]


def _staff_accounts():
    root = UserFactory(username="root", is_staff=True, is_superuser=True)
    colleague = UserFactory(username="colleague", is_staff=True)
    colleague.groups.add(Group.objects.get(name="Researchers"))
    return root, colleague


def test_the_add_reader_page_offers_no_staff_account(researcher_client):
    root, colleague = _staff_accounts()
    plain = UserFactory(username="plain")
    page = researcher_client.get(reverse("admin:studies_reader_add")).content.decode()
    assert f'value="{plain.pk}"' in page
    assert f'value="{root.pk}"' not in page
    assert f'value="{colleague.pk}"' not in page
    for target in (root, colleague):
        response = researcher_client.post(
            reverse("admin:studies_reader_add"), {"user": str(target.pk)}
        )
        assert response.status_code == 200  # the form again, with its error
        assert "Select a valid choice" in response.content.decode()
    assert not Reader.objects.exists()


def test_a_researcher_cannot_take_over_the_superuser_through_the_admin(
    researcher_client, client
):
    """The whole click path of the attack: add as reader, new link, open it."""
    root, _ = _staff_accounts()
    root.set_password("the-real-admin-password")
    root.save()
    researcher_client.post(reverse("admin:studies_reader_add"), {"user": root.pk})
    # Even a reader profile made before staff rights were given yields no link.
    reader = Reader.objects.create(user=root)
    response = researcher_client.post(
        reverse("admin:studies_reader_changelist"),
        {"action": "new_invitation", "_selected_action": [reader.pk]},
        follow=True,
    )
    text = response.content.decode()
    assert "Invitation for root" not in text
    assert "staff" in text and "no invitation" in text
    assert not Invitation.objects.exists()
    root.refresh_from_db()
    assert root.check_password("the-real-admin-password")
    signed_in = client.post(
        reverse("admin:login"), {"username": "root", "password": NEW_PASSWORD}
    )
    assert signed_in.status_code == 200  # the login form again: wrong password


def test_a_link_made_before_a_reader_became_staff_no_longer_works(client, db):
    reader = ReaderFactory()
    _, token = invitation_create(reader=reader)
    reader.user.is_staff = True
    reader.user.save()
    link = reverse("studies:invitation", args=[token])
    assert client.get(link).status_code == 404
    form = {"new_password1": NEW_PASSWORD, "new_password2": NEW_PASSWORD}
    assert client.post(link, form).status_code == 404
    with pytest.raises(ValidationError):
        invitation_accept(token=token, password=NEW_PASSWORD)
    reader.user.refresh_from_db()
    assert not reader.user.check_password(NEW_PASSWORD)


def test_an_invitation_never_reactivates_a_deactivated_reader(
    researcher_client, client
):
    reader = ReaderFactory()
    _, token = invitation_create(reader=reader)
    reader.user.is_active = False
    reader.user.save()
    form = {"new_password1": NEW_PASSWORD, "new_password2": NEW_PASSWORD}
    assert client.post(reverse("studies:invitation", args=[token]), form).status_code
    reader.user.refresh_from_db()
    assert not reader.user.is_active
    assert not reader.user.check_password(NEW_PASSWORD)
    response = researcher_client.post(
        reverse("admin:studies_reader_changelist"),
        {"action": "new_invitation", "_selected_action": [reader.pk]},
        follow=True,
    )
    assert "deactivated" in response.content.decode()
    assert Invitation.objects.filter(reader=reader).count() == 1


def test_a_new_link_revokes_the_older_ones(researcher_client, client):
    researcher_client.post(reverse("admin:studies_reader_add"), {"username": "dr.ng"})
    reader = Reader.objects.get(user__username="dr.ng")
    first = Invitation.objects.get(reader=reader)
    response = researcher_client.post(
        reverse("admin:studies_reader_changelist"),
        {"action": "new_invitation", "_selected_action": [reader.pk]},
        follow=True,
    )
    second_link = _invite_link(response, "dr.ng")
    first.refresh_from_db()
    assert first.revoked_at is not None
    assert (
        Invitation.objects.filter(reader=reader, revoked_at__isnull=True).count() == 1
    )
    researcher_client.logout()
    form = {"new_password1": NEW_PASSWORD, "new_password2": NEW_PASSWORD}
    assert client.post(second_link, form).status_code == 302


def test_staff_cannot_be_made_readers_by_the_service_either(db):
    root, colleague = _staff_accounts()
    for user in (root, colleague):
        with pytest.raises(ValidationError, match="staff"):
            reader_add(user=user)
    gone = UserFactory(username="gone", is_active=False)
    with pytest.raises(ValidationError, match="deactivated"):
        reader_add(user=gone)
    assert not Reader.objects.exists()


def test_an_old_link_of_a_reader_is_unusable_after_a_new_one(db):
    reader = ReaderFactory()
    _, old = invitation_create(reader=reader)
    _, new = invitation_create(reader=reader)
    assert invitation_usable(token=old) is None
    assert invitation_usable(token=new) is not None

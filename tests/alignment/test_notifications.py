"""The other side hears of it: proposals, signatures, voided signatures, mentions and replies,
in the app and by e-mail, each linking to the place."""

from __future__ import annotations

import pytest
from django.core import mail
from django.urls import reverse

from alignment.services import comment_add, draft_propose, draft_save, draft_sign
from portal.access import Role
from sla.models import Notification
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db


def told(kind: str | None = None) -> set[tuple[str, str]]:
    notes = Notification.objects.all() if kind is None else Notification.objects.filter(kind=kind)
    return set(notes.values_list("user__username", "title"))


@pytest.fixture
def titled(draft, marketing):
    draft.title = "Event leads count"
    draft.save(update_fields=["title"])
    return draft


def test_proposing_tells_the_other_leaders_in_app_and_by_email(
    titled, marketing, sales, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        draft_propose(version=titled, user=marketing)
    note = Notification.objects.get()
    assert (note.user, note.kind) == (sales, "agreement")
    assert (
        note.title == f"{marketing.get_full_name() or 'marketing'} proposed Version 2 “Event leads count” for sign-off"
    )
    assert note.url == reverse("alignment:version", args=[2])
    assert [m.to for m in mail.outbox] == [[sales.email]]
    assert "Event leads count" in mail.outbox[0].subject
    assert "http://127.0.0.1:8000/agreement/v/2/" in mail.outbox[0].body


def test_signing_tells_the_other_side_what_is_still_missing_then_that_it_can_be_published(titled, marketing, sales):
    draft_propose(version=titled, user=marketing)
    Notification.objects.all().delete()
    draft_sign(version=titled, user=marketing, side="marketing")
    first = Notification.objects.get()
    assert first.user == sales and "signed Version 2" in first.title and "needs a signature from sales" in first.body
    draft_sign(version=titled, user=sales, side="sales")
    second = Notification.objects.exclude(pk=first.pk).get()
    assert second.user == marketing and "it can be published" in second.body


def test_an_edit_that_voids_a_signature_tells_the_signer(titled, marketing, sales):
    draft_propose(version=titled, user=marketing)
    draft_sign(version=titled, user=sales, side="sales")
    Notification.objects.all().delete()
    draft_save(version=titled, user=marketing, spec={**titled.spec, "mql_threshold": 75}, base_revision=1)
    note = Notification.objects.get()
    assert note.user == sales
    assert note.title == "Your signature on Version 2 “Event leads count” was voided"
    assert "changed after signing" in note.body


def test_a_mention_tells_the_person_named_and_links_to_the_thread(titled, marketing, sales):
    UserFactory(username="sdr.lead", roles=[Role.SDR])
    comment = comment_add(version=titled, user=marketing, body="@sales and @sdr.lead: is the cap right? @nobody")
    assert {u for u, _ in told("mention")} == {"sales", "sdr.lead"}
    note = Notification.objects.filter(user=sales).get()
    assert note.url == reverse("alignment:version", args=[2]) + f"#comment-{comment.pk}"
    assert "is the cap right?" in note.body


def test_a_comment_without_a_mention_tells_nobody_and_an_author_never_hears_of_herself(titled, marketing):
    comment_add(version=titled, user=marketing, body="Note to self, @marketing: check the cap")
    assert not Notification.objects.exists()


def test_a_reply_tells_the_threads_earlier_writers_once(titled, marketing, sales):
    other = UserFactory(username="mona", roles=[Role.MARKETING])
    root = comment_add(version=titled, user=marketing, body="Should retail count?")
    comment_add(version=titled, user=other, body="I think so", parent=root)
    Notification.objects.all().delete()
    reply = comment_add(version=titled, user=sales, body="@mona no: the evidence says otherwise", parent=root)
    assert {(u, k) for u, k in Notification.objects.values_list("user__username", "kind")} == {
        ("marketing", "comment"),
        ("mona", "mention"),
    }
    assert all(n.url.endswith(f"#comment-{root.pk}") for n in Notification.objects.all())
    assert reply.parent == root


def test_the_bell_opens_the_place(login, titled, marketing, sales):
    comment = comment_add(version=titled, user=marketing, body="@sales please look")
    note = Notification.objects.get(user=sales)
    response = login(sales).post(reverse("sla:notification_open", args=[note.pk]))
    assert response.url == reverse("alignment:version", args=[2]) + f"#comment-{comment.pk}"
    note.refresh_from_db()
    assert note.read_at is not None

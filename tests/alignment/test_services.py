"""Drafts, co-editing saves, sign-off and publishing through the services, on PostgreSQL."""

from __future__ import annotations

import copy
import threading

import pytest
from django.core import mail
from django.db import connection, transaction

from alignment.models import AgreementEvent, AgreementRevision, AgreementVersion, SignOff
from alignment.services import (
    AgreementError,
    MergeConflict,
    comment_add,
    comment_reopen,
    comment_resolve,
    draft_abandon,
    draft_propose,
    draft_publish,
    draft_reopen,
    draft_save,
    draft_sign,
    draft_start,
)
from alignment.signals import agreement_published
from alignment.validation import SpecInvalid
from leads.models import RescoreJob
from portal.access import Role
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db
Status = AgreementVersion.Status


def changed(version, change) -> dict:
    spec = copy.deepcopy(version.spec)
    change(spec)
    return spec


def rule(spec, rule_id):
    return next(r for r in spec["fit_rules"] + spec["behaviour_rules"] if r["id"] == rule_id)


def actions(version) -> list[str]:
    return list(AgreementEvent.objects.filter(version=version).order_by("at", "id").values_list("action", flat=True))


@pytest.fixture
def signed(draft, marketing, sales):
    draft_propose(version=draft, user=marketing)
    draft_sign(version=draft, user=marketing, side="marketing")
    draft_sign(version=draft, user=sales, side="sales")
    draft.refresh_from_db()
    return draft


def test_start_copies_the_active_spec_and_snapshots_revision_one(active, marketing):
    draft = draft_start(user=marketing)
    assert (draft.number, draft.status, draft.revision, draft.based_on) == (2, Status.DRAFT, 1, active)
    assert draft.spec == active.spec
    assert AgreementRevision.objects.get(version=draft, revision=1).spec == active.spec
    assert actions(draft) == ["created"]


def test_only_one_open_draft(draft, sales):
    with pytest.raises(AgreementError, match="already open"):
        draft_start(user=sales)


def test_save_on_the_current_revision_bumps_it_and_records_the_change(draft, sales):
    result = draft_save(
        version=draft, user=sales, spec=changed(draft, lambda s: s.update(mql_threshold=70)), base_revision=1
    )
    draft.refresh_from_db()
    assert result.saved and not result.merged
    assert (draft.revision, draft.spec["mql_threshold"]) == (2, 70)
    event = AgreementEvent.objects.filter(version=draft).latest("id")
    assert (event.action, event.actor, event.summary) == ("saved", sales, "MQL threshold 60 → 70")


def test_stale_save_on_another_rule_merges_without_losing_either_edit(draft, marketing, sales):
    base = draft.revision
    draft_save(
        version=draft, user=sales, spec=changed(draft, lambda s: rule(s, "f2").update(points=20)), base_revision=base
    )
    mine = changed(draft, lambda s: rule(s, "b3").update(points=15))  # edited from the old revision
    result = draft_save(version=draft, user=marketing, spec=mine, base_revision=base)
    draft.refresh_from_db()
    assert result.merged and result.merged_with == [sales.get_full_name()]
    assert (rule(draft.spec, "f2")["points"], rule(draft.spec, "b3")["points"]) == (20, 15)
    assert draft.revision == 3
    assert actions(draft)[-1] == "merged"


def test_stale_save_of_the_same_field_raises_a_conflict_and_writes_nothing(draft, marketing, sales):
    draft_save(version=draft, user=sales, spec=changed(draft, lambda s: s.update(mql_threshold=70)), base_revision=1)
    mine = changed(draft, lambda s: s.update(mql_threshold=65))
    with pytest.raises(MergeConflict) as info:
        draft_save(version=draft, user=marketing, spec=mine, base_revision=1)
    assert [(c.key, c.mine, c.theirs) for c in info.value.conflicts] == [("mql_threshold", 65, 70)]
    draft.refresh_from_db()
    assert (draft.revision, draft.spec["mql_threshold"]) == (2, 70)
    result = draft_save(version=draft, user=marketing, spec=mine, base_revision=1, choices={"mql_threshold": "mine"})
    draft.refresh_from_db()
    assert result.saved and (draft.revision, draft.spec["mql_threshold"]) == (3, 65)


def test_invalid_spec_is_refused_with_field_messages(draft, sales):
    with pytest.raises(SpecInvalid) as info:
        draft_save(version=draft, user=sales, spec=changed(draft, lambda s: s.update(mql_threshold=0)), base_revision=1)
    assert "mql_threshold" in info.value.errors
    draft.refresh_from_db()
    assert draft.revision == 1


def test_saving_the_same_spec_is_a_no_op(draft, sales):
    result = draft_save(version=draft, user=sales, spec=draft.spec, base_revision=1)
    draft.refresh_from_db()
    assert not result.saved and draft.revision == 1


def test_concurrent_saves_from_two_threads_both_land(transactional_db, django_db_blocker):
    """Two leaders saving from the same base at the same moment: the row lock serialises them, the second merges."""
    marketing = UserFactory(username="m-thread", roles=[Role.MARKETING])
    sales = UserFactory(username="s-thread", roles=[Role.SALES])
    draft = draft_start(user=marketing)
    edits = {
        marketing: changed(draft, lambda s: rule(s, "f1").update(points=21)),
        sales: changed(draft, lambda s: rule(s, "b1").update(points=31)),
    }
    barrier = threading.Barrier(2)
    errors = []

    def save(user):
        try:
            barrier.wait()
            draft_save(version=draft, user=user, spec=edits[user], base_revision=1)
        except Exception as exc:  # surfaced below
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=save, args=(u,)) for u in edits]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    draft.refresh_from_db()
    assert draft.revision == 3
    assert (rule(draft.spec, "f1")["points"], rule(draft.spec, "b1")["points"]) == (21, 31)
    assert sorted(AgreementRevision.objects.filter(version=draft).values_list("revision", flat=True)) == [1, 2, 3]


def test_propose_refuses_an_invalid_spec(draft, marketing):
    AgreementVersion.objects.filter(pk=draft.pk).update(spec={**draft.spec, "mql_threshold": 5000})
    with pytest.raises(SpecInvalid):
        draft_propose(version=draft, user=marketing)
    draft.refresh_from_db()
    assert draft.status == Status.DRAFT


def test_each_leader_signs_only_their_own_side(draft, marketing, sales):
    draft_propose(version=draft, user=marketing)
    with pytest.raises(AgreementError, match="Only a sales leader can sign for sales"):
        draft_sign(version=draft, user=marketing, side="sales")
    with pytest.raises(AgreementError, match="Only a marketing leader can sign for marketing"):
        draft_sign(version=draft, user=sales, side="marketing")
    draft_sign(version=draft, user=marketing, side="marketing")
    with pytest.raises(AgreementError, match="already signed"):
        draft_sign(version=draft, user=marketing, side="marketing")
    assert SignOff.objects.filter(version=draft).count() == 1


def test_admin_cannot_sign_without_holding_the_leader_role(draft, marketing, admin_user):
    draft_propose(version=draft, user=marketing)
    for side in ("marketing", "sales"):
        with pytest.raises(AgreementError, match="Only a"):
            draft_sign(version=draft, user=admin_user, side=side)


def test_one_person_cannot_sign_both_sides(draft, marketing):
    both = UserFactory(username="both", roles=[Role.MARKETING, Role.SALES])
    draft_propose(version=draft, user=marketing)
    draft_sign(version=draft, user=both, side="marketing")
    with pytest.raises(AgreementError, match="other side"):
        draft_sign(version=draft, user=both, side="sales")


def test_signing_needs_a_proposed_draft(draft, marketing):
    with pytest.raises(AgreementError, match="Propose the draft"):
        draft_sign(version=draft, user=marketing, side="marketing")


def test_an_edit_after_signing_reopens_the_draft_and_voids_signatures_visibly(signed, marketing, sales):
    result = draft_save(
        version=signed,
        user=sales,
        spec=changed(signed, lambda s: s.update(mql_threshold=61)),
        base_revision=signed.revision,
    )
    signed.refresh_from_db()
    assert signed.status == Status.DRAFT
    assert {s.side for s in result.voided} == {"marketing", "sales"}
    assert not SignOff.objects.filter(version=signed, voided_at__isnull=True).exists()
    assert SignOff.objects.filter(version=signed, voided_at__isnull=False).count() == 2
    assert actions(signed)[-4:] == ["reopened", "signature_voided", "signature_voided", "saved"]
    with pytest.raises(AgreementError, match="Only a proposed"):
        draft_publish(version=signed, user=marketing)


def test_reopen_voids_signatures(signed, marketing):
    draft_reopen(version=signed, user=marketing)
    assert not SignOff.objects.filter(version=signed, voided_at__isnull=True).exists()


def test_publish_refused_without_both_sides(draft, marketing):
    draft_propose(version=draft, user=marketing)
    draft_sign(version=draft, user=marketing, side="marketing")
    with pytest.raises(AgreementError, match="missing: Sales"):
        draft_publish(version=draft, user=marketing)
    draft.refresh_from_db()
    assert draft.status == Status.PROPOSED


def test_publish_activates_retires_records_mails_and_signals_once(
    signed, active, marketing, sales, django_capture_on_commit_callbacks
):
    received = []

    def receiver(sender, version_id, **kwargs):
        received.append((sender, version_id, connection.in_atomic_block))

    agreement_published.connect(receiver)
    try:
        with django_capture_on_commit_callbacks(execute=True):
            draft_publish(version=signed, user=sales)
    finally:
        agreement_published.disconnect(receiver)
    signed.refresh_from_db()
    active.refresh_from_db()
    assert (signed.status, signed.published_by) == (Status.ACTIVE, sales)
    assert signed.published_at is not None
    assert (active.status, active.retired_at is not None) == (Status.RETIRED, True)
    assert received == [(AgreementVersion, signed.pk, True)]  # once, inside the transaction
    # The leads app's real receiver queued exactly one full rescore of the new version on commit.
    assert list(RescoreJob.objects.values_list("version_id", flat=True)) == [signed.pk]
    assert len(mail.outbox) == 1
    assert sorted(mail.outbox[0].to) == ["marketing@example.com", "sales@example.com"]
    assert f"Version {signed.number} “{signed.title}” of the agreement is now active" == mail.outbox[0].subject
    assert actions(signed)[-1] == "published"
    assert actions(active)[-1] == "retired"


def test_publish_inside_a_rolled_back_transaction_sends_no_mail_and_changes_nothing(
    signed, active, sales, django_capture_on_commit_callbacks
):
    queued = []

    def receiver(sender, version_id, **kwargs):
        transaction.on_commit(lambda: queued.append(version_id))

    agreement_published.connect(receiver)
    try:
        with django_capture_on_commit_callbacks(execute=True) as callbacks:
            try:
                with transaction.atomic():
                    draft_publish(version=signed, user=sales)
                    raise RuntimeError("boom")
            except RuntimeError:
                pass
    finally:
        agreement_published.disconnect(receiver)
    assert callbacks == [] and queued == [] and mail.outbox == []
    assert not RescoreJob.objects.exists()
    signed.refresh_from_db()
    active.refresh_from_db()
    assert (signed.status, active.status) == (Status.PROPOSED, Status.ACTIVE)


def test_abandon_keeps_the_draft_in_history(draft, marketing, sales):
    draft_abandon(version=draft, user=sales, reason="Start over")
    draft.refresh_from_db()
    assert draft.status == Status.ABANDONED
    assert actions(draft)[-1] == "abandoned"
    with pytest.raises(AgreementError):
        draft_save(version=draft, user=sales, spec=draft.spec, base_revision=draft.revision)
    assert draft_start(user=marketing).number == draft.number + 1


def test_comments_reply_resolve_reopen(draft, marketing, sales):
    thread = comment_add(version=draft, user=marketing, body="Is +15 too much?", rule_id="f1")
    reply = comment_add(version=draft, user=sales, body="Keep it.", parent=thread)
    assert reply.rule_id == "f1" and reply.parent == thread
    with pytest.raises(AgreementError, match="no longer in this version"):
        comment_add(version=draft, user=marketing, body="?", rule_id="nope")
    with pytest.raises(AgreementError, match="Write something"):
        comment_add(version=draft, user=marketing, body="   ")
    comment_resolve(comment=thread, user=sales)
    with pytest.raises(AgreementError, match="already resolved"):
        comment_resolve(comment=thread, user=sales)
    comment_reopen(comment=thread, user=marketing)
    thread.refresh_from_db()
    assert thread.resolved_at is None
    assert actions(draft)[-4:] == ["commented", "commented", "comment_resolved", "comment_reopened"]

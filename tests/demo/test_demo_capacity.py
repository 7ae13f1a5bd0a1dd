"""The demo's SDR capacities fit its volume: publishing a next version with a lower threshold
gives every new MQL an owner."""

from __future__ import annotations

from io import StringIO

import pytest
from django.contrib.auth import get_user_model
from django.core.management import call_command

from alignment import services as agreement
from alignment.models import AgreementVersion
from leads.models import Lead, RescoreJob, Stage
from leads.scoring.job_result import job_result
from sla.models import Notification

pytestmark = pytest.mark.django_db


def test_publishing_the_demos_next_version_strands_no_lead(django_capture_on_commit_callbacks):
    call_command("seed_demo", "--leads", "1500", "--weeks", "6", "--seed", "3", stdout=StringIO())
    users = get_user_model().objects.in_bulk(["marketing", "sales"], field_name="username")
    active = AgreementVersion.objects.active()
    draft = agreement.draft_start(user=users["marketing"], title="Lower threshold")
    AgreementVersion.objects.filter(pk=draft.pk).update(
        spec={**draft.spec, "mql_threshold": active.spec["mql_threshold"] - 10}
    )
    draft.refresh_from_db()
    agreement.draft_propose(version=draft, user=users["marketing"])
    agreement.draft_sign(version=draft, user=users["marketing"], side="marketing")
    agreement.draft_sign(version=draft, user=users["sales"], side="sales")

    with django_capture_on_commit_callbacks(execute=True):
        agreement.draft_publish(version=draft, user=users["marketing"])

    job = RescoreJob.objects.filter(version=draft).latest("created_at")
    result = job_result(job)
    assert result.new_mqls > 50
    assert result.sentence.endswith("all routed")
    assert not Lead.objects.filter(stage=Stage.MQL, owner__isnull=True).exists()
    assert not Notification.objects.filter(kind=Notification.Kind.BACKLOG).exists()

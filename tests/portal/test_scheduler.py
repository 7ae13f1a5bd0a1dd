"""The embedded scheduler: beat's schedule run in-process when no Celery beat runs (``make run``)."""

from __future__ import annotations

import datetime as dt

from celery.schedules import crontab
from django.core.management import call_command
from django.utils import timezone

from leads.models import Stage
from portal import scheduler
from sla.models import Alert, Notification
from tests.factories import AgreementVersionFactory, LeadFactory
from tests.sla.conftest import history


def test_every_beat_job_is_known_to_the_scheduler(settings):
    names = {entry.name for entry in scheduler.entries()}
    assert names == set(settings.CELERY_BEAT_SCHEDULE)


def test_interval_jobs_are_due_at_start_and_crontab_jobs_wait_for_their_time():
    beat = {
        "often": {"task": "sla.tasks.check_breaches", "schedule": 300.0},
        "nightly": {"task": "leads.tasks.rescore_aged", "schedule": crontab(hour=2, minute=30)},
    }
    due = {entry.name: entry.due_in()[0] for entry in scheduler.entries(beat)}
    assert due == {"often": True, "nightly": False}


def test_an_overdue_lead_gets_a_breach_warning_from_the_embedded_scheduler(db, sdr, manager, team, settings):
    settings.CELERY_BEAT_SCHEDULE = {"sla-check-breaches": {"task": "sla.tasks.check_breaches", "schedule": 300.0}}
    AgreementVersionFactory()
    lead = LeadFactory(owner=sdr, team=team, grade="A")
    mql_at = timezone.now() - dt.timedelta(days=8)
    history(lead, (Stage.NEW, mql_at - dt.timedelta(days=1)), (Stage.MQL, mql_at))

    call_command("run_schedule", "--once")

    assert Alert.objects.get(lead=lead).threshold == Alert.Threshold.BREACH
    assert set(Notification.objects.values_list("user__username", "kind")) == {
        ("sdr1", "breach"),
        ("manager", "breach"),
    }


def test_a_failing_job_does_not_stop_the_others(db, settings):
    settings.CELERY_BEAT_SCHEDULE = {
        "broken": {"task": "sla.tasks.no_such_task", "schedule": 60.0},
        "breaches": {"task": "sla.tasks.check_breaches", "schedule": 60.0},
    }
    ran, wait = scheduler.run_due(scheduler.entries())
    assert ran == ["broken", "breaches"]
    assert not scheduler.run_entry(scheduler.entries()[0])
    assert 1.0 <= wait <= 60.0

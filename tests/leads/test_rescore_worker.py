"""A real Celery worker (subprocess) against Redis rescoring committed data in the test database."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
from django.conf import settings
from django.db import connection, transaction
from django.utils import timezone

from alignment.models import AgreementVersion
from alignment.signals import agreement_published
from leads.models import Lead, RescoreJob, Stage, Transition
from leads.scoring.scorer import explain, next_stage
from portal.celery import app
from tests.factories import ActivityFactory, AgreementVersionFactory, LeadFactory
from tests.processes import stop_process

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def worker(transactional_db):
    """Start `celery -A portal worker` on the test database; stop it (by its pid) afterwards."""
    if not settings.REDIS_URL:
        pytest.skip("REDIS_URL is not set: the real-worker test needs Redis (make test sets it).")
    db = connection.settings_dict
    env = {
        **os.environ,
        "DATABASE_URL": f"postgres://{db['USER']}@{db['HOST']}:{db['PORT']}/{db['NAME']}",
        "REDIS_URL": settings.REDIS_URL,
        "CELERY_EAGER": "0",
        "ACCORD_RESCORE_CHUNK": "7",
    }
    app.control.purge()  # nothing left over from an earlier run on this Redis db
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "celery",
            "-A",
            "portal",
            "worker",
            "--pool=solo",
            "--loglevel=INFO",
            "--without-gossip",
            "--without-mingle",
            "-n",
            f"rescore-test-{os.getpid()}@%h",
        ],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    eager = app.conf.task_always_eager
    app.conf.task_always_eager = False
    try:
        yield proc
    finally:
        app.conf.task_always_eager = eager
        stop_process(proc)


def wait_for_job(version, proc, timeout=60.0) -> RescoreJob:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        job = RescoreJob.objects.filter(version=version).order_by("-id").first()
        if job and job.status == RescoreJob.Status.DONE:
            return job
        if proc.poll() is not None:
            pytest.fail(f"the worker exited early:\n{proc.stdout.read()}")
        time.sleep(0.2)
    proc.terminate()
    pytest.fail(f"the rescore did not finish within {timeout} s:\n{proc.communicate(timeout=15)[0]}")


@pytest.mark.worker
def test_publishing_rescores_every_lead_on_a_real_worker(worker, settings):
    settings.ACCORD_RESCORE_CHUNK = 7  # the publish records its job (and chunks) in this process
    version = AgreementVersionFactory(number=1)
    now = timezone.now()
    leads = [LeadFactory(budget="confirmed" if i % 3 == 0 else "") for i in range(30)]
    for lead in leads[::4]:
        ActivityFactory(lead=lead, kind="demo_request", occurred_at=now)
    Lead.objects.filter(pk=leads[5].pk).delete()  # an id gap

    with transaction.atomic():  # the publish transaction: the task is queued only once it commits
        agreement_published.send(sender=AgreementVersion, version_id=version.id)

    job = wait_for_job(version, worker)
    assert (job.total_chunks, job.done_chunks, job.leads_done) == (5, 5, 29)
    for lead in Lead.objects.select_related("account"):
        expected = explain(lead, version.spec, timezone.now())
        assert lead.scored_version_id == version.id
        assert (lead.fit_score, lead.engagement_score, lead.grade) == (
            expected.fit,
            expected.engagement,
            expected.grade,
        )
        assert lead.stage == next_stage(
            Stage.NEW, qualifies=expected.qualifies, knocked_out=False, worked=False, new_version=True, held=False
        )
    mqls = Lead.objects.filter(stage=Stage.MQL).count()
    assert mqls > 0
    assert Transition.objects.filter(to_stage=Stage.MQL, actor__isnull=True).count() == mqls

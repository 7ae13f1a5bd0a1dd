"""Scoring is never lost: a private Redis that dies and comes back empty, a worker killed with SIGKILL,
beat running the sweeper — every lead still ends scored by the active version and every job closes.

Each test starts its own ``redis-server`` on a free port (without persistence), a Celery worker and
beat on the test database, with a 3-second chunk lease and a 1-second sweep so that recovery, bounded
by lease + sweep period in production too (90 s by default), takes seconds here.
"""

from __future__ import annotations

import datetime as dt
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import psycopg2
import pytest
import redis
from django.conf import settings as django_settings
from django.db import connection, transaction
from django.test import Client
from django.utils import timezone

from alignment.models import AgreementVersion
from alignment.signals import agreement_published
from leads.intake import writes as intake
from leads.models import Activity, Lead, RescoreChunk, RescoreJob, Stage, Transition
from leads.scoring.rescoring import rescore_job_chunk, rescore_job_start, rescore_leads
from leads.scoring.scorer import explain
from portal.celery import app
from tests.factories import AgreementVersionFactory, LeadFactory
from tests.processes import stop_process

ROOT = Path(__file__).resolve().parents[2]
LEASE_SECONDS, SWEEP_SECONDS = 3, 1

pytestmark = [pytest.mark.worker, pytest.mark.django_db(transaction=True)]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Stack:
    """A private Redis, a worker and beat, started and stopped by pid (never by name)."""

    def __init__(self, tmp_path: Path):
        self.tmp = tmp_path
        self.port = _free_port()
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self.procs: dict[str, subprocess.Popen] = {}
        db = connection.settings_dict
        self.dsn = {"dbname": db["NAME"], "user": db["USER"], "host": db["HOST"], "port": db["PORT"]}
        self.env = {
            **os.environ,
            "DATABASE_URL": f"postgres://{db['USER']}@{db['HOST']}:{db['PORT']}/{db['NAME']}",
            "REDIS_URL": self.url,
            "CELERY_EAGER": "0",
            "ACCORD_RESCORE_CHUNK": "10",
            "ACCORD_RESCORE_LEASE_SECONDS": str(LEASE_SECONDS),
            "ACCORD_RESCORE_SWEEP_SECONDS": str(SWEEP_SECONDS),
        }

    def _start(self, name: str, args: list[str]) -> subprocess.Popen:
        log = open(self.tmp / f"{name}.log", "a")  # noqa: SIM115 - closed with the process in stop()
        proc = subprocess.Popen(args, cwd=ROOT, env=self.env, stdout=log, stderr=subprocess.STDOUT)
        proc.log = log
        self.procs[name] = proc
        return proc

    def redis_up(self) -> None:
        self._start("redis", ["redis-server", "--port", str(self.port), "--save", "", "--appendonly", "no"])
        client = redis.Redis(port=self.port)
        for _ in range(100):
            try:
                if client.ping():
                    return
            except redis.ConnectionError:
                time.sleep(0.05)
        pytest.fail("the private redis-server did not start")

    def worker_up(self) -> None:
        name = f"durable-{os.getpid()}-{len(self.procs)}@%h"
        self._start(
            "worker",
            [sys.executable, "-m", "celery", "-A", "portal", "worker", "--pool=solo", "--loglevel=INFO"]
            + ["--without-gossip", "--without-mingle", "--without-heartbeat", "-n", name],
        )

    def beat_up(self) -> None:
        self._start(
            "beat",
            [sys.executable, "-m", "celery", "-A", "portal", "beat", "--loglevel=INFO"]
            + ["-S", "celery.beat:PersistentScheduler", "-s", str(self.tmp / "beat-schedule")],
        )

    def kill(self, name: str) -> None:
        """SIGKILL: no clean shutdown, no ack, no rollback sent by the process itself."""
        proc = self.procs.pop(name)
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=10)
        proc.log.close()

    def stop(self) -> None:
        for name in list(self.procs):
            proc = self.procs.pop(name)
            stop_process(proc)
            proc.log.close()

    def logs(self) -> str:
        return "\n".join(f"--- {p.name}\n{p.read_text()[-4000:]}" for p in sorted(self.tmp.glob("*.log")))

    def wait_for(self, condition, *, timeout: float, what: str) -> float:
        """Seconds until ``condition()`` held; fails with the processes' logs after ``timeout``."""
        start = time.monotonic()
        while time.monotonic() - start < timeout:
            if condition():
                return time.monotonic() - start
            for name, proc in self.procs.items():
                if proc.poll() is not None:
                    pytest.fail(f"{name} exited early:\n{self.logs()}")
            time.sleep(0.2)
        pytest.fail(f"{what} not within {timeout} s:\n{self.logs()}")

    def hold_lead(self, lead_id: int):
        """Lock one lead row from another connection: a chunk that reaches it waits, mid-transaction."""
        holder = psycopg2.connect(**self.dsn)
        with holder.cursor() as cursor:
            cursor.execute("SELECT id FROM leads_lead WHERE id = %s FOR UPDATE", [lead_id])
        return holder


@pytest.fixture
def stack(transactional_db, tmp_path, settings):
    if not django_settings.REDIS_URL:
        pytest.skip("REDIS_URL is not set: the real-worker tests need Redis (make test sets it).")
    if shutil.which("redis-server") is None:
        pytest.skip("redis-server is not installed")
    stack = Stack(tmp_path)
    # Jobs started in this process (a publish) get the same chunks and leases as the worker's.
    settings.ACCORD_RESCORE_CHUNK = 10
    settings.ACCORD_RESCORE_LEASE_SECONDS = LEASE_SECONDS
    # This process queues its wake-up calls to the private Redis too.
    saved = app.conf.broker_url, app.conf.task_always_eager
    app.conf.broker_url, app.conf.task_always_eager = stack.url, False
    app._pool, app.amqp._producer_pool = None, None
    try:
        yield stack
    finally:
        stack.stop()
        app.conf.broker_url, app.conf.task_always_eager = saved
        app._pool, app.amqp._producer_pool = None, None


def assert_scored_by(version: AgreementVersion, leads=None) -> None:
    now = timezone.now()
    for lead in leads or Lead.objects.select_related("account"):
        lead.refresh_from_db()
        expected = explain(lead, version.spec, now)
        assert (lead.scored_version_id, lead.rescore_requested_at) == (version.id, None), lead.id
        assert (lead.fit_score, lead.engagement_score, lead.grade) == (
            expected.fit,
            expected.engagement,
            expected.grade,
        )


def assert_one_transition_per_move() -> None:
    """Idempotence: every stage move is logged once, however often its chunk ran."""
    for lead in Lead.objects.all():
        stages = list(lead.transitions.order_by("at", "id").values_list("to_stage", flat=True))
        assert stages[-1:] in ([lead.stage], []), lead.id
        assert all(a != b for a, b in zip(stages, stages[1:], strict=False)), (lead.id, stages)


def publish(version: AgreementVersion) -> RescoreJob:
    with transaction.atomic():  # the publish transaction: the job is recorded with it
        agreement_published.send(sender=AgreementVersion, version_id=version.id)
    return RescoreJob.objects.filter(version=version).latest("id")


def job_done(job: RescoreJob):
    return lambda: RescoreJob.objects.get(pk=job.pk).status == RescoreJob.Status.DONE


def test_activities_arriving_while_the_broker_is_down_are_stored_once_and_rescored_once_it_returns(stack):
    version = AgreementVersionFactory(number=1)
    leads = [LeadFactory(budget="confirmed" if i % 4 == 0 else "") for i in range(40)]
    rescore_leads(lead_ids=[lead.id for lead in leads])  # every lead already on the active version
    _, raw = intake.api_token_create(name="Marketing automation")
    api = Client(HTTP_AUTHORIZATION=f"Bearer {raw}")
    stack.redis_up()
    stack.worker_up()
    stack.beat_up()

    stack.kill("redis")
    accepted, duplicates = 0, 0
    now = timezone.now()
    for n in range(8):
        batch = [
            {
                "lead_id": lead.id,
                "kind": ("demo_request", "pricing_page_visit", "web_visit")[i % 3],
                "occurred_at": (now - dt.timedelta(minutes=i)).isoformat(),
                "external_id": f"outage-{n}-{i}",
            }
            for i, lead in enumerate(leads[n * 5 : n * 5 + 5])
        ]
        for _ in range(2 if n % 3 == 0 else 1):  # some clients retry a batch they think was lost
            response = api.post("/api/v1/activities", {"activities": batch}, content_type="application/json")
            assert response.status_code == 202, response.content
            accepted += response.json()["accepted"]
            duplicates += response.json()["duplicates"]
    assert (accepted, duplicates) == (40, 15)
    assert Activity.objects.count() == Activity.objects.values("external_id").distinct().count() == 40
    assert Lead.objects.filter(rescore_requested_at__isnull=False).count() == 40  # all waiting, none lost

    time.sleep(2)
    stack.redis_up()  # back, empty: every message sent before the outage is gone too
    took = stack.wait_for(
        lambda: not Lead.objects.filter(rescore_requested_at__isnull=False).exists(),
        timeout=120,
        what="every touched lead rescored",
    )
    assert took < 120
    assert_scored_by(version)
    assert_one_transition_per_move()


def test_a_worker_killed_mid_chunk_leaves_the_chunk_to_another_and_the_job_closes(stack):
    version = AgreementVersionFactory(number=1)
    leads = [LeadFactory(budget="confirmed" if i % 3 == 0 else "") for i in range(30)]
    stack.redis_up()
    stack.worker_up()
    stack.beat_up()
    holder = stack.hold_lead(leads[0].id)  # the first chunk stops inside its transaction
    try:
        job = publish(version)
        first = job.chunks.order_by("id_from").first()
        stack.wait_for(
            lambda: RescoreChunk.objects.filter(pk=first.pk, claimed_at__isnull=False).exists(),
            timeout=30,
            what="the first chunk claimed",
        )
        time.sleep(0.5)
        stack.kill("worker")
    finally:
        holder.rollback()
        holder.close()
    stack.worker_up()

    stack.wait_for(job_done(job), timeout=60, what="the job closed")
    first.refresh_from_db()
    assert first.attempts == 2  # the dead worker's claim, then the one the sweeper queued
    assert not RescoreChunk.objects.filter(job=job, done_at__isnull=True).exists()
    assert_scored_by(version)
    assert Transition.objects.filter(to_stage=Stage.MQL).count() == Lead.objects.filter(stage=Stage.MQL).count() > 0
    assert_one_transition_per_move()


def test_a_job_left_running_with_every_chunk_done_is_closed_and_later_leads_are_still_scored(stack):
    """What a worker killed between a chunk's commit and its job's close left behind (the last chunk
    now closes its job in its own transaction, so only older jobs can be found in this state)."""
    version = AgreementVersionFactory(number=1)
    mql_at = timezone.now() - dt.timedelta(hours=3)
    open_mql = LeadFactory(budget="confirmed", stage=Stage.MQL, mql_at=mql_at, sla_due_at=mql_at)
    LeadFactory()
    job = rescore_job_start(version_id=version.id)
    for chunk in job.chunks.all():
        rescore_job_chunk(chunk_id=chunk.id)
    RescoreJob.objects.filter(pk=job.pk).update(status=RescoreJob.Status.RUNNING, finished_at=None)
    Lead.objects.filter(pk=open_mql.pk).update(sla_due_at=mql_at)
    stack.redis_up()
    stack.worker_up()
    stack.beat_up()
    # Leads arriving afterwards, through the API: the open job must not keep them unscored.
    later = intake.leads_upsert(rows=[{"email": f"later{i}@leadforge.io", "budget": "confirmed"} for i in range(5)])

    stack.wait_for(job_done(job), timeout=30, what="the job closed")
    open_mql.refresh_from_db()
    assert open_mql.sla_due_at != mql_at  # the close re-timed it to the version's SLA terms
    stack.wait_for(
        lambda: Lead.objects.filter(pk__in=later.created, scored_version=version).count() == 5,
        timeout=30,
        what="the later leads scored",
    )
    assert_scored_by(version)


def test_redis_restarted_without_persistence_during_a_job_loses_no_chunk(stack):
    version = AgreementVersionFactory(number=1)
    leads = [LeadFactory(budget="confirmed" if i % 3 == 0 else "") for i in range(50)]
    stack.redis_up()
    stack.worker_up()
    stack.beat_up()
    holder = stack.hold_lead(leads[0].id)
    try:
        job = publish(version)  # five chunks: the first in progress, four messages waiting in Redis
        stack.wait_for(
            lambda: RescoreChunk.objects.filter(job=job, claimed_at__isnull=False).exists(),
            timeout=30,
            what="a chunk claimed",
        )
        assert redis.Redis(port=stack.port).llen("celery") >= 1
        stack.kill("redis")
        stack.redis_up()  # empty: the waiting chunk messages and the unacked one are gone
    finally:
        holder.rollback()
        holder.close()

    stack.wait_for(job_done(job), timeout=60, what="the job closed")
    assert job.chunks.filter(done_at__isnull=True).count() == 0
    assert_scored_by(version)
    assert_one_transition_per_move()

"""Publishing while a chunk runs, with real threads and connections: no lead ends up scored by a retired version."""

from __future__ import annotations

import threading
import time

import pytest
from django.db import connection, transaction

from alignment.models import AgreementVersion
from leads.models import Lead
from leads.scoring.rescoring import _hold_active, rescore_leads
from tests.factories import AgreementVersionFactory, LeadFactory


def retire(version_id: int, done: threading.Event) -> None:
    """What draft_publish does to the version in force: lock it and retire it."""
    try:
        with transaction.atomic():
            AgreementVersion.objects.select_for_update().filter(pk=version_id).update(status="retired")
        done.set()
    finally:
        connection.close()


@pytest.mark.django_db(transaction=True)
def test_publishing_waits_for_a_running_chunk_and_later_chunks_write_nothing():
    version = AgreementVersionFactory(number=1)
    leads = [LeadFactory() for _ in range(3)]
    retired = threading.Event()
    with transaction.atomic():
        assert _hold_active(version.id) is not None  # a chunk in progress holds the version (FOR SHARE)
        publisher = threading.Thread(target=retire, args=(version.id, retired))
        publisher.start()
        time.sleep(0.5)
        assert not retired.is_set()  # the publish waits for the chunk's commit
        rescore_leads(lead_ids=[leads[0].id], version=version)
    publisher.join(timeout=10)
    assert retired.is_set()
    # A chunk that starts after the publish sees a retired version and leaves its leads alone.
    assert rescore_leads(lead_ids=[leads[1].id], version=version).scored == 0
    scored = dict(Lead.objects.values_list("id", "scored_version"))
    assert scored == {leads[0].id: version.id, leads[1].id: None, leads[2].id: None}


@pytest.mark.django_db(transaction=True)
def test_two_chunks_of_one_job_run_side_by_side(monkeypatch):
    """A chunk in progress holds its own chunk row and the version (shared), nothing a second chunk
    of the same job needs: a worker with two processes scores two id ranges at once."""
    from leads.models import RescoreChunk, RescoreJob
    from leads.scoring import rescoring

    version = AgreementVersionFactory(number=1)
    leads = [LeadFactory() for _ in range(4)]
    job = rescoring.rescore_job_start(version_id=version.id, chunk_size=2)
    first, second = list(job.chunks.order_by("id_from").values_list("id", flat=True))
    inside, release = threading.Event(), threading.Event()
    real_rescore = rescoring._rescore

    def held_open(*, target, version, now, announce=True):
        result = real_rescore(target=target, version=version, now=now, announce=announce)
        if target.id_from == leads[0].id:
            inside.set()
            release.wait(timeout=10)  # the first chunk's transaction stays open until released
        return result

    monkeypatch.setattr(rescoring, "_rescore", held_open)
    errors = []

    def run_first() -> None:
        try:
            rescoring.rescore_job_chunk(chunk_id=first)
        except Exception as exc:
            errors.append(exc)
        finally:
            connection.close()

    worker = threading.Thread(target=run_first)
    worker.start()
    try:
        assert inside.wait(timeout=10)
        started = time.perf_counter()
        with connection.cursor() as cursor:
            cursor.execute("SET lock_timeout = '3s'")  # a wait for the first chunk fails the test
        assert rescoring.rescore_job_chunk(chunk_id=second).scored == 2
        assert rescoring.rescore_job_finish(job_id=job.id) is False  # the first chunk is not done yet
        assert time.perf_counter() - started < 2.5
        assert RescoreChunk.objects.get(pk=first).done_at is None
    finally:
        release.set()
        worker.join(timeout=10)
    assert not errors
    assert rescoring.rescore_job_finish(job_id=job.id) is True
    assert RescoreJob.objects.get(pk=job.pk).status == RescoreJob.Status.DONE
    assert set(Lead.objects.values_list("scored_version", flat=True)) == {version.id}

"""Publishing while a chunk runs, with real threads and connections: no lead ends up scored by a retired version."""

from __future__ import annotations

import threading
import time

import pytest
from django.db import connection, transaction

from alignment.models import AgreementVersion
from leads.models import Lead
from leads.rescoring import _hold_active, rescore_leads
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

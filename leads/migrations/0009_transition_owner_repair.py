"""System moves that released an owner logged no owner: name the one released at that instant.

A rescore that withdrew an unworked MQL (or moved a lead that still had an owner back into MQL)
cleared the owner before writing the transition, while the ``Assignment`` row written at the same
instant names the owner released. Per-SDR figures attribute a pass to the owner on the
transition that ends it, so those passes showed as "Unassigned". The assignment log says who
it was: the released owner of the same lead at the same instant.
"""

from django.db import migrations
from django.db.models import Exists, OuterRef, Subquery

BATCH = 1000


def repair(apps, schema_editor):
    Transition = apps.get_model("leads", "Transition")
    Assignment = apps.get_model("leads", "Assignment")
    # Found through assignment_lead_at_idx (lead, at).
    released = Assignment.objects.filter(
        lead_id=OuterRef("lead_id"),
        at=OuterRef("at"),
        reason="released",
        actor__isnull=True,
        from_owner__isnull=False,
    ).order_by("id")
    stale = Transition.objects.filter(actor__isnull=True, owner__isnull=True).filter(Exists(released))
    lead_ids = sorted(set(stale.values_list("lead_id", flat=True)))
    if not lead_ids:
        return
    stale.update(owner_id=Subquery(released.values("from_owner_id")[:1]))
    # The SLA pass table copies each ending transition's owner and is refreshed for the leads its
    # triggers queue on INSERT; an UPDATE of the log queues nothing, so queue these leads here.
    connection = schema_editor.connection
    if "sla_dirtylead" in connection.introspection.table_names():
        with connection.cursor() as cursor:
            for start in range(0, len(lead_ids), BATCH):
                cursor.executemany(
                    "INSERT INTO sla_dirtylead (lead_id) VALUES (%s)", [(i,) for i in lead_ids[start : start + BATCH]]
                )


class Migration(migrations.Migration):
    dependencies = [("leads", "0007_hot_rescore")]

    operations = [migrations.RunPython(repair, migrations.RunPython.noop)]

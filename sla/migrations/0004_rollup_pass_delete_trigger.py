"""Deleted passes (a lead deleted) mark their days stale, so the roll-up never counts what is gone."""

from django.db import migrations

# The calendar's time zone is not known here: mark the UTC date and both neighbours (any offset
# within a day), which only costs a re-aggregation of a day or two more.
POSTGRES_FORWARD = [
    """
    CREATE OR REPLACE FUNCTION sla_pass_deleted() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
      INSERT INTO sla_rollupday (day, stale, generation)
      SELECT DISTINCT CAST((o.start_at AT TIME ZONE 'UTC') AS date) + k, TRUE, 0
      FROM sla_old_passes o CROSS JOIN generate_series(-1, 1) AS k
      ON CONFLICT (day) DO UPDATE SET stale = TRUE;
      RETURN NULL;
    END $$
    """,
    """
    CREATE TRIGGER sla_pass_deleted AFTER DELETE ON sla_pass
    REFERENCING OLD TABLE AS sla_old_passes FOR EACH STATEMENT EXECUTE FUNCTION sla_pass_deleted()
    """,
]
POSTGRES_BACKWARD = [
    "DROP TRIGGER IF EXISTS sla_pass_deleted ON sla_pass",
    "DROP FUNCTION IF EXISTS sla_pass_deleted()",
]


def _run(statements):
    def run(apps, schema_editor):
        if schema_editor.connection.vendor == "postgresql":
            for statement in statements:
                schema_editor.execute(statement)

    return run


class Migration(migrations.Migration):
    dependencies = [("sla", "0003_rollup")]

    operations = [migrations.RunPython(_run(POSTGRES_FORWARD), _run(POSTGRES_BACKWARD))]

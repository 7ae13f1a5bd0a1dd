"""Daily roll-ups of ended passes (PostgreSQL) and a covering index for open passes."""

from django.db import migrations, models

OPEN_COLUMNS = "calendar_key, grade, version_id, team_id, source, persona_id, owner_id, start_cum, lead_id"

POSTGRES_FORWARD = [
    """
    CREATE TABLE sla_rollup (
      day date NOT NULL,
      section varchar(16) NOT NULL,
      team_id bigint,
      source varchar(20) NOT NULL,
      persona_id bigint,
      sdr_id bigint,
      kind varchar(16) NOT NULL,
      reason_code varchar(40) NOT NULL,
      n integer NOT NULL,
      breached integer NOT NULL,
      within integer NOT NULL,
      b0 integer NOT NULL DEFAULT 0, b1 integer NOT NULL DEFAULT 0, b2 integer NOT NULL DEFAULT 0,
      b3 integer NOT NULL DEFAULT 0, b4 integer NOT NULL DEFAULT 0, b5 integer NOT NULL DEFAULT 0,
      b6 integer NOT NULL DEFAULT 0, b_none integer NOT NULL DEFAULT 0,
      vals double precision[]
    )
    """,
    # Figures read a few weeks of days; maintenance replaces whole days.
    "CREATE INDEX sla_rollup_day_idx ON sla_rollup (day, section)",
    # Open passes: the dashboard reads every open MQL (at-risk tile) and the range's open SALs from the
    # index alone (index-only scan) instead of ~13,000 scattered heap rows at 1 M leads.
    f"CREATE INDEX sla_pass_open_cover_idx ON sla_pass (stage, start_at) INCLUDE ({OPEN_COLUMNS})"
    " WHERE end_id IS NULL",
]
POSTGRES_BACKWARD = [
    "DROP INDEX IF EXISTS sla_pass_open_cover_idx",
    "DROP TABLE IF EXISTS sla_rollup",
]
SQLITE_FORWARD = ["CREATE INDEX sla_pass_open_cover_idx ON sla_pass (stage, start_at) WHERE end_id IS NULL"]
SQLITE_BACKWARD = ["DROP INDEX IF EXISTS sla_pass_open_cover_idx"]


def _run(statements_by_vendor):
    def run(apps, schema_editor):
        for statement in statements_by_vendor.get(schema_editor.connection.vendor, []):
            schema_editor.execute(statement)

    return run


class Migration(migrations.Migration):
    dependencies = [
        ("sla", "0002_passes"),
    ]

    operations = [
        migrations.RemoveIndex(model_name="pass", name="sla_pass_open_idx"),
        migrations.AddField(
            model_name="passstate",
            name="rollup_key",
            field=models.CharField(
                blank=True, help_text="Fingerprint of the terms sla_rollup was built with; blank = not built.",
                max_length=16,
            ),
        ),
        migrations.AddField(
            model_name="passstate",
            name="rollup_built_at",
            field=models.DateTimeField(blank=True, null=True),
        ),
        migrations.AddField(
            model_name="passstate",
            name="rollup_build",
            field=models.CharField(
                blank=True, help_text="Random id of the last full roll-up build (part of cache keys).", max_length=32
            ),
        ),
        migrations.CreateModel(
            name="Rollup",
            fields=[
                ("day", models.DateField(primary_key=True, serialize=False)),
                ("section", models.CharField(max_length=16)),
                ("team_id", models.BigIntegerField(null=True)),
                ("source", models.CharField(max_length=20)),
                ("persona_id", models.BigIntegerField(null=True)),
                ("sdr_id", models.BigIntegerField(null=True)),
                ("kind", models.CharField(max_length=16)),
                ("reason_code", models.CharField(max_length=40)),
                ("n", models.IntegerField()),
                ("breached", models.IntegerField()),
                ("within", models.IntegerField()),
            ],
            options={"db_table": "sla_rollup", "managed": False},
        ),
        migrations.CreateModel(
            name="RollupDay",
            fields=[
                ("id", models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name="ID")),
                ("day", models.DateField(unique=True)),
                ("stale", models.BooleanField(default=True)),
                (
                    "generation",
                    models.PositiveIntegerField(default=0, help_text="Bumped whenever the day's rows are rebuilt."),
                ),
            ],
        ),
        migrations.RunPython(
            _run({"postgresql": POSTGRES_FORWARD, "sqlite": SQLITE_FORWARD}),
            _run({"postgresql": POSTGRES_BACKWARD, "sqlite": SQLITE_BACKWARD}),
        ),
    ]

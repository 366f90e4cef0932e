"""Free-text audit search on PostgreSQL: trigram indexes, so `q` finds rare words in millions of rows
without scanning them all.

The indexes cover the exact expressions Django's `icontains` compares (`UPPER(col::text) LIKE …`). They
live in SQL only (no model state): SQLite has no trigram indexes and needs none at its scale. pg_trgm is
a trusted extension (PostgreSQL 13+), so the database owner that runs `migrate` may create it.
"""

from django.db import migrations

INDEXES = {
    "audit_summary_trgm": ("runs_auditevent", "summary"),
    "audit_actor_label_trgm": ("runs_auditevent", "actor_label"),
    "run_request_text_trgm": ("runs_run", "request_text"),
}


def forward(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    schema_editor.execute("CREATE EXTENSION IF NOT EXISTS pg_trgm")
    for name, (table, column) in INDEXES.items():
        schema_editor.execute(
            f"CREATE INDEX IF NOT EXISTS {name} ON {table} USING gin (UPPER({column}::text) gin_trgm_ops)"
        )


def backward(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    for name in INDEXES:
        schema_editor.execute(f"DROP INDEX IF EXISTS {name}")


class Migration(migrations.Migration):
    dependencies = [("runs", "0004_saved_searches")]
    operations = [migrations.RunPython(forward, backward, elidable=False)]

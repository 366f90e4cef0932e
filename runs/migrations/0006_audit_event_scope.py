"""Audit events learn which run and config they are about, for indexed search filters.

The existing rows are filled in from their target (object_type, object_id). On PostgreSQL the
append-only trigger is set aside for exactly that statement set, inside this migration's transaction:
the two columns are lookup data outside the hash chain, so `verify_audit` passes before and after.
"""

import django.db.models.deletion
from django.conf import settings
from django.db import migrations, models
from django.db.models import OuterRef, Subquery
from django.db.models.functions import Cast

TRIGGER = "runs_auditevent_no_update_delete"


def fill_scope(apps, schema_editor):
    AuditEvent = apps.get_model("runs", "AuditEvent")
    Run = apps.get_model("runs", "Run")
    run_rows = {"runs.approval", "runs.artifact", "runs.gateresult", "runs.workspacelock"}
    postgres = schema_editor.connection.vendor == "postgresql"
    if postgres:
        schema_editor.execute(f"ALTER TABLE runs_auditevent DISABLE TRIGGER {TRIGGER}")
    for object_type in run_rows:
        model = apps.get_model(*object_type.split("."))
        rows = model.objects.filter(pk=Cast(OuterRef("object_id"), models.BigIntegerField()))
        AuditEvent.objects.filter(object_type=object_type, object_id__regex=r"^[0-9]+$").update(
            run_id=Subquery(rows.values("run_id")[:1])
        )
    AuditEvent.objects.filter(object_type="runs.run", object_id__regex=r"^[0-9]+$").update(
        run_id=Cast("object_id", models.BigIntegerField())
    )
    AuditEvent.objects.filter(run_id__isnull=False).update(
        config_id=Subquery(Run.objects.filter(pk=OuterRef("run_id")).values("config_id")[:1])
    )
    AuditEvent.objects.filter(object_type="tenants.config", object_id__regex=r"^[0-9]+$").update(
        config_id=Cast("object_id", models.BigIntegerField())
    )
    if postgres:
        # Django's foreign keys are deferred: check them now, since a table with pending trigger events
        # cannot be altered.
        schema_editor.execute("SET CONSTRAINTS ALL IMMEDIATE")
        schema_editor.execute(f"ALTER TABLE runs_auditevent ENABLE TRIGGER {TRIGGER}")


class Migration(migrations.Migration):
    dependencies = [
        ("runs", "0005_audit_search_indexes"),
        ("tenants", "0003_api_tokens_and_freeform_flag"),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.AddField(
            model_name="auditevent",
            name="config",
            field=models.ForeignKey(
                blank=True,
                db_constraint=False,
                db_index=False,
                null=True,
                on_delete=django.db.models.deletion.DO_NOTHING,
                related_name="+",
                to="tenants.config",
            ),
        ),
        migrations.AddField(
            model_name="auditevent",
            name="run",
            field=models.ForeignKey(
                blank=True,
                db_constraint=False,
                null=True,
                on_delete=django.db.models.deletion.DO_NOTHING,
                related_name="+",
                to="runs.run",
            ),
        ),
        migrations.AddIndex(
            model_name="auditevent",
            index=models.Index(fields=["tenant", "config", "-created_at"], name="audit_tenant_config"),
        ),
        migrations.AddIndex(
            model_name="run",
            index=models.Index(fields=["agent", "id"], name="run_agent_ids"),
        ),
        migrations.RunPython(fill_scope, migrations.RunPython.noop, elidable=False),
    ]

"""On PostgreSQL the audit table refuses UPDATE, DELETE and TRUNCATE outright."""

from django.db import migrations

FORBID = """
CREATE OR REPLACE FUNCTION gantry_audit_append_only() RETURNS trigger AS $$
BEGIN
    RAISE EXCEPTION 'runs_auditevent is append-only (% refused)', TG_OP USING ERRCODE = 'insufficient_privilege';
END;
$$ LANGUAGE plpgsql;
CREATE TRIGGER runs_auditevent_no_update_delete BEFORE UPDATE OR DELETE ON runs_auditevent
    FOR EACH ROW EXECUTE FUNCTION gantry_audit_append_only();
CREATE TRIGGER runs_auditevent_no_truncate BEFORE TRUNCATE ON runs_auditevent
    FOR EACH STATEMENT EXECUTE FUNCTION gantry_audit_append_only();
"""

ALLOW = """
DROP TRIGGER IF EXISTS runs_auditevent_no_update_delete ON runs_auditevent;
DROP TRIGGER IF EXISTS runs_auditevent_no_truncate ON runs_auditevent;
DROP FUNCTION IF EXISTS gantry_audit_append_only();
"""


def forward(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(FORBID, params=None)  # the SQL has literal % signs


def backward(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(ALLOW, params=None)


class Migration(migrations.Migration):
    dependencies = [("runs", "0001_initial")]
    operations = [migrations.RunPython(forward, backward, elidable=False)]

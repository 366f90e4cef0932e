"""Load the curated platform blueprints (``blueprints/data/curated.json``).

Uses the historical models and writes no audit event (the audit chain is app state, not schema);
``manage.py load_blueprints`` refreshes the same rows idempotently and audits what it changes.
"""

import hashlib
import json

from django.db import migrations
from django.utils import timezone


def load(apps, schema_editor):
    from blueprints.curated import curated
    from blueprints.stacks import STACKS, parameter_schema

    Blueprint = apps.get_model("blueprints", "Blueprint")
    BlueprintVersion = apps.get_model("blueprints", "BlueprintVersion")
    now = timezone.now()
    for entry in curated():
        if Blueprint.objects.filter(tenant__isnull=True, slug=entry["slug"]).exists():
            continue
        stack = STACKS[entry["stack"]]
        spec = {"stack": stack.name, "parameters": entry["defaults"], "tags": {}}
        sha = hashlib.sha256(
            json.dumps(spec, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str).encode()
        ).hexdigest()
        blueprint = Blueprint.objects.create(
            tenant=None,
            slug=entry["slug"],
            name=entry["name"],
            description=entry["description"],
            stack=stack.name,
            resource_types=sorted(entry.get("resource_types") or stack.resource_types),
            parameter_schema=parameter_schema(stack.name),
            defaults=entry["defaults"],
            status="approved",
        )
        BlueprintVersion.objects.create(
            blueprint=blueprint, number=1, spec=spec, source_sha256=sha, approved_at=now
        )


class Migration(migrations.Migration):
    dependencies = [("blueprints", "0001_initial")]

    operations = [migrations.RunPython(load, migrations.RunPython.noop)]

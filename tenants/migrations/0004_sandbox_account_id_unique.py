"""Each sandbox account its own moto account: re-number duplicates (oldest keeps its id), then forbid them."""

import secrets

from django.db import migrations, models

MOTO_DEFAULT_ACCOUNT_ID = "123456789012"


def renumber_shared_sandbox_ids(apps, schema_editor):
    AwsAccount = apps.get_model("tenants", "AwsAccount")
    taken = set(AwsAccount.objects.values_list("account_id", flat=True)) | {MOTO_DEFAULT_ACCOUNT_ID}
    seen: set[str] = set()
    for account in AwsAccount.objects.filter(mode="sandbox").order_by("pk"):
        if account.account_id not in seen:
            seen.add(account.account_id)
            continue
        fresh = account.account_id
        while fresh in taken:
            fresh = str(10**11 + secrets.randbelow(9 * 10**11))
        taken.add(fresh)
        AwsAccount.objects.filter(pk=account.pk).update(account_id=fresh)


class Migration(migrations.Migration):
    dependencies = [
        ("tenants", "0003_api_tokens_and_freeform_flag"),
    ]

    operations = [
        migrations.RunPython(renumber_shared_sandbox_ids, migrations.RunPython.noop),
        migrations.AddConstraint(
            model_name="awsaccount",
            constraint=models.UniqueConstraint(
                condition=models.Q(("mode", "sandbox")),
                fields=("account_id",),
                name="sandbox_account_id_unique",
                violation_error_message=(
                    "This sandbox account id is already taken; leave it empty a"
                    "nd the platform assigns a fresh one."
                ),
            ),
        ),
    ]

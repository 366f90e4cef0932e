"""Tenant tasks: ids in, services called, nothing returned through the result backend."""

from celery import shared_task

from .aws import AwsAccessError, verify_account_access
from .models import AwsAccount
from .services import account_record_verification


@shared_task(name="tenants.account_verify")
def account_verify(account_id: int) -> None:
    account = AwsAccount.objects.select_related("tenant").filter(pk=account_id).first()
    if account is None:
        return
    try:
        identity = verify_account_access(account)
    except AwsAccessError as exc:
        account_record_verification(account_pk=account.pk, error=str(exc))
    else:
        account_record_verification(account_pk=account.pk, identity=identity)

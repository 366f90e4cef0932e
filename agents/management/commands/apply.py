"""Start the apply of an approved run: ``manage.py apply RUN_ID --user EMAIL``.

The same service as the run page's Apply button (`runs.services.run_request_apply`): the user's role and
config grants, the early staleness check, the audit event; the worker applies exactly the approved plan.
A refusal (or a run found stale) exits 1.
"""

from __future__ import annotations

from django.core.management.base import BaseCommand, CommandError

from agents.management.cli import service_error, user_by_email
from runs.models import Run
from runs.services import run_request_apply
from runs.states import RunStatus, label


class Command(BaseCommand):
    help = "Request the apply of an approved run as the named user (the same checks as the run page)."

    def add_arguments(self, parser):
        parser.add_argument("run_id", type=int)
        parser.add_argument("--user", required=True, help="the email of the member starting the apply")

    def handle(self, *args, **options):
        user = user_by_email(options["user"])
        run_id = options["run_id"]
        try:
            run = run_request_apply(user=user, run_id=run_id)
        except Run.DoesNotExist:
            raise CommandError(f"Run #{run_id} not found.") from None
        except Exception as exc:
            error = service_error(exc)
            if error is None:
                raise
            raise error from None
        if run.status != RunStatus.APPROVED:
            # The early check refused and moved the run (stale, expired): nothing will be applied.
            raise CommandError(f"Not applied: run #{run.pk} is now {label(run.status)}. {run.error}".strip())
        self.stdout.write(f"Apply requested for run #{run.pk} by {user.email}; the worker applies it now.")

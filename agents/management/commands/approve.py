"""Approve a planned run as an approver: ``manage.py approve RUN_ID --user EMAIL [--comment TEXT]
[--ticket ID] [--acknowledge KEY ...]``.

The same service as the run page's Approve button (`runs.approvals.run_approve`): the user's role and
config grants, the change ticket prod needs, the gate warnings to acknowledge, the binding to the current
plan, self-approval rules and the audit event. Any refusal exits 1 and changes nothing.
"""

from __future__ import annotations

from django.core.management.base import BaseCommand, CommandError

from agents.management.cli import service_error, user_by_email
from runs.approvals import live_approvals, run_approve
from runs.models import Run
from runs.states import label


class Command(BaseCommand):
    help = "Approve a planned run as the named approver (the same checks as the run page)."

    def add_arguments(self, parser):
        parser.add_argument("run_id", type=int)
        parser.add_argument("--user", required=True, help="the approver's email")
        parser.add_argument("--comment", default="")
        parser.add_argument("--ticket", default="", help="the change ticket (prod configs need one)")
        parser.add_argument(
            "--acknowledge",
            action="append",
            default=[],
            metavar="KEY",
            help="a gate warning to acknowledge (repeat for each; the run page lists them)",
        )

    def handle(self, *args, **options):
        user = user_by_email(options["user"])
        run_id = options["run_id"]
        try:
            approval = run_approve(
                user=user,
                run_id=run_id,
                comment=options["comment"],
                change_ticket=options["ticket"],
                acknowledged_warnings=options["acknowledge"],
            )
        except Run.DoesNotExist:
            raise CommandError(f"Run #{run_id} not found.") from None
        except Exception as exc:
            error = service_error(exc)
            if error is None:
                raise
            raise error from None
        run = Run.objects.get(pk=approval.run_id)
        given = live_approvals(run).count()
        self.stdout.write(
            f"Run #{run.pk} approved by {user.email} ({given} of {run.approvals_required}); "
            f"status: {label(run.status)}."
        )

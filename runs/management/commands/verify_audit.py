from django.core.management.base import BaseCommand, CommandError

from runs.audit import verify_all, verify_chain


class Command(BaseCommand):
    help = "Re-walk every tenant's audit hash chain and report the first broken link."

    def add_arguments(self, parser):
        parser.add_argument("--chain", help="Verify one chain (a tenant id, or 'platform').")

    def handle(self, *args, chain=None, **options):
        reports = [verify_chain(chain)] if chain else verify_all()
        broken = [r for r in reports if not r.ok]
        for report in reports:
            if report.ok:
                self.stdout.write(f"chain {report.chain}: ok ({report.checked} events)")
            else:
                self.stdout.write(
                    f"chain {report.chain}: BROKEN at event #{report.broken_at}: {report.reason} "
                    f"({report.checked} events verified before it)"
                )
        if broken:
            raise CommandError(f"{len(broken)} audit chain(s) broken")
        self.stdout.write(self.style.SUCCESS(f"{len(reports)} chain(s) verified"))

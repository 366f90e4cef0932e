"""Load or refresh the curated platform blueprints (idempotent)."""

from django.core.management.base import BaseCommand

from blueprints.services import blueprint_load_curated


class Command(BaseCommand):
    help = "Create or refresh the curated platform blueprints from blueprints/data/curated.json."

    def handle(self, *args, **options):
        report = blueprint_load_curated()
        for outcome in ("created", "updated", "unchanged"):
            if report[outcome]:
                self.stdout.write(f"{outcome}: {', '.join(report[outcome])}")
        self.stdout.write(self.style.SUCCESS("Curated blueprints loaded."))

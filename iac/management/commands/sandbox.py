from django.conf import settings
from django.core.management.base import BaseCommand

from iac import sandbox


class Command(BaseCommand):
    help = "Run the embedded AWS sandbox (moto in server mode) on loopback until interrupted."

    def add_arguments(self, parser):
        parser.add_argument("--host", default=settings.GANTRY_SANDBOX_HOST)
        parser.add_argument("--port", type=int, default=settings.GANTRY_SANDBOX_PORT)

    def handle(self, *args, host, port, **options):
        self.stdout.write(f"Embedded AWS sandbox on http://{host}:{port}")
        sandbox.run_forever(host, port)

from pathlib import Path

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from iac import sandbox

DEFAULT_STATE = Path(settings.VAR_DIR) / "sandbox" / "state.pickle"


class Command(BaseCommand):
    help = (
        "Run the embedded AWS sandbox (moto in server mode) on loopback until interrupted; its world is "
        "restored from and saved to a snapshot file unless --ephemeral."
    )

    def add_arguments(self, parser):
        parser.add_argument("--host", default=settings.GANTRY_SANDBOX_HOST)
        parser.add_argument("--port", type=int, default=settings.GANTRY_SANDBOX_PORT)
        parser.add_argument("--state", type=Path, default=DEFAULT_STATE, help="snapshot file")
        parser.add_argument("--ephemeral", action="store_true", help="start empty and save nothing")
        parser.add_argument(
            "--save-after", type=float, default=5.0, help="save after this many seconds without requests"
        )

    def handle(self, *args, host, port, state, ephemeral, save_after, **options):
        self.stdout.write(f"Embedded AWS sandbox on http://{host}:{port}")
        if not ephemeral:
            self.stdout.write(f"Sandbox state: {state} (restored at start, saved when quiet and at exit)")
        try:
            sandbox.run_forever(host, port, state_path=None if ephemeral else state, quiet_seconds=save_after)
        except sandbox.SandboxError as exc:
            raise CommandError(str(exc)) from exc

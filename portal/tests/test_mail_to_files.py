"""On embedded defaults outgoing mail is written to files under var/mail, not to the console."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
SEND = "from django.core.mail import send_mail; send_mail('Verify', 'link: /confirm/abc', None, ['new@user.test'])"


def test_a_message_sent_on_embedded_defaults_lands_in_var_mail(tmp_path):
    env = {k: v for k, v in os.environ.items() if not k.startswith("EMAIL_")}
    env["GANTRY_VAR_DIR"] = str(tmp_path)
    sent = subprocess.run(
        [sys.executable, "manage.py", "shell", "-c", SEND],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert sent.returncode == 0, sent.stderr
    assert "/confirm/abc" not in sent.stdout
    messages = list((tmp_path / "mail").iterdir())
    assert len(messages) == 1
    assert "/confirm/abc" in messages[0].read_text()

"""SSM Run Command: `AWS-RunShellScript` on running instances.

Operators may run only the curated read-only commands below, matched whole by strict patterns that
admit no shell metacharacter. Any other command is a free command: it needs `allow_free_command`,
which the caller grants only to approvers where the tenant allows it, and it is planned as high risk.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from pydantic import BaseModel, Field

from iac.redaction import redact

from ._common import StrictArgs
from .base import ActionContext, ActionFailed, ActionRequestInvalid, ActionSpec, Downtime, Target
from .ec2 import observe_instances, resolve_instances

DOCUMENT = "AWS-RunShellScript"
COMMAND_TIMEOUT_SECONDS = 120
MAX_OUTPUT_CHARS = 4000
SANDBOX_NOTE = "The sandbox runs no command: SSM reports Success with no output."
FINAL_STATUSES = frozenset({"Success", "Failed", "Cancelled", "TimedOut", "Undeliverable", "Terminated"})

_UNIT = r"[A-Za-z0-9][A-Za-z0-9@._-]{0,99}"
_PATH = r"/[A-Za-z0-9._/-]{0,200}"
# Read-only diagnostics, each matched in full.
CURATED_COMMANDS: dict[str, re.Pattern[str]] = {
    "df -h [path]": re.compile(rf"df -h( {_PATH})?"),
    "df -i": re.compile(r"df -i"),
    "uptime": re.compile(r"uptime"),
    "free -m | free -h": re.compile(r"free -[mh]"),
    "uname -a": re.compile(r"uname -a"),
    "nproc": re.compile(r"nproc"),
    "lsblk": re.compile(r"lsblk"),
    "cat /etc/os-release": re.compile(r"cat /etc/os-release"),
    "ss -tln": re.compile(r"ss -tln"),
    "systemctl status <unit>": re.compile(rf"systemctl status {_UNIT}( --no-pager)?"),
    "systemctl is-active <unit>": re.compile(rf"systemctl is-active {_UNIT}"),
    "journalctl -u <unit> -n <N>": re.compile(
        rf"journalctl -u {_UNIT} -n ([1-9][0-9]{{0,2}}|1000)( --no-pager)?"
    ),
}
SHELL_METACHARACTERS = re.compile(r"[;&|`$<>(){}\[\]\\'\"*?!~#%\n\r\t]")


class CommandArgs(StrictArgs):
    command: str = Field(min_length=1, max_length=2000)


def curated(command: str) -> bool:
    if SHELL_METACHARACTERS.search(command):
        return False
    return any(pattern.fullmatch(command) for pattern in CURATED_COMMANDS.values())


def check_command(ctx: ActionContext) -> None:
    command = ctx.args.command
    if curated(command) or ctx.allow_free_command:
        return
    raise ActionRequestInvalid(
        f"{command!r} is not one of the curated read-only commands ({', '.join(CURATED_COMMANDS)}); "
        "a free command needs an approver, where the tenant allows free commands."
    )


def command_risk(args: BaseModel) -> str:
    return "low" if curated(args.command) else "high"


def send_request(args: BaseModel, targets: list[Target]) -> dict[str, Any]:
    return {
        "InstanceIds": [t.id for t in targets],
        "DocumentName": DOCUMENT,
        "Parameters": {"commands": [args.command]},
        "TimeoutSeconds": COMMAND_TIMEOUT_SECONDS,
    }


def invocations(ctx: ActionContext, targets: list[Target], response: Mapping[str, Any]) -> dict[str, dict]:
    """Per instance: the command's status and its (redacted, capped) output."""
    command_id = response["Command"]["CommandId"]

    def one(ssm, instance_id: str) -> dict[str, Any]:
        try:
            found = ssm.get_command_invocation(CommandId=command_id, InstanceId=instance_id)
        except ssm.exceptions.InvocationDoesNotExist:
            return {"command_id": command_id, "command_status": "Pending", "settled": False}
        status = found.get("Status")
        return {
            "command_id": command_id,
            "command_status": status,
            "response_code": found.get("ResponseCode"),
            "output": redact(found.get("StandardOutputContent") or "")[:MAX_OUTPUT_CHARS],
            "error_output": redact(found.get("StandardErrorContent") or "")[:MAX_OUTPUT_CHARS],
            "settled": status in FINAL_STATUSES,
        }

    try:
        return ctx.clients.call("ssm", lambda ssm: {t.id: one(ssm, t.id) for t in targets})
    except ActionFailed as exc:
        raise ActionFailed(f"Could not read the command's outcome: {exc}", code=exc.code) from exc


ACTIONS = (
    ActionSpec(
        name="ssm.run_shell_command",
        service="ssm",
        client="ssm",
        operation="SendCommand",
        verb="run",
        label="Run a shell command with SSM",
        target_type="ec2_instance",
        permissions=("ssm:SendCommand", "ssm:GetCommandInvocation", "ec2:DescribeInstances"),
        batch_size=50,  # SendCommand takes up to 50 instance ids
        risk="low",
        risk_of=command_risk,
        downtime=Downtime("none for the curated read-only commands", 0),
        precondition={"state": ("running",)},
        args_model=CommandArgs,
        resolve=resolve_instances,
        observe=observe_instances,
        request=send_request,
        expected=lambda args, target: {"command_status": "Success"},
        after=invocations,
        check_args=check_command,
        sandbox_note=SANDBOX_NOTE,
        notes=("SSM Run Command needs the SSM agent running and registered on each instance.",),
    ),
)

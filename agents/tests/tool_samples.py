"""Sample arguments for every registered tool, shared by the in-process matrix (test_mcp_tools) and the
command-line matrix (test_tool_command), so one table says how each tool is called."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from runs import artifacts
from runs.models import Run
from tenants.aws import session_for_account

Sample = Callable[[Any, Run | None], dict[str, Any]]

# Tools whose sample names nothing of the target world: called "against another tenant" they answer the
# caller's own tenant (their scoping is tested on its own).
NO_TARGET = frozenset({"list_blueprints"})

PLAN_JSON = {
    "resource_changes": [
        {
            "address": "aws_s3_bucket.logs",
            "type": "aws_s3_bucket",
            "change": {
                "actions": ["create"],
                "before": None,
                "after": {"bucket": "acme-logs", "force_destroy": False, "tags": {"Owner": "team"}},
                "after_unknown": {"arn": True, "id": True},
            },
        },
        {
            "address": "aws_db_instance.main",
            "type": "aws_db_instance",
            "change": {
                "actions": ["update"],
                "before": {"instance_class": "db.t3.micro", "password": "***REDACTED***", "port": 5432},
                "after": {"instance_class": "db.t3.small", "password": "***REDACTED***", "port": 5432},
                "after_unknown": {},
            },
        },
        {
            "address": "aws_instance.old",
            "type": "aws_instance",
            "change": {"actions": ["delete"], "before": {"instance_type": "t3.micro"}, "after": None},
        },
        {
            "address": "aws_vpc.main",
            "type": "aws_vpc",
            "change": {"actions": ["no-op"], "before": {"cidr_block": "10.0.0.0/16"}, "after": {}},
        },
    ],
    "output_changes": {"bucket_arn": {"actions": ["create"]}},
}


def with_plan_json(run):
    artifacts.artifact_store(run=run, kind="plan_json_redacted", content=json.dumps(PLAN_JSON))
    Run.objects.filter(pk=run.pk).update(plan_summary={"add": 1, "change": 1, "destroy": 1, "replace": 0})
    run.refresh_from_db()
    return run


def _instance(world) -> str:
    ec2 = session_for_account(world.account).client("ec2")
    image = ec2.describe_images(Owners=["amazon"], MaxResults=5)["Images"][0]["ImageId"]
    return ec2.run_instances(ImageId=image, MinCount=1, MaxCount=1, InstanceType="t3.micro")["Instances"][0][
        "InstanceId"
    ]


def _cluster(world) -> str:
    name = f"{world.tenant.slug}-cluster"
    session_for_account(world.account).client("ecs").create_cluster(clusterName=name)
    return name


def _run_args(extra=None):
    return lambda world, run: {"run_id": run.pk, **(extra or {})}


def _config_args(extra=None):
    return lambda world, run: {"config": str(world.dev.pk), **(extra or {})}


# tool -> its arguments against a target world (that world's run, config and AWS objects). Every
# registered tool needs an entry: the matrix tests fail for a tool that has none.
SAMPLES: dict[str, Sample] = {
    "nl_intent": lambda w, r: {"text": "create an s3 bucket named acme-assets", "config": str(w.dev.pk)},
    "generate": lambda w, r: {"request": "create an s3 bucket named acme-assets", "config": str(w.dev.pk)},
    "validate": _run_args(),
    "plan": _run_args({"wait_seconds": 0}),
    "request_apply": _run_args({"note": "ship it"}),
    "run_status": _run_args(),
    "list_runs": _config_args(),
    "plan_summary": _run_args(),
    "search_audit": _config_args(),
    "request": lambda w, r: {
        "text": "create an s3 bucket named acme-assets",
        "config": str(w.dev.pk),
        "wait_seconds": 0,
    },
    "list_blueprints": lambda w, r: {"scope": "tenant"},
    "ec2_list_instances": _config_args(),
    "ec2_describe_instance": lambda w, r: {"config": str(w.dev.pk), "instance_id": _instance(w)},
    "ecs_list_clusters": _config_args(),
    "ecs_list_services": lambda w, r: {"config": str(w.dev.pk), "cluster": _cluster(w)},
    "rds_list_db_instances": _config_args(),
    "cloudwatch_list_alarms": _config_args(),
    "cloudwatch_get_metric_statistics": _config_args(
        {"namespace": "AWS/EC2", "metric_name": "CPUUtilization"}
    ),
    "ec2_start_instance": lambda w, r: {"config": str(w.dev.pk), "instance_ids": [_instance(w)]},
    "ec2_stop_instance": lambda w, r: {"config": str(w.dev.pk), "instance_ids": [_instance(w)]},
    "ecs_update_service": lambda w, r: {
        "config": str(w.dev.pk),
        "cluster": _cluster(w),
        "service": "web",
        "desired_count": 2,
    },
    "rds_create_snapshot": _config_args({"db_instance_identifier": "orders-db"}),
    "ops_request": _config_args({"text": "restart EC2 instances tagged Env=staging"}),
    "ops_run": _config_args({"action": "ec2.reboot_instances", "targets": {"tags": {"Env": "staging"}}}),
    "ops_status": _run_args(),
    "ops_cancel": _run_args({"reason": "not today"}),
}


def sample_arguments(name: str, world, run: Run | None) -> dict[str, Any]:
    if name not in SAMPLES:
        raise AssertionError(
            f"Tool {name!r} has no sample arguments: add it to agents/tests/tool_samples.py SAMPLES so the "
            "role matrix covers it."
        )
    return SAMPLES[name](world, run)

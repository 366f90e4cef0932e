"""A small running world in the demo tenant's sandbox account, built through the real AWS APIs.

It gives every example request something to act on: instances tagged Env=staging and Env=prod, the ECS
service `web` in cluster `prod`, an Auto Scaling group, the RDS instance `orders-db` and the secret
`db/password`. Each piece is looked up by name first, so building twice creates nothing new.
"""

from __future__ import annotations

import json
import secrets
from typing import Any

from botocore.exceptions import ClientError

from .aws import session_for_account
from .models import AccountMode, AwsAccount

DEMO_TENANT_SLUG = "demo"
DEMO_ACCOUNT_NAME = "sandbox"
SEED_TAG = "gantry:demo-seed"  # marks what this module made, so counts and look-ups never mix with a user's
INSTANCES = {
    "staging-web-1": "staging",
    "staging-web-2": "staging",
    "staging-worker-1": "staging",
    "prod-web-1": "prod",
    "prod-web-2": "prod",
}
CLUSTER, SERVICE, TASK_FAMILY = "prod", "web", "web"
LAUNCH_TEMPLATE, AUTO_SCALING_GROUP = "demo-web", "web-asg"
DATABASE, SECRET = "orders-db", "db/password"
LIVE_STATES = ["pending", "running", "stopping", "stopped"]


def demo_account() -> AwsAccount | None:
    """The demo tenant's sandbox account, when seed_demo has made it."""
    return AwsAccount.objects.filter(
        tenant__slug=DEMO_TENANT_SLUG, name=DEMO_ACCOUNT_NAME, mode=AccountMode.SANDBOX
    ).first()


def _code(exc: ClientError) -> str:
    return exc.response.get("Error", {}).get("Code", "")


def _tags(**extra: str) -> list[dict[str, str]]:
    base = {SEED_TAG: "true", "Owner": "platform-team", "CostCenter": "cc-100", **extra}
    return [{"Key": k, "Value": v} for k, v in base.items()]


def _image(ec2: Any) -> str:
    # Any of the sandbox's Amazon images does; a name filter makes moto scan them all (seconds).
    return ec2.describe_images(Owners=["amazon"], MaxResults=5)["Images"][0]["ImageId"]


def _instances(ec2: Any) -> None:
    pages = ec2.get_paginator("describe_instances").paginate(
        Filters=[
            {"Name": f"tag:{SEED_TAG}", "Values": ["true"]},
            {"Name": "instance-state-name", "Values": LIVE_STATES},
        ]
    )
    existing = {
        tag["Value"]
        for page in pages
        for reservation in page["Reservations"]
        for instance in reservation["Instances"]
        for tag in instance.get("Tags", [])
        if tag["Key"] == "Name"
    }
    missing = [name for name in INSTANCES if name not in existing]
    image = _image(ec2) if missing else ""
    for name in missing:
        ec2.run_instances(
            ImageId=image,
            InstanceType="t3.micro",
            MinCount=1,
            MaxCount=1,
            TagSpecifications=[{"ResourceType": "instance", "Tags": _tags(Name=name, Env=INSTANCES[name])}],
        )


def _ecs(ecs: Any) -> None:
    clusters = ecs.describe_clusters(clusters=[CLUSTER])["clusters"]
    if not any(c["status"] == "ACTIVE" for c in clusters):
        ecs.create_cluster(
            clusterName=CLUSTER, tags=[{"key": t["Key"], "value": t["Value"]} for t in _tags()]
        )
    try:
        ecs.describe_task_definition(taskDefinition=TASK_FAMILY)
    except ClientError:
        ecs.register_task_definition(
            family=TASK_FAMILY,
            containerDefinitions=[
                {"name": "web", "image": "public.ecr.aws/nginx/nginx:stable", "memory": 256}
            ],
        )
    services = ecs.describe_services(cluster=CLUSTER, services=[SERVICE])["services"]
    if not any(s["status"] == "ACTIVE" for s in services):
        ecs.create_service(cluster=CLUSTER, serviceName=SERVICE, taskDefinition=TASK_FAMILY, desiredCount=2)


def _auto_scaling(ec2: Any, autoscaling: Any) -> None:
    try:
        ec2.describe_launch_templates(LaunchTemplateNames=[LAUNCH_TEMPLATE])
    except ClientError as exc:
        if "NotFound" not in _code(exc):
            raise
        ec2.create_launch_template(
            LaunchTemplateName=LAUNCH_TEMPLATE,
            LaunchTemplateData={"ImageId": _image(ec2), "InstanceType": "t3.micro"},
        )
    groups = autoscaling.describe_auto_scaling_groups(AutoScalingGroupNames=[AUTO_SCALING_GROUP])
    if not groups["AutoScalingGroups"]:
        zone = ec2.describe_availability_zones()["AvailabilityZones"][0]["ZoneName"]
        autoscaling.create_auto_scaling_group(
            AutoScalingGroupName=AUTO_SCALING_GROUP,
            LaunchTemplate={"LaunchTemplateName": LAUNCH_TEMPLATE, "Version": "$Latest"},
            MinSize=1,
            MaxSize=4,
            DesiredCapacity=2,
            AvailabilityZones=[zone],
        )


def _database(rds: Any) -> None:
    try:
        rds.describe_db_instances(DBInstanceIdentifier=DATABASE)
        return
    except ClientError as exc:
        if _code(exc) != "DBInstanceNotFound":
            raise
    rds.create_db_instance(
        DBInstanceIdentifier=DATABASE,
        DBInstanceClass="db.t3.micro",
        Engine="postgres",
        AllocatedStorage=20,
        MasterUsername="orders",
        MasterUserPassword=secrets.token_hex(16),
        Tags=_tags(Env="prod"),
    )


def _secret(secretsmanager: Any) -> None:
    try:
        secretsmanager.describe_secret(SecretId=SECRET)
        return
    except ClientError as exc:
        if _code(exc) != "ResourceNotFoundException":
            raise
    secretsmanager.create_secret(
        Name=SECRET,
        SecretString=json.dumps({"username": "orders", "password": secrets.token_urlsafe(24)}),
        Tags=_tags(Env="prod"),
    )


def build_demo_world(account: AwsAccount) -> dict[str, int]:
    """Create whatever of the demo world is missing in `account`'s default region; returns the counts."""
    aws = session_for_account(account)
    ec2, autoscaling = aws.client("ec2"), aws.client("autoscaling")
    _instances(ec2)
    _ecs(aws.client("ecs"))
    _auto_scaling(ec2, autoscaling)
    _database(aws.client("rds"))
    _secret(aws.client("secretsmanager"))
    return world_counts(account)


def world_counts(account: AwsAccount) -> dict[str, int]:
    """What the demo world holds now, counted through the same APIs."""
    aws = session_for_account(account)
    ec2 = aws.client("ec2")

    def instances(env: str) -> int:
        pages = ec2.get_paginator("describe_instances").paginate(
            Filters=[
                {"Name": f"tag:{SEED_TAG}", "Values": ["true"]},
                {"Name": "tag:Env", "Values": [env]},
                {"Name": "instance-state-name", "Values": LIVE_STATES},
            ]
        )
        return sum(len(r["Instances"]) for page in pages for r in page["Reservations"])

    groups = aws.client("autoscaling").describe_auto_scaling_groups(
        AutoScalingGroupNames=[AUTO_SCALING_GROUP]
    )
    return {
        "instances Env=staging": instances("staging"),
        "instances Env=prod": instances("prod"),
        "ECS services in prod": len(aws.client("ecs").list_services(cluster=CLUSTER)["serviceArns"]),
        "Auto Scaling groups": len(groups["AutoScalingGroups"]),
        "Auto Scaling instances": sum(len(g["Instances"]) for g in groups["AutoScalingGroups"]),
        "RDS instances": len(aws.client("rds").describe_db_instances()["DBInstances"]),
        "secrets": len(aws.client("secretsmanager").list_secrets()["SecretList"]),
    }

"""The infra agent: intent -> composition specs, after the account's and config's constraints."""

from __future__ import annotations

from decimal import Decimal

import pytest

from agents.commit import CostEstimate, snapshot_estimator
from agents.domains import AgentContext
from agents.infra import InfraAgent, size_rank
from agents.offline_parser import parse
from blueprints.services import blueprint_approve, blueprint_create_from_spec

DEMO = "Create 3 t3.medium behind ALB in ap-south-1; max ₹1500/day"


def handle(text, config, **context):
    intent = parse(text, default_region=config.region if config is not None else None)
    ctx = AgentContext.for_config(config, **context) if config is not None else AgentContext(**context)
    return InfraAgent().handle(intent, ctx)


def test_size_rank_matches_the_policy_library():
    assert size_rank("micro") < size_rank("large") < size_rank("xlarge") < size_rank("2xlarge")
    assert size_rank("24xlarge") == 30 and size_rank("metal") == 1000 and size_rank("huge") is None


@pytest.mark.django_db
def test_demo_request_becomes_a_web_tier_spec(own):
    answer = handle(DEMO, own.dev, estimator=snapshot_estimator)
    assert answer.status == "ready", answer.refusals
    spec = answer.spec
    assert spec["stack"] == "web_tier" and spec["action"] == "create"
    params = spec["parameters"]
    assert params["instance_count"] == 3 and params["instance_type"] == "t3.medium"
    assert params["name"] == "acme-dev-web" and params["internet_facing"] is False
    assert params["vpc_cidr"] == "10.0.0.0/16"  # curated default
    assert params["ami_id"] == "ami-04681a1dbd79675a5"  # platform input: the sandbox image
    assert spec["region"] == "ap-south-1"
    assert spec["account_id"] == own.account.account_id and spec["workspace"] == "acme-dev"
    assert spec["tags"]["Owner"] == "team" and spec["tags"]["gantry:tenant"] == "acme"
    assert spec["tags"]["gantry:stack"] == "web_tier"
    assert answer.estimate is not None and answer.estimate.daily_usd < Decimal(18)


@pytest.mark.django_db
def test_region_outside_the_account_is_refused(own):
    answer = handle("Create 2 t3.small in Frankfurt", own.dev)
    assert answer.status == "refused" and not answer.specs
    assert "eu-central-1 is not allowed for account acme-sandbox" in answer.refusals[0]
    assert "ap-south-1, us-east-1" in answer.refusals[0]


@pytest.mark.django_db
def test_instance_size_caps_depend_on_the_environment(own):
    refused = handle("Create 2 m5.2xlarge in ap-south-1", own.dev)
    assert refused.status == "refused"
    assert "m5.2xlarge is larger than dev allows (up to xlarge)" in refused.refusals[0]
    assert handle("Create 2 m5.2xlarge in ap-south-1", own.prod).status == "ready"
    assert handle("Create 2 m5.8xlarge in ap-south-1", own.prod).status == "refused"


@pytest.mark.django_db
def test_caps_can_come_from_settings(own, settings):
    settings.GANTRY_INSTANCE_CAPS = {"dev": {"families": ["t3"], "max_size": "large"}}
    answer = handle("Create 2 m5.large in ap-south-1", own.dev)
    assert answer.status == "refused" and "not an allowed instance family in dev" in answer.refusals[0]


@pytest.mark.django_db
def test_capacity_cap(own):
    answer = handle("Create 20 t3.micro in ap-south-1", own.dev)
    assert answer.status == "refused"
    assert "instance count 20 is more than dev allows (10 at most)." in answer.refusals


@pytest.mark.django_db
def test_services_not_allowed_are_refused(own):
    own.account.allowed_services = ["ec2", "elasticloadbalancing", "autoscaling", "s3"]
    own.account.save()
    answer = handle("create a postgres database in ap-south-1", own.dev)
    assert answer.status == "refused"
    assert any("does not allow rds" in refusal for refusal in answer.refusals)
    ok = handle("create a bucket named acme-assets-1 in ap-south-1", own.dev)
    assert ok.status == "ready"
    assert any("kms" in note for note in ok.notes)  # supporting service: a note, the gate decides


@pytest.mark.django_db
def test_mandatory_tags(own):
    own.account.mandatory_tags = ["Owner", "CostCenter"]
    own.account.save()
    answer = handle("Create 2 t3.micro in ap-south-1", own.dev)
    assert answer.status == "refused" and "requires the tags CostCenter" in answer.refusals[0]
    assert handle("Create 2 t3.micro in ap-south-1 tagged CostCenter=42", own.dev).status == "ready"


@pytest.mark.django_db
def test_budget_is_checked_with_an_estimate(own):
    def pricey(intent, specs):
        return CostEstimate(monthly_usd=Decimal(2000))

    answer = handle(DEMO, own.dev, estimator=pricey)
    assert answer.status == "refused"
    assert any("over account acme-sandbox's daily budget of ₹1,500.00" in r for r in answer.refusals)
    assert any("over the budget you gave (₹1,500.00/day)" in r for r in answer.refusals)


@pytest.mark.django_db
def test_environment_mismatch_is_refused(own):
    answer = handle("Create 2 t3.micro in ap-south-1 for prod", own.dev)
    assert answer.status == "refused" and "active config 'dev' is dev" in answer.refusals[0]


def test_unsupported_resources_are_refused_in_plain_words():
    answer = handle("create a lambda function named thumbnailer in us-east-1", None)
    assert answer.status == "refused"
    assert "No curated blueprint builds lambda function yet" in answer.refusals[0]


def test_other_stacks():
    bucket = handle("create an s3 bucket named Acme_Static.Assets in us-east-1", None)
    assert bucket.spec["stack"] == "static_bucket"
    assert bucket.spec["parameters"]["bucket_name"] == "acme-static.assets"
    assert bucket.spec["parameters"]["versioning_enabled"] is True
    db = handle("create a mysql db.t3.large database with 100 GB in us-east-1", None)
    params = db.spec["parameters"]
    assert db.spec["stack"] == "data_tier"
    assert (params["engine"], params["engine_version"], params["instance_class"]) == (
        "mysql",
        "8.0",
        "db.t3.large",
    )
    assert params["allocated_storage"] == 100
    eks = handle("create an eks cluster with 3 nodes in us-east-1", None)
    assert eks.spec["stack"] == "eks_cluster"
    assert eks.spec["parameters"]["node_desired_size"] == 3 and eks.spec["parameters"]["node_max_size"] == 3


def test_two_buckets_make_two_specs():
    answer = handle('create two s3 buckets named "logs-aa" and "logs-bb" in us-east-1', None)
    names = [spec["parameters"]["bucket_name"] for spec in answer.specs]
    assert names == ["logs-aa", "logs-bb"]


def test_unsupported_engine_is_refused():
    answer = handle("create an oracle database in us-east-1", None)
    assert answer.status == "refused" and "PostgreSQL or MySQL" in answer.refusals[0]


def test_clarification_comes_first():
    answer = handle("create some servers", None)
    assert answer.status == "needs_clarification"
    assert [q.field for q in answer.questions] == ["region", "count"]


@pytest.mark.django_db
def test_modify_and_destroy_carry_only_what_was_said(own):
    vague = handle("scale the web servers to 5 instances in ap-south-1", own.dev)
    assert vague.status == "needs_clarification" and vague.questions[0].field == "targets"
    scale = handle("scale the servers tagged app=web to 5 instances in ap-south-1", own.dev)
    assert scale.status == "ready", scale.refusals
    assert scale.spec["action"] == "modify" and scale.spec["parameters"]["instance_count"] == 5
    assert "vpc_cidr" not in scale.spec["parameters"]
    gone = handle("destroy the bucket named acme-old-logs in ap-south-1", own.dev)
    assert gone.spec["action"] == "destroy"
    assert gone.spec["parameters"] == {"bucket_name": "acme-old-logs"}


@pytest.mark.django_db
def test_an_approved_tenant_blueprint_supplies_the_defaults(own):
    spec = {
        "stack": "web_tier",
        "parameters": {
            "name": "shop",
            "instance_type": "t3.medium",
            "instance_count": 3,
            "vpc_cidr": "10.42.0.0/16",
        },
        "tags": {"team": "shop"},
    }
    blueprint = blueprint_create_from_spec(
        tenant=own.tenant, user=own.user("operator"), spec=spec, name="Shop web tier", description="web shop"
    )
    blueprint_approve(blueprint=blueprint, user=own.user("approver"))
    answer = handle(DEMO, own.dev, user=own.user("operator"))
    assert answer.status == "ready"
    assert answer.blueprint["slug"] == "shop-web-tier" and answer.blueprint["version"] == 1
    assert answer.spec["parameters"]["vpc_cidr"] == "10.42.0.0/16"
    assert answer.spec["blueprint"]["slug"] == "shop-web-tier"
    assert answer.spec["parameters"]["instance_count"] == 3


# --- platform inputs and the renderer's spec -------------------------------------------------------


@pytest.mark.django_db
def test_web_tier_spec_builds_for_the_renderer(own):
    from iac.spec import build_spec

    answer = handle(DEMO, own.dev)
    item = answer.spec
    assert item["parameters"]["ami_id"].startswith("ami-")  # the sandbox image
    spec = build_spec(
        item["stack"],
        item["parameters"],
        account=own.account,
        config=own.dev,
        tags=item["tags"],
        region=item["region"],
    )
    assert spec.parameters["instance_count"] == 3 and spec.workspace == "acme-dev"


@pytest.mark.django_db
def test_real_accounts_need_a_configured_image(own, settings):
    own.account.mode = "aws"
    own.account.role_arn = "arn:aws:iam::123456789012:role/GantryDeploy"
    own.account.save()
    answer = handle(DEMO, own.dev)
    assert (
        answer.status == "refused" and "No machine image is configured for ap-south-1" in answer.refusals[0]
    )
    settings.GANTRY_AMI_IDS = {"ap-south-1": "ami-0abcdef1234567890"}
    assert handle(DEMO, own.dev).spec["parameters"]["ami_id"] == "ami-0abcdef1234567890"


@pytest.mark.django_db
def test_config_preferences_fill_vpc_and_kms(own):
    own.dev.vpc_preferences = {"cidr": "10.20.0.0/16", "az_count": 3}
    own.dev.kms_key_arn = "arn:aws:kms:ap-south-1:123456789012:key/abc"
    own.dev.save()
    params = handle(DEMO, own.dev).spec["parameters"]
    assert (params["vpc_cidr"], params["az_count"]) == ("10.20.0.0/16", 3)
    assert params["kms_key_arn"] == "arn:aws:kms:ap-south-1:123456789012:key/abc"


@pytest.mark.django_db
def test_database_needs_an_existing_vpc(own):
    answer = handle("create a postgres database in ap-south-1", own.dev)
    assert answer.status == "refused" and "existing VPC" in answer.refusals[0]
    own.dev.vpc_preferences = {"vpc_id": "vpc-123", "subnet_ids": ["subnet-a", "subnet-b"]}
    own.dev.save()
    answer = handle("create a postgres database in ap-south-1", own.dev)
    assert answer.status == "ready", answer.refusals
    assert answer.spec["parameters"]["subnet_ids"] == ["subnet-a", "subnet-b"]

"""The OPA data document (`data.config`) for one tenant/account/config; keys as in `iac/policies/README.md`.

Instance caps and capacity limits per env come from settings (GANTRY_INSTANCE_CAPS,
GANTRY_MAX_DESIRED_CAPACITY) with the defaults below. An account with no allowed services gets every
curated service (an empty list would allow nothing in the policy); an account with no extra regions
allows its default region only.
"""

from __future__ import annotations

import copy
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from tenants.models import AwsAccount, Config

OVERRIDE_TAG_KEY = "gantry:allow-public"

# Services the curated modules and stacks use (IAM spelling, as in services.rego's service_map).
CURATED_SERVICES = (
    "autoscaling",
    "ec2",
    "eks",
    "elasticloadbalancing",
    "iam",
    "kms",
    "logs",
    "rds",
    "s3",
)

DEFAULT_INSTANCE_CAPS: dict[str, dict[str, Any]] = {
    "dev": {"families": ["t3", "t3a", "t4g"], "max_size": "large", "db_families": ["t3", "t4g"]},
    "staging": {
        "families": ["t3", "t3a", "t4g", "m6i", "m7i", "m6g", "m7g", "c6i", "c7i", "c7g"],
        "max_size": "xlarge",
        "db_families": ["t3", "t4g", "m6g", "m7g"],
    },
    "prod": {
        "families": [
            "t3",
            "t3a",
            "t4g",
            "m6i",
            "m7i",
            "m6g",
            "m7g",
            "c6i",
            "c7i",
            "c7g",
            "r6i",
            "r7i",
            "r7g",
        ],
        "max_size": "4xlarge",
        "db_families": ["t4g", "m6g", "m7g", "r6g", "r7g"],
    },
}
DEFAULT_INSTANCE_CAPS["default"] = DEFAULT_INSTANCE_CAPS["dev"]

DEFAULT_MAX_DESIRED_CAPACITY: dict[str, int] = {"dev": 4, "staging": 10, "prod": 20, "default": 4}


def _setting(name: str, default: Any) -> Any:
    from iac.terraform import _setting as read

    return read(name, default)


def policy_data(*, account: AwsAccount, config: Config | None = None, region: str | None = None) -> dict:
    """data.config for the OPA gate: env, region, regions, tags, services, caps and capacity."""
    env = config.env if config is not None else "dev"
    region = region or (config.region if config is not None else account.default_region)
    caps = copy.deepcopy(_setting("GANTRY_INSTANCE_CAPS", None) or DEFAULT_INSTANCE_CAPS)
    capacity = copy.deepcopy(_setting("GANTRY_MAX_DESIRED_CAPACITY", None) or DEFAULT_MAX_DESIRED_CAPACITY)
    services = sorted(set(account.allowed_services or CURATED_SERVICES))
    return {
        "env": env,
        "region": region,
        "allowed_regions": account.regions,
        "mandatory_tags": sorted(set(account.mandatory_tags or [])),
        "allowed_services": services,
        "instance_caps": caps,
        "max_desired_capacity": capacity,
        "override_tag_key": OVERRIDE_TAG_KEY,
        "tenant": account.tenant.slug,
        "account_id": account.account_id,
        "kms_preference": account.kms_preference,
    }

"""Where a spec lands, shared by both kinds of spec: the account, the state backend, the region, the
workspace, the tags and (for sandbox accounts) the sandbox endpoint.

`Placement` holds these fields with their validation once; `iac.spec.CompositionSpec` (one curated stack)
and `iac.composed.ComposedSpec` (a composition of curated modules) add what they render. This module is
the bottom of the spec layer: `iac.state` builds a `BackendSpec` from it, and `iac.spec` imports both.
"""

from __future__ import annotations

import hashlib
import json
import re
from typing import Any, Literal, Self

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

REGION_RE = re.compile(r"^[a-z]{2}(-gov)?-[a-z]+-\d$")
SLUG_RE = re.compile(r"^[a-z0-9][a-z0-9-]{0,62}$")
BUCKET_RE = re.compile(r"^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$")
TABLE_RE = re.compile(r"^[A-Za-z0-9_.-]{3,255}$")
STATE_KEY_RE = re.compile(r"^[A-Za-z0-9!_.*'()/-]{1,1024}$")
ACCOUNT_ID_RE = re.compile(r"^\d{12}$")
ENDPOINT_RE = re.compile(r"^https?://[A-Za-z0-9.\-\[\]:]+(?::\d+)?/?$")

MAX_TAG_KEY = 128
MAX_TAG_VALUE = 256
MAX_TAGS = 50


class SpecError(ValueError):
    """A spec that cannot be rendered; the message says which field and why."""


def canonical_json(value: Any) -> str:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False)


def describe_errors(exc: Any) -> str:
    lines = []
    for error in exc.errors():
        where = ".".join(str(p) for p in error.get("loc", ())) or "spec"
        message = str(error.get("msg", "invalid")).removeprefix("Value error, ")
        lines.append(f"{where}: {message}")
    return "; ".join(lines)


def check_region(value: str) -> str:
    if not REGION_RE.match(value):
        raise ValueError("not an AWS region code like ap-south-1")
    return value


def check_tags(value: dict[str, str]) -> dict[str, str]:
    """AWS-shaped tags: at most MAX_TAGS, keys 1-128 and values up to 256 characters, no aws: prefix."""
    if len(value) > MAX_TAGS:
        raise ValueError(f"at most {MAX_TAGS} tags")
    for key, item in value.items():
        if not 1 <= len(key) <= MAX_TAG_KEY:
            raise ValueError(f"tag key {key[:40]!r} must be 1-{MAX_TAG_KEY} characters")
        if key.lower().startswith("aws:"):
            raise ValueError(f"tag key {key!r}: the aws: prefix is reserved")
        if len(item) > MAX_TAG_VALUE:
            raise ValueError(f"tag {key!r}: value longer than {MAX_TAG_VALUE} characters")
        for text in (key, item):
            try:
                text.encode("utf-8")
            except UnicodeEncodeError as exc:
                raise ValueError(f"tag {key!r}: not valid Unicode text") from exc
    return value


class AccountRef(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    id: int = Field(ge=1)  # AwsAccount primary key
    account_id: str
    mode: Literal["sandbox", "aws"]

    @field_validator("account_id")
    @classmethod
    def _account_id(cls, value: str) -> str:
        if not ACCOUNT_ID_RE.match(value):
            raise ValueError("an AWS account id is 12 digits")
        return value


class BackendSpec(BaseModel):
    """Where the state lives: an s3 backend, locked with S3 lock files or a DynamoDB table."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    bucket: str
    key: str
    region: str
    lock_table: str | None = None  # DynamoDB locking when set
    use_lockfile: bool = True  # S3-native locking (Terraform >= 1.10)
    encrypt: bool = True

    @field_validator("bucket")
    @classmethod
    def _bucket(cls, value: str) -> str:
        if not BUCKET_RE.match(value) or ".." in value:
            raise ValueError("not a valid S3 bucket name")
        return value

    @field_validator("key")
    @classmethod
    def _key(cls, value: str) -> str:
        if not STATE_KEY_RE.match(value) or value.startswith("/") or ".." in value.split("/"):
            raise ValueError("state key must be a relative path of safe characters")
        return value

    @field_validator("region")
    @classmethod
    def _region(cls, value: str) -> str:
        return check_region(value)

    @field_validator("lock_table")
    @classmethod
    def _table(cls, value: str | None) -> str | None:
        if value is not None and not TABLE_RE.match(value):
            raise ValueError("not a valid DynamoDB table name")
        return value

    @model_validator(mode="after")
    def _locking(self) -> BackendSpec:
        if not self.use_lockfile and self.lock_table is None:
            raise ValueError("state needs locking: set lock_table or use_lockfile")
        return self


class Placement(BaseModel):
    """The placement fields of a spec, their validation, the canonical digest and `parse`."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    tags: dict[str, str] = Field(default_factory=dict)
    region: str
    account: AccountRef
    backend: BackendSpec
    workspace: str
    # The embedded sandbox the provider and backend talk to (sandbox accounts only); part of the spec so
    # rendering is a pure function of it.
    sandbox_endpoint: str | None = None

    @field_validator("region")
    @classmethod
    def _region(cls, value: str) -> str:
        return check_region(value)

    @field_validator("workspace")
    @classmethod
    def _workspace(cls, value: str) -> str:
        if not SLUG_RE.match(value):
            raise ValueError("workspace must be lower-case letters, digits and dashes")
        return value

    @field_validator("tags")
    @classmethod
    def _tags(cls, value: dict[str, str]) -> dict[str, str]:
        return check_tags(value)

    @field_validator("sandbox_endpoint")
    @classmethod
    def _endpoint(cls, value: str | None) -> str | None:
        if value is None:
            return None
        if not ENDPOINT_RE.match(value):
            raise ValueError("sandbox endpoint must be a plain http(s)://host:port URL")
        return value.rstrip("/")

    @model_validator(mode="after")
    def _sandbox_endpoint_fits_the_account(self) -> Self:
        if self.account.mode == "sandbox" and not self.sandbox_endpoint:
            raise ValueError("a sandbox account needs sandbox_endpoint")
        if self.account.mode == "aws" and self.sandbox_endpoint:
            raise ValueError("sandbox_endpoint is only for sandbox accounts")
        return self

    def canonical_json(self) -> str:
        return canonical_json(self.model_dump(mode="json"))

    def sha256(self) -> str:
        return hashlib.sha256(self.canonical_json().encode("utf-8")).hexdigest()

    @classmethod
    def parse(cls, data: dict | str | bytes) -> Self:
        """Validate a dict or JSON text; errors become one SpecError listing every problem."""
        try:
            if isinstance(data, str | bytes):
                return cls.model_validate_json(data)
            return cls.model_validate(data)
        except ValidationError as exc:
            raise SpecError(describe_errors(exc)) from exc

"""The console: page, live preview, submit → run, pre-filling, errors that keep the text; role × tenant matrix."""

from __future__ import annotations

import pytest
from django.urls import reverse

from runs.models import Run
from runs.services import MAX_REQUEST_CHARS
from runs.states import RunStatus

ROLES = ["viewer", "operator", "approver", "admin"]
SEED = "Create 3 t3.medium behind ALB in ap-south-1; max ₹1500/day"


@pytest.fixture(autouse=True)
def _offline(settings):
    settings.GANTRY_LLM_MODEL = ""  # the offline parser: no network, deterministic


def signed_in(client_as, world, role, config=None):
    return client_as(world.user(role), tenant=world.tenant, config=config or world.dev)


@pytest.mark.parametrize(
    "role,expected", [("viewer", 403), ("operator", 200), ("approver", 200), ("admin", 200)]
)
def test_console_page_matrix(client_as, own, role, expected):
    response = signed_in(client_as, own, role).get(reverse("console"))
    assert response.status_code == expected
    if expected == 200:
        body = response.content.decode()
        for testid in ("request-box", "console-submit", "intent-preview", "active-config"):
            assert f'data-testid="{testid}"' in body


@pytest.mark.parametrize(
    "role,expected", [("viewer", 403), ("operator", 302), ("approver", 302), ("admin", 302)]
)
def test_submit_matrix_creates_a_run_and_redirects(client_as, own, role, expected):
    response = signed_in(client_as, own, role).post(
        reverse("console"), {"request_text": SEED, "config": own.dev.pk}
    )
    assert response.status_code == expected
    if expected == 302:
        run = Run.objects.get()
        assert response["Location"] == reverse("run_detail", args=[run.pk])
        assert run.config == own.dev and run.requested_by == own.user(role) and run.request_text == SEED
    else:
        assert not Run.objects.exists()


@pytest.mark.parametrize("role", ROLES)
def test_other_tenant_config_is_refused_and_text_kept(client_as, own, other, role):
    client = signed_in(client_as, own, role)
    response = client.post(reverse("console"), {"request_text": SEED, "config": other.dev.pk})
    if role == "viewer":
        assert response.status_code == 403
    else:
        assert response.status_code == 400
        body = response.content.decode()
        assert "You may not use that config" in body and "t3.medium behind ALB" in body
    assert not Run.objects.exists()


def test_preview_runs_for_members_only(client_as, own, other):
    data = {"request_text": SEED, "config": own.dev.pk}
    assert signed_in(client_as, own, "viewer").post(reverse("console_preview"), data).status_code == 403
    assert (
        signed_in(client_as, other, "admin")
        .post(reverse("console_preview"), data, HTTP_HX_REQUEST="true")
        .status_code
        == 200
    )
    # ...but another tenant's config gives no preview, only the form error
    body = (
        signed_in(client_as, other, "admin")
        .post(reverse("console_preview"), data, HTTP_HX_REQUEST="true")
        .content.decode()
    )
    assert "You may not use that config" in body and 'data-testid="intent-commit"' not in body


def test_preview_partial_shows_intent_agent_commit_and_saves_nothing(client_as, own):
    client = signed_in(client_as, own, "operator")
    response = client.post(
        reverse("console_preview"), {"request_text": SEED, "config": own.dev.pk}, HTTP_HX_REQUEST="true"
    )
    assert response.status_code == 200
    body = response.content.decode()
    assert "<html" not in body
    assert 'data-testid="preview-intent"' in body and "t3.medium" in body
    assert 'data-testid="preview-agent"' in body and "infra" in body
    assert 'data-testid="intent-commit"' in body and 'data-testid="commit-cost"' in body
    assert not Run.objects.exists()


def test_preview_asks_questions_and_applies_inline_answers(client_as, own):
    client = signed_in(client_as, own, "operator")
    data = {"request_text": "create some t3.micro instances", "config": own.dev.pk}
    asked = client.post(reverse("console_preview"), data, HTTP_HX_REQUEST="true").content.decode()
    assert 'data-testid="question-count"' in asked
    answered = client.post(
        reverse("console_preview"), {**data, "answer__count": ["2", ""]}, HTTP_HX_REQUEST="true"
    ).content.decode()
    assert 'data-testid="question-count"' not in answered and 'data-testid="preview-answers"' in answered
    bad = client.post(reverse("console_preview"), {**data, "answer__count": "lots"}, HTTP_HX_REQUEST="true")
    assert "whole number" in bad.content.decode()


def test_submit_with_inline_answers_queues_the_run(client_as, own):
    client = signed_in(client_as, own, "operator")
    response = client.post(
        reverse("console"),
        {"request_text": "create some t3.micro instances", "config": own.dev.pk, "answer__count": "2"},
    )
    assert response.status_code == 302
    assert Run.objects.get().status == RunStatus.QUEUED


def test_submit_without_answers_waits_for_clarification(client_as, own):
    signed_in(client_as, own, "operator").post(
        reverse("console"), {"request_text": "create some t3.micro instances", "config": own.dev.pk}
    )
    assert Run.objects.get().status == RunStatus.NEEDS_CLARIFICATION


def test_preview_without_js_renders_the_page(client_as, own):
    response = signed_in(client_as, own, "operator").post(
        reverse("console_preview"), {"request_text": SEED, "config": own.dev.pk}
    )
    assert response.status_code == 200 and "<html" in response.content.decode()
    assert 'data-testid="intent-commit"' in response.content.decode()


@pytest.mark.parametrize(
    "text,message",
    [
        ("", "Say what you would like to change."),
        ("   ", "Say what you would like to change."),
        ("x" * (MAX_REQUEST_CHARS + 1), "Keep the request under"),
    ],
)
def test_bad_text_is_a_form_error(client_as, own, text, message):
    response = signed_in(client_as, own, "operator").post(
        reverse("console"), {"request_text": text, "config": own.dev.pk}
    )
    assert response.status_code == 400 and message in response.content.decode()
    assert not Run.objects.exists()


def test_prefill_from_text_and_blueprint(client_as, own):
    from django.utils import timezone

    from blueprints.models import Blueprint, BlueprintStatus, BlueprintVersion

    bp = Blueprint.objects.create(
        name="Private S3 bucket",
        slug="private-bucket",
        stack="static_bucket",
        status=BlueprintStatus.APPROVED,
    )
    version = BlueprintVersion.objects.create(
        blueprint=bp,
        number=1,
        spec={"stack": "static_bucket", "parameters": {}},
        source_sha256="a" * 64,
        approved_at=timezone.now(),
    )
    client = signed_in(client_as, own, "operator")
    body = client.get(reverse("console"), {"text": "create an s3 bucket named logs"}).content.decode()
    assert "create an s3 bucket named logs" in body and 'data-testid="intent-commit"' in body
    pinned = client.get(reverse("console"), {"blueprint": version.pk}).content.decode()
    assert 'data-testid="pinned-blueprint"' in pinned and "Create Private S3 bucket" in pinned
    missing = client.get(reverse("console"), {"blueprint": 999999}, follow=True).content.decode()
    assert "does not exist or is not approved" in missing


def test_other_tenants_blueprint_is_not_offered(client_as, own, other):
    from django.utils import timezone

    from blueprints.models import Blueprint, BlueprintStatus, BlueprintVersion

    bp = Blueprint.objects.create(
        tenant=other.tenant,
        name="Theirs",
        slug="theirs",
        stack="static_bucket",
        status=BlueprintStatus.APPROVED,
    )
    version = BlueprintVersion.objects.create(
        blueprint=bp,
        number=1,
        spec={"stack": "static_bucket", "parameters": {}},
        source_sha256="b" * 64,
        approved_at=timezone.now(),
    )
    client = signed_in(client_as, own, "operator")
    body = client.get(reverse("console"), {"blueprint": version.pk}).content.decode()
    assert 'data-testid="pinned-blueprint"' not in body and "Theirs" not in body
    response = client.post(
        reverse("console"), {"request_text": SEED, "config": own.dev.pk, "blueprint": version.pk}
    )
    assert response.status_code == 400 and not Run.objects.exists()


def test_config_shown_and_default_is_the_active_one(client_as, own):
    response = signed_in(client_as, own, "operator", config=own.prod).get(reverse("console"))
    assert response.context["form"]["config"].value() == own.prod.pk
    assert "Production: plans need more approvals" in response.content.decode()


def test_reuse_blueprint_records_the_version_on_the_run(client_as, own):
    from django.utils import timezone

    from blueprints.models import Blueprint, BlueprintStatus, BlueprintVersion

    bp = Blueprint.objects.create(
        name="Private S3 bucket",
        slug="private-bucket",
        stack="static_bucket",
        status=BlueprintStatus.APPROVED,
    )
    version = BlueprintVersion.objects.create(
        blueprint=bp,
        number=1,
        spec={"stack": "static_bucket", "parameters": {}},
        source_sha256="c" * 64,
        approved_at=timezone.now(),
    )
    response = signed_in(client_as, own, "operator").post(
        reverse("console"),
        {
            "request_text": "create an s3 bucket named acme-logs",
            "config": own.dev.pk,
            "blueprint": version.pk,
        },
    )
    assert response.status_code == 302
    assert Run.objects.get().blueprint_version_id == version.pk


def test_config_card_follows_the_config_chosen_for_the_request(client_as, own):
    client = signed_in(client_as, own, "operator")  # active config: dev
    response = client.post(
        reverse("console_preview"), {"request_text": SEED, "config": own.prod.pk}, HTTP_HX_REQUEST="true"
    )
    body = response.content.decode()
    assert 'id="active-config" data-testid="active-config"' in body and 'hx-swap-oob="true"' in body
    assert response.context["run_config"] == own.prod
    assert "Production: plans need more approvals" in body and "This request runs with" in body


def test_prefill_keeps_a_usable_config_and_ignores_anyone_elses(client_as, own, other):
    client = signed_in(client_as, own, "operator")
    mine = client.get(reverse("console"), {"text": SEED, "config": own.prod.pk})
    assert mine.context["form"]["config"].value() == own.prod.pk
    theirs = client.get(reverse("console"), {"text": SEED, "config": other.dev.pk})
    assert theirs.status_code == 200 and theirs.context["form"]["config"].value() == own.dev.pk
    assert theirs.context["run_config"] == own.dev


def test_suggestions_share_a_resource_with_the_request(client_as, own):
    from django.utils import timezone

    from blueprints.models import Blueprint, BlueprintStatus, BlueprintVersion

    for slug, stack in (("web", "web_tier"), ("bucket", "static_bucket")):
        bp = Blueprint.objects.create(name=slug, slug=slug, stack=stack, status=BlueprintStatus.APPROVED)
        BlueprintVersion.objects.create(
            blueprint=bp,
            number=1,
            spec={"stack": stack, "parameters": {}},
            source_sha256=slug[0] * 64,
            approved_at=timezone.now(),
        )
    response = signed_in(client_as, own, "operator").post(
        reverse("console_preview"), {"request_text": SEED, "config": own.dev.pk}, HTTP_HX_REQUEST="true"
    )
    suggestions = response.context["preview"].suggestions
    assert suggestions and all(m.resource_score > 0 for m in suggestions)
    assert "bucket" not in {m.blueprint.slug for m in suggestions}
    body = response.content.decode()
    assert f"?blueprint={suggestions[0].version.pk}&amp;text=" in body  # a link: nothing is submitted yet

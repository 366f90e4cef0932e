"""Run pages: list, run page and its live partial, actions, artifact download, approval queue.

Every view gets the role × own/other-tenant matrix: status code, and nothing changed on refusal."""

from __future__ import annotations

import json

import pytest
from django.urls import reverse

from runs import artifacts
from runs.models import Approval, AuditEvent, Run, WorkspaceLock
from runs.states import RunStatus
from runs.tests.factories import RunFactory, gate, planned_run, warning

S = RunStatus
ROLES = ["viewer", "operator", "approver", "admin"]
HTMX = {"HTTP_HX_REQUEST": "true"}


def signed_in(client_as, world, role):
    return client_as(world.user(role), tenant=world.tenant, config=world.dev)


# --- list and page --------------------------------------------------------------------------------------


@pytest.mark.parametrize("role", ROLES)
def test_list_and_page_visible_to_every_member(client_as, own, role):
    run = planned_run(own)
    client = signed_in(client_as, own, role)
    listing = client.get(reverse("run_list"))
    assert listing.status_code == 200 and f"#{run.pk}" in listing.content.decode()
    page = client.get(reverse("run_detail", args=[run.pk]))
    assert page.status_code == 200
    body = page.content.decode()
    assert 'data-testid="run-status"' in body and 'data-testid="run-timeline"' in body


@pytest.mark.parametrize("role", ROLES)
def test_other_tenant_sees_nothing(client_as, own, other, role):
    run = planned_run(own)
    client = signed_in(client_as, other, role)
    assert f"#{run.pk}<" not in client.get(reverse("run_list")).content.decode()
    assert client.get(reverse("run_detail", args=[run.pk])).status_code == 404
    assert client.get(reverse("run_detail", args=[run.pk]) + "?live=", **HTMX).status_code == 404


def test_anonymous_is_sent_to_sign_in(client, own):
    run = planned_run(own)
    for url in (reverse("run_list"), reverse("run_detail", args=[run.pk]), reverse("approval_queue")):
        response = client.get(url)
        assert response.status_code == 302 and "/accounts/" in response["Location"]


def test_list_filters_and_paginates(client_as, own):
    for _ in range(27):
        RunFactory(config=own.dev, status=S.FAILED)
    RunFactory(config=own.dev, status=S.AWAITING_APPROVAL, requested_by=own.user("operator"))
    client = signed_in(client_as, own, "operator")
    first = client.get(reverse("run_list"))
    assert len(first.context["runs"]) == 25 and first.context["page"].has_next()
    waiting = client.get(reverse("run_list"), {"status": "awaiting_approval"})
    assert [r.status for r in waiting.context["runs"]] == [S.AWAITING_APPROVAL]
    mine = client.get(reverse("run_list"), {"mine": "on"})
    assert len(mine.context["runs"]) == 1
    partial = client.get(reverse("run_list"), {"state": "finished"}, **HTMX)
    assert partial.status_code == 200 and "<html" not in partial.content.decode()
    empty = client.get(reverse("run_list"), {"status": "applied"})
    assert 'data-testid="run-list-empty"' in empty.content.decode()


# --- live partial: polling stops with 286 ------------------------------------------------------------------


def test_live_partial_polls_while_running_and_stops_with_286(client_as, own):
    run = RunFactory(config=own.dev, status=S.PLANNING)
    client = signed_in(client_as, own, "viewer")
    url = reverse("run_detail", args=[run.pk])
    running = client.get(url, {"live": S.PLANNING}, **HTMX)
    assert running.status_code == 200 and 'hx-trigger="every' in running.content.decode()
    Run.objects.filter(pk=run.pk).update(status=S.FAILED)
    moved = client.get(url, {"live": S.PLANNING}, **HTMX)
    assert moved.status_code == 286 and moved["HX-Refresh"] == "true"
    ended = client.get(url, {"live": S.FAILED}, **HTMX)
    assert ended.status_code == 286 and "hx-trigger" not in ended.content.decode()


def test_live_partial_refreshes_page_when_state_moves_on(client_as, own):
    run = RunFactory(config=own.dev, status=S.AWAITING_APPROVAL)
    response = signed_in(client_as, own, "viewer").get(
        reverse("run_detail", args=[run.pk]), {"live": S.POLICY_CHECK}, **HTMX
    )
    assert response.status_code == 200 and response["HX-Refresh"] == "true"


def test_finished_page_does_not_poll(client_as, own):
    run = RunFactory(
        config=own.dev,
        status=S.APPLIED,
        outputs={
            "url": {"value": "http://x", "sensitive": False},
            "pw": {"value": "s3cret-value", "sensitive": True},
        },
    )
    body = signed_in(client_as, own, "viewer").get(reverse("run_detail", args=[run.pk])).content.decode()
    assert "every 2s" not in body and "every 15s" not in body
    assert 'data-testid="run-outputs"' in body and "http://x" in body and "s3cret-value" not in body


# --- run page content ------------------------------------------------------------------------------------


def test_page_shows_plan_diff_gates_cost_and_artifacts(client_as, own):
    run = planned_run(own, gates=[gate("safety"), gate("checkov", "warn", [warning("CKV_1")])])
    plan = {
        "resource_changes": [
            {
                "address": "aws_db_instance.db",
                "type": "aws_db_instance",
                "name": "db",
                "change": {
                    "actions": ["create"],
                    "before": None,
                    "after": {"instance_class": "db.t3.micro", "password": "hunter2-secret"},
                    "after_unknown": {"arn": True},
                    "after_sensitive": {"password": True},
                },
            }
        ]
    }
    artifacts.artifact_store(
        run=run, kind="plan_json_redacted", content=json.dumps(plan), filename="plan.json"
    )
    Run.objects.filter(pk=run.pk).update(
        cost_estimate={
            "currency": "INR",
            "totals": {"monthly_usd": 12.5, "daily_usd": 0.41, "monthly": 1040.0},
            "lines": [{"address": "aws_db_instance.db", "action": "create", "monthly_usd": 12.5}],
            "budgets": [
                {
                    "name": "account daily limit",
                    "amount": 1500,
                    "currency": "INR",
                    "period": "day",
                    "delta": 34.2,
                    "exceeded": False,
                }
            ],
        },
        log_tail="terraform plan\nPlan: 1 to add",
    )
    body = signed_in(client_as, own, "viewer").get(reverse("run_detail", args=[run.pk])).content.decode()
    assert 'data-testid="plan-group-create"' in body and "aws_db_instance.db" in body
    assert "hunter2-secret" not in body and "(sensitive value)" in body and "(known after apply)" in body
    assert 'data-testid="gate-checkov"' in body and "CKV_1" in body
    assert 'data-testid="cost-badge"' in body and "account daily limit" in body.lower()
    assert 'data-testid="artifact-plan_file"' in body and 'data-testid="run-log"' in body


def test_tampered_plan_json_is_not_shown(client_as, own):
    run = planned_run(own)
    a = artifacts.artifact_store(run=run, kind="plan_json_redacted", content=b"{}", filename="plan.json")
    type(a).objects.filter(pk=a.pk).update(sha256="0" * 64)
    body = signed_in(client_as, own, "viewer").get(reverse("run_detail", args=[run.pk])).content.decode()
    assert "does not match its recorded digest" in body


def test_actions_shown_by_role_and_state(client_as, own):
    run = planned_run(own)
    viewer = signed_in(client_as, own, "viewer").get(reverse("run_detail", args=[run.pk])).content.decode()
    assert 'data-testid="approve-form"' not in viewer and 'data-testid="discard-button"' not in viewer
    approver = (
        signed_in(client_as, own, "approver").get(reverse("run_detail", args=[run.pk])).content.decode()
    )
    assert 'data-testid="approve-form"' in approver and 'data-testid="reject-form"' in approver
    requester = (
        signed_in(client_as, own, "operator").get(reverse("run_detail", args=[run.pk])).content.decode()
    )
    assert 'data-testid="approve-form"' not in requester and 'data-testid="discard-button"' in requester


# --- actions: permission matrix ---------------------------------------------------------------------------


def _approve_post(client, run, **data):
    return client.post(reverse("run_approve", args=[run.pk]), {"plan_sha256": run.plan_sha256, **data})


@pytest.mark.parametrize(
    "role,expected", [("viewer", 403), ("operator", 403), ("approver", 302), ("admin", 302)]
)
def test_approve_matrix_own_tenant(client_as, own, role, expected):
    run = planned_run(own)
    response = _approve_post(signed_in(client_as, own, role), run)
    assert response.status_code == expected
    run.refresh_from_db()
    if expected == 302:
        assert run.status == S.APPROVED and Approval.objects.filter(run=run).count() == 1
    else:
        assert run.status == S.AWAITING_APPROVAL and not Approval.objects.filter(run=run).exists()


@pytest.mark.parametrize("role", ROLES)
def test_actions_on_other_tenant_are_404_and_change_nothing(client_as, own, other, role):
    run = planned_run(own)
    client = signed_in(client_as, other, role)
    events = AuditEvent.objects.count()
    for name in (
        "run_approve",
        "run_reject",
        "run_cancel",
        "run_discard",
        "run_replan",
        "run_request_apply",
        "run_answer_clarification",
        "workspace_force_unlock",
    ):
        data = {"comment": "no", "terraform_lock_id": "x", "answer__region": "us-east-1"}
        assert client.post(reverse(name, args=[run.pk]), data).status_code == 404, name
    run.refresh_from_db()
    assert run.status == S.AWAITING_APPROVAL and Run.objects.count() == 1
    assert AuditEvent.objects.count() == events and not Approval.objects.exists()


def test_approve_needs_each_warning_acknowledged(client_as, own):
    run = planned_run(own, gates=[gate("checkov", "warn", [warning("CKV_A"), warning("CKV_B", address="x")])])
    client = signed_in(client_as, own, "approver")
    keys = ["checkov:CKV_A:aws_s3_bucket.this", "checkov:CKV_B:x"]
    refused = _approve_post(client, run, acknowledged_warnings=keys[:1], comment="kept")
    assert refused.status_code == 400 and "Acknowledge each warning" in refused.content.decode()
    assert "kept" in refused.content.decode() and not Approval.objects.exists()
    assert _approve_post(client, run, acknowledged_warnings=keys).status_code == 302
    assert Approval.objects.get().acknowledged_warnings == keys


def test_prod_approval_needs_a_change_ticket(client_as, own):
    run = planned_run(own, env="prod")
    client = signed_in(client_as, own, "approver")
    response = _approve_post(client, run)
    assert response.status_code == 400 and "change ticket is required" in response.content.decode()
    assert not Approval.objects.exists()
    assert _approve_post(client, run, change_ticket="CHG-1").status_code == 302
    run.refresh_from_db()
    assert run.status == S.AWAITING_APPROVAL  # prod needs two
    assert Approval.objects.get().change_ticket == "CHG-1"


def test_changed_plan_is_refused_with_a_message(client_as, own):
    run = planned_run(own)
    client = signed_in(client_as, own, "approver")
    response = client.post(reverse("run_approve", args=[run.pk]), {"plan_sha256": "f" * 64}, follow=True)
    assert "The plan changed since you opened it" in response.content.decode()
    assert not Approval.objects.exists()


def test_stale_config_moves_run_to_stale_and_says_so(client_as, own):
    run = planned_run(own)
    type(own.dev).objects.filter(pk=own.dev.pk).update(version=own.dev.version + 1)
    response = _approve_post(signed_in(client_as, own, "approver"), run)
    assert response.status_code == 302
    run.refresh_from_db()
    assert run.status == S.STALE and not Approval.objects.exists()


@pytest.mark.parametrize(
    "role,expected", [("viewer", 403), ("operator", 403), ("approver", 302), ("admin", 302)]
)
def test_reject_matrix_and_reason_required(client_as, own, role, expected):
    run = planned_run(own)
    client = signed_in(client_as, own, role)
    if expected == 302:
        missing = client.post(reverse("run_reject", args=[run.pk]), {"comment": ""})
        assert missing.status_code == 400 and "Say why you reject" in missing.content.decode()
    response = client.post(reverse("run_reject", args=[run.pk]), {"comment": "too big"})
    assert response.status_code == expected
    run.refresh_from_db()
    assert run.status == (S.REJECTED if expected == 302 else S.AWAITING_APPROVAL)


@pytest.mark.parametrize(
    "role,expected", [("viewer", 403), ("operator", 302), ("approver", 302), ("admin", 302)]
)
def test_discard_matrix(client_as, own, role, expected):
    run = planned_run(own)
    response = signed_in(client_as, own, role).post(reverse("run_discard", args=[run.pk]))
    assert response.status_code == expected
    run.refresh_from_db()
    assert run.status == (S.CANCELLED if expected == 302 else S.AWAITING_APPROVAL)


@pytest.mark.parametrize(
    "role,expected", [("viewer", 403), ("operator", 302), ("approver", 302), ("admin", 302)]
)
def test_cancel_matrix(client_as, own, role, expected):
    run = RunFactory(config=own.dev, status=S.QUEUED)
    response = signed_in(client_as, own, role).post(reverse("run_cancel", args=[run.pk]), {"reason": "oops"})
    assert response.status_code == expected
    run.refresh_from_db()
    assert run.status == (S.CANCELLED if expected == 302 else S.QUEUED)


def test_cancel_during_apply_is_refused_with_a_message(client_as, own):
    run = RunFactory(config=own.dev, status=S.APPLYING)
    response = signed_in(client_as, own, "operator").post(reverse("run_cancel", args=[run.pk]), follow=True)
    assert "cannot be cancelled" in response.content.decode()
    run.refresh_from_db()
    assert run.status == S.APPLYING


@pytest.mark.parametrize(
    "role,expected", [("viewer", 403), ("operator", 302), ("approver", 302), ("admin", 302)]
)
def test_replan_matrix(client_as, own, role, expected):
    run = planned_run(own)
    response = signed_in(client_as, own, role).post(reverse("run_replan", args=[run.pk]))
    assert response.status_code == expected
    run.refresh_from_db()
    if expected == 302:
        new = Run.objects.exclude(pk=run.pk).get()
        assert response["Location"] == reverse("run_detail", args=[new.pk]) and run.status == S.SUPERSEDED
    else:
        assert Run.objects.count() == 1 and run.status == S.AWAITING_APPROVAL


@pytest.mark.parametrize(
    "role,expected", [("viewer", 403), ("operator", 302), ("approver", 302), ("admin", 302)]
)
def test_request_apply_matrix(client_as, own, role, expected, sent):
    run = planned_run(own)
    from runs.approvals import run_approve

    run_approve(user=own.user("approver"), run_id=run.pk)
    response = signed_in(client_as, own, role).post(reverse("run_request_apply", args=[run.pk]))
    assert response.status_code == expected
    run.refresh_from_db()
    assert (run.apply_requested_at is not None) == (expected == 302)


def test_apply_before_approval_is_a_message(client_as, own):
    run = planned_run(own)
    response = signed_in(client_as, own, "operator").post(
        reverse("run_request_apply", args=[run.pk]), follow=True
    )
    assert "only an approved run can be applied" in response.content.decode()
    run.refresh_from_db()
    assert run.apply_requested_at is None


def _clarifying_run(world):
    from runs.services import run_create

    run = run_create(
        user=world.user("operator"), config_id=world.dev.pk, request_text="create some t3.micro instances"
    )
    assert run.status == S.NEEDS_CLARIFICATION
    return run


@pytest.mark.parametrize(
    "role,expected", [("viewer", 403), ("operator", 302), ("approver", 302), ("admin", 302)]
)
def test_answer_matrix(client_as, own, role, expected):
    run = _clarifying_run(own)
    field = run.clarification["questions"][0]["field"]
    response = signed_in(client_as, own, role).post(
        reverse("run_answer_clarification", args=[run.pk]), {f"answer__{field}": "2"}
    )
    assert response.status_code == expected
    run.refresh_from_db()
    assert run.status == (S.QUEUED if expected == 302 else S.NEEDS_CLARIFICATION)


def test_answer_real_questions_queues_the_run(client_as, own):
    run = _clarifying_run(own)
    field = run.clarification["questions"][0]["field"]
    client = signed_in(client_as, own, "operator")
    page = client.get(reverse("run_detail", args=[run.pk])).content.decode()
    assert 'data-testid="clarification-form"' in page
    empty = client.post(reverse("run_answer_clarification", args=[run.pk]), {}, follow=True)
    assert "Answer at least one question" in empty.content.decode()
    response = client.post(
        reverse("run_answer_clarification", args=[run.pk]), {f"answer__{field}": ["", "2"]}
    )
    assert response.status_code == 302
    run.refresh_from_db()
    assert run.status == S.QUEUED


@pytest.mark.parametrize(
    "role,expected", [("viewer", 403), ("operator", 403), ("approver", 403), ("admin", 302)]
)
def test_force_unlock_matrix(client_as, own, role, expected):
    run = RunFactory(config=own.dev, status=S.INTERRUPTED)
    WorkspaceLock.objects.create(
        tenant=own.tenant, workspace_key=run.workspace_key, run=run, flagged=True, terraform_lock_id="tf-123"
    )
    client = signed_in(client_as, own, role)
    if role == "admin":
        page = client.get(reverse("run_detail", args=[run.pk])).content.decode()
        assert 'data-testid="force-unlock-form"' in page
        wrong = client.post(reverse("workspace_force_unlock", args=[run.pk]), {"terraform_lock_id": "nope"})
        assert wrong.status_code == 400 and WorkspaceLock.objects.exists()
    response = client.post(reverse("workspace_force_unlock", args=[run.pk]), {"terraform_lock_id": "tf-123"})
    assert response.status_code == expected
    assert WorkspaceLock.objects.exists() == (expected == 403)


def test_get_on_action_is_not_allowed(client_as, own):
    run = planned_run(own)
    assert signed_in(client_as, own, "admin").get(reverse("run_approve", args=[run.pk])).status_code == 405


# --- artifact download ------------------------------------------------------------------------------------


@pytest.mark.parametrize("role", ROLES)
def test_download_streams_and_is_audited(client_as, own, role):
    run = planned_run(own)
    artifact = artifacts.artifact_store(run=run, kind="plan_text", content=b"+ bucket\n", filename="plan.txt")
    response = signed_in(client_as, own, role).get(reverse("artifact_download", args=[artifact.pk]))
    assert response.status_code == 200
    assert b"".join(response.streaming_content) == b"+ bucket\n"
    assert 'attachment; filename="plan.txt"' in response["Content-Disposition"]
    event = AuditEvent.objects.get(action="artifact.downloaded")
    assert event.object_id == str(artifact.pk) and event.actor == own.user(role)


@pytest.mark.parametrize("role", ROLES)
def test_download_other_tenant_is_404_and_not_audited(client_as, own, other, role):
    run = planned_run(own)
    artifact = artifacts.artifact_store(run=run, kind="plan_text", content=b"x")
    assert (
        signed_in(client_as, other, role).get(reverse("artifact_download", args=[artifact.pk])).status_code
        == 404
    )
    assert not AuditEvent.objects.filter(action="artifact.downloaded").exists()


def test_download_redirects_to_presigned_url(client_as, own, monkeypatch):
    run = planned_run(own)
    artifact = artifacts.artifact_store(run=run, kind="plan_text", content=b"x")
    monkeypatch.setattr(artifacts, "presigned_url", lambda a, **kw: f"https://s3.example/{a.key}?sig=1")
    response = signed_in(client_as, own, "viewer").get(reverse("artifact_download", args=[artifact.pk]))
    assert response.status_code == 302 and response["Location"].startswith("https://s3.example/")
    assert AuditEvent.objects.filter(action="artifact.downloaded").count() == 1


# --- approval queue and header badge ------------------------------------------------------------------------


@pytest.mark.parametrize(
    "role,sees", [("viewer", False), ("operator", False), ("approver", True), ("admin", True)]
)
def test_queue_matrix(client_as, own, other, role, sees):
    run = planned_run(own, gates=[gate("checkov", "warn", [warning("CKV_Q")])])
    planned_run(other)
    response = signed_in(client_as, own, role).get(reverse("approval_queue"))
    assert response.status_code == 200
    body = response.content.decode()
    assert (f'data-testid="approval-row-{run.pk}"' in body) == sees
    assert response.context.get("approvals_waiting", 0) == (1 if sees else 0)
    if sees:
        assert len(response.context["rows"]) == 1 and response.context["rows"][0]["warnings"] == 1


@pytest.mark.parametrize("role", ROLES)
def test_queue_never_shows_other_tenant(client_as, own, other, role):
    run = planned_run(own)
    response = signed_in(client_as, other, role).get(reverse("approval_queue"))
    assert response.status_code == 200 and f"approval-row-{run.pk}" not in response.content.decode()


def test_queue_leaves_out_decided_and_own_requests(client_as, own):
    from runs.approvals import run_approve

    mine = planned_run(own, requester=own.user("approver"))
    decided = planned_run(own, env="prod")
    run_approve(user=own.user("approver"), run_id=decided.pk, change_ticket="CHG-9")
    type(own.tenant).objects.filter(pk=own.tenant.pk).update(forbid_self_approval=True)
    response = signed_in(client_as, own, "approver").get(reverse("approval_queue"))
    ids = [row["run"].pk for row in response.context["rows"]]
    assert mine.pk not in ids and decided.pk not in ids
    assert 'data-testid="approval-queue-empty"' in response.content.decode()


def test_badge_count_is_one_query(client_as, own, django_assert_max_num_queries):
    from django.test import RequestFactory

    from runs.context_processors import approvals_waiting
    from tenants.context import resolve

    planned_run(own)
    request = RequestFactory().get("/")
    request.user = own.user("approver")
    request.session = {"gantry_tenant_id": own.tenant.pk}
    request.gantry = resolve(request)
    _ = request.gantry.membership
    with django_assert_max_num_queries(1):
        assert approvals_waiting(request) == {"approvals_waiting": 1}


# --- presentation details that carry meaning ----------------------------------------------------------------


def _event(run, seq, from_status, to_status):
    from runs.models import RunEvent

    RunEvent.objects.create(tenant=run.tenant, run=run, seq=seq, from_status=from_status, to_status=to_status)


def _stages(client, run) -> dict[str, str]:
    response = client.get(reverse("run_detail", args=[run.pk]))
    return {row["status"]: row["state"] for row in response.context["stages"]}


def test_timeline_marks_where_a_failed_run_stopped_and_what_it_never_reached(client_as, own):
    run = RunFactory(config=own.dev, status=S.FAILED)
    for seq, (a, b) in enumerate([("", S.QUEUED), (S.QUEUED, S.GENERATING), (S.GENERATING, S.PLANNING)], 1):
        _event(run, seq, a, b)
    _event(run, 4, S.PLANNING, S.FAILED)
    states = _stages(signed_in(client_as, own, "viewer"), run)
    assert states[S.GENERATING] == "done" and states[S.PLANNING] == "stopped"
    assert states[S.POLICY_CHECK] == "skipped" and states[S.APPLIED] == "skipped"
    assert states[S.FAILED] == "ended"


def test_timeline_says_waiting_on_people_not_working(client_as, own):
    run = planned_run(own)  # awaiting approval
    states = _stages(signed_in(client_as, own, "viewer"), run)
    assert states[S.AWAITING_APPROVAL] == "waiting" and states[S.APPROVED] == "pending"
    busy = RunFactory(config=own.dev, status=S.PLANNING)
    _event(busy, 1, "", S.PLANNING)
    states = _stages(signed_in(client_as, own, "viewer"), busy)
    assert states[S.PLANNING] == "current"


def test_worker_stage_timings_are_read_in_the_workers_format():
    from runs.views import worker_timings

    rows = worker_timings(
        {"render": {"status": "passed", "ms": 96}, "plan": {"status": "running", "started": "x"}, "old": 1500}
    )
    assert rows == [
        {"name": "render", "status": "passed", "ms": 96},
        {"name": "plan", "status": "running", "ms": None},
        {"name": "old", "status": "", "ms": 1500},
    ]


def test_page_shows_worker_stages_and_readable_durations(client_as, own):
    run = planned_run(own, stage_timings={"checkov": {"status": "passed", "ms": 6120}})
    body = signed_in(client_as, own, "viewer").get(reverse("run_detail", args=[run.pk])).content.decode()
    assert 'data-testid="stage-timings"' in body and "6.1 s" in body


@pytest.mark.parametrize(
    "ms,text",
    [(38, "38 ms"), (1422, "1.4 s"), (11_000, "11 s"), (125_000, "2 min 5 s"), (3_780_000, "1 h 3 min")],
)
def test_duration_filter(ms, text):
    from runs.templatetags.run_display import duration

    assert duration(ms) == text and duration(None) == ""


def test_live_partial_carries_the_log_card_out_of_band(client_as, own):
    run = RunFactory(config=own.dev, status=S.PLANNING, log_tail="Refreshing state... [id=vpc-1]")
    response = signed_in(client_as, own, "viewer").get(
        reverse("run_detail", args=[run.pk]), {"live": S.PLANNING}, **HTMX
    )
    body = response.content.decode()
    assert 'id="run-log-card" hx-swap-oob="true"' in body and "vpc-1" in body


@pytest.mark.parametrize(
    "role,shown", [("viewer", False), ("operator", True), ("approver", True), ("admin", True)]
)
def test_new_request_button_only_for_roles_that_may_request(client_as, own, role, shown):
    body = signed_in(client_as, own, role).get(reverse("run_list")).content.decode()
    assert ("New request" in body) is shown


def test_replan_is_not_offered_while_waiting_for_answers(client_as, own):
    run = RunFactory(
        config=own.dev,
        status=S.NEEDS_CLARIFICATION,
        requested_by=own.user("operator"),
        clarification={
            "questions": [{"field": "count", "question": "How many?", "options": ["1"], "free": True}]
        },
    )
    body = signed_in(client_as, own, "operator").get(reverse("run_detail", args=[run.pk])).content.decode()
    assert 'data-testid="clarification-form"' in body and 'data-testid="replan-button"' not in body
    assert "Planning starts once the questions above are answered" in body


def test_queue_flags_over_budget_plans(client_as, own):
    run = planned_run(
        own,
        cost_estimate={
            "totals": {"monthly_usd": 900.0},
            "budgets": [
                {
                    "name": "request budget",
                    "amount": 10,
                    "currency": "USD",
                    "period": "day",
                    "delta": 30,
                    "exceeded": True,
                }
            ],
        },
    )
    response = signed_in(client_as, own, "approver").get(reverse("approval_queue"))
    (row,) = response.context["rows"]
    assert row["run"].pk == run.pk and row["over_budget"] is True
    assert "over budget" in response.content.decode()

"""The whole story in a real browser against the real stack (web, Celery worker, AWS sandbox, Terraform):
an operator signs in with TOTP, picks the dev config, submits the seed request from the console and
watches the run reach awaiting approval; a second user (approver2) approves it from the approval queue;
the operator applies it and sees the outputs; the audit search finds the run and its CSV export holds
exactly the filtered rows.
"""

from __future__ import annotations

import csv
import io
import re

import pytest
from playwright.sync_api import expect

from .conftest import switch_config

pytestmark = [
    pytest.mark.xdist_group("browser"),
    pytest.mark.browser,
    pytest.mark.integration,
    pytest.mark.terraform,
]

SEED_REQUEST = "Create 3 t3.medium behind ALB in ap-south-1; max ₹1500/day"
PIPELINE_TIMEOUT_MS = 600_000  # generate + every gate + terraform plan, or apply, on a busy machine
# Where a run waits for people, or has ended: the run page stops moving in any of these.
SETTLED = ("awaiting_approval", "needs_clarification", "applied", "no_changes", "blocked", "failed",
           "rejected", "cancelled", "expired", "superseded", "stale", "interrupted")  # fmt: skip


def wait_for_status(page, stack, expected: str) -> None:
    """Wait until the run page shows a settled status (the live partial refreshes the page when the status
    changes); fail with the run's error and the processes' logs unless it is ``expected``."""
    targets = sorted({*SETTLED, expected})
    page.locator(", ".join(f'[data-testid=run-status][data-status="{s}"]' for s in targets)).first.wait_for(
        timeout=PIPELINE_TIMEOUT_MS
    )
    status = page.get_by_test_id("run-status").get_attribute("data-status")
    if status != expected:
        error = page.get_by_test_id("run-error").all_inner_texts()
        raise AssertionError(f"run is {status}, expected {expected}: {error}\n{stack.diagnostics()}")


def test_request_plan_approve_apply_audit(page_as, gantry_stack, shots, tmp_path):
    gantry_stack.ensure_worker()

    # --- the operator: pick the dev config and submit the seed request from the console ---------------
    operator = page_as("operator")
    operator.goto("/")
    dev = dict(
        gantry_stack.query(
            "SELECT name, id FROM tenants_config WHERE tenant_id = ?", (gantry_stack.tenant_id,)
        )
    )["dev"]
    switch_config(operator, dev)
    operator.goto("/console/")
    expect(operator.get_by_test_id("active-config")).to_contain_text("dev")
    operator.get_by_test_id("request-box").fill(SEED_REQUEST)
    commit = operator.get_by_test_id("intent-commit")  # the live preview: what will be done, scope, cost
    expect(commit).to_be_visible()
    expect(operator.get_by_test_id("preview-intent")).to_contain_text("t3.medium")
    shots.take(operator, "console", docs="console.png")
    operator.get_by_test_id("console-submit").click()

    operator.wait_for_url(re.compile(r"/runs/\d+/$"))
    run_id = int(re.search(r"/runs/(\d+)/$", operator.url).group(1))
    expect(operator.get_by_test_id("run-request")).to_contain_text("t3.medium")
    shots.take(operator, "run-queued")
    wait_for_status(operator, gantry_stack, "awaiting_approval")
    expect(operator.get_by_test_id("gate-results")).to_be_visible()
    expect(operator.get_by_test_id("plan-diff")).to_be_visible()
    expect(operator.get_by_test_id("approve-form")).to_have_count(0)  # operators do not approve
    shots.take(operator, "run-awaiting-approval")
    # This page keeps polling and reloads itself when the status changes; close it rather than race it.
    operator.context.close()

    # --- a second user approves it from the queue -------------------------------------------------------
    approver = page_as("approver2")
    approver.goto("/approvals/")
    expect(approver.get_by_test_id(f"approval-row-{run_id}")).to_be_visible()
    shots.take(approver, "approval-queue")
    approver.get_by_test_id(f"approval-link-{run_id}").click()
    form = approver.get_by_test_id("approve-form")
    expect(form).to_be_visible()
    for box in form.locator("input[name=acknowledged_warnings]").all():
        box.check()  # each gate warning is acknowledged explicitly
    approver.locator("#approve-comment").fill("Sized as asked; within the budget.")
    shots.take(approver, "run-approving")
    approver.get_by_test_id("approve-button").click()
    wait_for_status(approver, gantry_stack, "approved")
    expect(approver.get_by_test_id("approvals")).to_contain_text("approver2@demo.gantry.local")
    shots.take(approver, "run-approved")
    approver.context.close()

    # --- the operator applies exactly that plan and sees the outputs --------------------------------------
    operator = page_as("operator")
    operator.goto(f"/runs/{run_id}/")
    expect(operator.get_by_test_id("run-status")).to_have_attribute("data-status", "approved")
    operator.get_by_test_id("apply-button").click()
    wait_for_status(operator, gantry_stack, "applied")
    outputs = operator.get_by_test_id("run-outputs")
    expect(outputs).to_be_visible()
    expect(outputs.locator("[data-testid^=output-]").first).to_be_visible()
    shots.take(operator, "run", docs="run.png")

    # --- the audit search finds it, and the CSV holds exactly the filtered rows ----------------------------
    operator.goto("/audit/?scope=runs")
    filters = operator.get_by_test_id("audit-filters")
    filters.locator("#id_q").fill("t3.medium")
    filters.locator("#id_status").select_option("applied")
    filters.get_by_role("button", name="Apply").click()
    expect(operator).to_have_url(re.compile(r"status=applied"))
    expect(operator.get_by_test_id("audit-table")).to_contain_text(f"#{run_id}")
    shots.take(operator, "audit-search")
    with operator.expect_download() as download_info:
        operator.get_by_test_id("audit-export").click()
    download = download_info.value
    path = tmp_path / download.suggested_filename
    download.save_as(path)
    rows = list(csv.DictReader(io.StringIO(path.read_text(encoding="utf-8-sig"))))
    assert rows, "the export is empty"
    assert {row["status"] for row in rows} == {"applied"}  # only what the filters admit
    assert all("t3.medium" in row["request"] for row in rows)
    ours = [row for row in rows if row["request_id"] == str(run_id)]
    assert len(ours) == 1, rows
    row = ours[0]
    assert row["request"] == SEED_REQUEST and row["user"] == "operator@demo.gantry.local"
    assert row["tenant"] == "demo" and row["config"] == "dev"
    assert "approve by approver2@demo.gantry.local" in row["approvals"]
    assert f"/runs/{run_id}/" in row["execution_log"]
    assert row["gate_results"] and row["artifacts"]

    # --- the applied run becomes a reusable draft blueprint, and the blueprint it started from counts it --
    operator.goto(f"/runs/{run_id}/")
    operator.get_by_test_id("save-as-blueprint").click()
    operator.get_by_test_id("save-blueprint-form").locator("input[name=name]").fill(
        f"Web fleet of run {run_id}"
    )
    shots.take(operator, "save-as-blueprint")
    operator.get_by_test_id("save-blueprint-submit").click()
    expect(operator).to_have_url(re.compile(r"/blueprints/\d+/$"))
    expect(operator.get_by_test_id("blueprint-status")).to_have_text("Draft")
    expect(operator.get_by_test_id("blueprint-version")).to_contain_text("t3.medium")
    shots.take(operator, "saved-blueprint")
    # The agent started from the best approved web-tier blueprint the tenant can see (the platform's, or
    # one another test approved meanwhile); that blueprint's page lists the run among its uses.
    used = gantry_stack.query(
        "SELECT v.blueprint_id FROM runs_run r JOIN blueprints_blueprintversion v "
        "ON v.id = r.blueprint_version_id WHERE r.id = ?",
        (run_id,),
    )
    assert used, "the run does not record the blueprint it started from"
    operator.goto(f"/blueprints/{used[0][0]}/")
    expect(operator.get_by_test_id("blueprint-usage")).to_contain_text(f"#{run_id}")
    shots.take(operator, "blueprint-usage")

    exported = gantry_stack.query(
        "SELECT count(*) FROM runs_auditevent WHERE action = 'audit.exported' AND actor_label = ?",
        ("operator@demo.gantry.local",),
    )
    assert exported[0][0] == 1  # the download itself is audited

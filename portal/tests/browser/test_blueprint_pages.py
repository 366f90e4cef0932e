"""In a real browser: the blueprint library's live search and filters, approving a tenant's draft, and
"use" opening the console with that version pinned."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

from portal.testing import services

pytestmark = [pytest.mark.xdist_group("browser"), pytest.mark.browser, pytest.mark.integration]

DRAFT = """
from django.contrib.auth import get_user_model
from blueprints.services import blueprint_create_from_spec
from tenants.models import Tenant

blueprint = blueprint_create_from_spec(
    tenant=Tenant.objects.get(slug="demo"),
    user=get_user_model().objects.get(username="operator"),
    spec={"stack": "web_tier", "parameters": {"instance_type": "t3.large", "instance_count": 4}, "tags": {}},
    name="Storefront fleet",
    description="Four t3.large storefront servers behind an internal ALB.",
)
emit({"id": blueprint.pk, "version": blueprint.versions.get().pk})
"""


def test_search_approve_and_use_a_blueprint(page_as, gantry_stack, shots):
    draft = services.manage_shell(DRAFT, gantry_stack.env)
    page = page_as("approver")
    page.goto("/blueprints/")
    results = page.get_by_test_id("blueprint-results")
    mine = results.locator('[data-testid=blueprint-row][data-slug="storefront-fleet"]')
    platform_web = results.locator('[data-testid=blueprint-row][data-slug="web-tier"]')
    expect(mine).to_be_visible()
    expect(platform_web).to_be_visible()  # the tenant's own and the platform's, side by side
    shots.take(page, "library")

    # Typing searches as you go (htmx swaps the results and keeps the URL shareable).
    page.get_by_test_id("blueprint-query").fill("storefront")
    expect(results.get_by_test_id("blueprint-row")).to_have_count(1)
    expect(mine.get_by_test_id("blueprint-status")).to_have_text("Draft")
    expect(page).to_have_url(re.compile(r"q=storefront"))
    page.get_by_test_id("blueprint-query").fill("no such blueprint")
    expect(page.get_by_test_id("blueprint-empty")).to_be_visible()
    page.get_by_test_id("blueprint-query").fill("")
    page.get_by_test_id("blueprint-filter-scope").select_option("platform")
    expect(results.get_by_test_id("blueprint-row")).to_have_count(4)
    expect(mine).to_have_count(0)
    page.get_by_test_id("blueprint-filter-scope").select_option("tenant")
    expect(mine).to_be_visible()
    expect(platform_web).to_have_count(0)
    shots.take(page, "library-filtered")

    # The detail page: versions with their digest and author; an approver approves the draft.
    results.get_by_role("link", name="Storefront fleet").click()
    expect(page).to_have_url(gantry_stack.url(f"/blueprints/{draft['id']}/"))
    version = page.get_by_test_id("blueprint-version")
    expect(version).to_contain_text("operator@demo.gantry.local")
    expect(page.get_by_test_id("blueprint-use")).to_have_count(0)  # nothing approved to reuse yet
    shots.take(page, "detail-draft")
    page.get_by_test_id("blueprint-approve").click()
    expect(page.locator(".messages")).to_contain_text("Approved Storefront fleet version 1")
    expect(version.get_by_test_id("version-approved")).to_be_visible()
    expect(version).to_contain_text("approved")
    expect(page.get_by_test_id("blueprint-status")).to_have_text("Approved")
    shots.take(page, "detail-approved")
    approved = gantry_stack.query(
        "SELECT actor_label FROM runs_auditevent WHERE action = 'blueprint.approved' AND object_id = ?",
        (str(draft["id"]),),
    )
    assert approved == [("approver@demo.gantry.local",)]

    # "Use" opens the console with this version pinned.
    page.get_by_test_id("blueprint-use").click()
    expect(page).to_have_url(gantry_stack.url(f"/console/?blueprint={draft['version']}"))
    expect(page.get_by_test_id("pinned-blueprint")).to_contain_text("Storefront fleet")
    shots.take(page, "console-with-blueprint")

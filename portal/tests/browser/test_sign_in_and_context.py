"""In a real browser: sign-in with a TOTP second factor, and switching the active config."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

from .conftest import new_page, switch_config, totp_code
from .stack import demo_email, demo_password

pytestmark = [pytest.mark.xdist_group("browser"), pytest.mark.browser, pytest.mark.integration]


def test_sign_in_needs_the_authenticator_code(browser, gantry_stack, shots):
    page = new_page(browser, gantry_stack)
    page.goto("/blueprints/")
    expect(page).to_have_url(re.compile(r"/accounts/login/\?next=/blueprints/"))  # anonymous: sign in first
    shots.take(page, "login")

    page.locator("input[name=login]").fill(demo_email("admin"))
    page.locator("input[name=password]").fill(demo_password("admin"))
    page.get_by_role("button", name="Sign In").click()
    expect(page).to_have_url(re.compile(r"/accounts/2fa/authenticate/"))
    shots.take(page, "second-factor")

    # The password alone does not open the portal, and a wrong code is refused.
    page.locator("input[name=code]").fill("000000")
    page.get_by_role("button", name="Sign In").click()
    expect(page.get_by_text("Incorrect code")).to_be_visible()
    expect(page).to_have_url(re.compile(r"/accounts/2fa/authenticate/"))

    page.locator("input[name=code]").fill(totp_code(gantry_stack, "admin"))
    page.get_by_role("button", name="Sign In").click()
    expect(page).to_have_url(gantry_stack.url("/blueprints/"))  # back where the visit started
    expect(page.get_by_test_id("blueprint-results")).to_be_visible()
    expect(page.get_by_role("button", name=demo_email("admin"))).to_be_visible()
    shots.take(page, "signed-in")

    signed_in = gantry_stack.query(
        "SELECT count(*) FROM runs_auditevent WHERE action = 'auth.signed_in' AND actor_label = ?",
        (demo_email("admin"),),
    )
    assert signed_in[0][0] >= 1  # sign-ins are audited


def test_switching_the_active_config(page_as, gantry_stack, shots):
    page = page_as("operator")
    page.goto("/")
    picker = page.get_by_test_id("config-picker")
    configs = dict(
        gantry_stack.query(
            "SELECT name, id FROM tenants_config WHERE tenant_id = ?", (gantry_stack.tenant_id,)
        )
    )
    expect(picker).to_have_value(str(configs["dev"]))  # a session starts on the non-prod config
    shots.take(page, "dashboard-dev")

    switch_config(page, configs["prod"])
    active = page.get_by_role("main").get_by_role("link", name="prod", exact=True)
    expect(active).to_have_attribute("href", f"/configs/{configs['prod']}/")  # the dashboard's active config
    expect(page.get_by_test_id("config-picker")).to_have_value(str(configs["prod"]))
    shots.take(page, "dashboard-prod")

    # The choice lives in the session: another page keeps it, and switching back works the same way.
    page.goto("/configs/")
    expect(page.locator("tr.table-primary")).to_contain_text("prod")
    expect(page.get_by_test_id("config-picker")).to_have_value(str(configs["prod"]))
    shots.take(page, "configs-prod-active")
    switch_config(page, configs["dev"])
    expect(page.locator("tr.table-primary")).to_contain_text("dev")
    expect(page.get_by_test_id("config-picker")).to_have_value(str(configs["dev"]))

    switches = gantry_stack.query(
        "SELECT summary FROM runs_auditevent WHERE action = 'session.context_switched' AND actor_label = ? "
        "ORDER BY seq",
        (demo_email("operator"),),
    )
    assert [s for (s,) in switches][-2:] == [
        "Active: Demo Platform Team / prod",
        "Active: Demo Platform Team / dev",
    ]

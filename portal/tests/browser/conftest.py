"""Browser-test fixtures: the whole stack as processes (``stack.py``), Debian's Chromium through
Playwright's sync API, TOTP sign-in, and screenshots of every page visited.

Chromium and Terraform are required: without them the tests skip with the reason, unless
``GANTRY_REQUIRE_SERVICES`` is set (``make test``, CI), where they fail instead.

Playwright's sync API keeps an asyncio loop marked as running while it is started, and Django refuses ORM
calls under a running loop; so Playwright lives only for the duration of one test (``browser``), never
across tests that other modules in the same pytest worker may run in between.
"""

from __future__ import annotations

import os
import re
import shutil
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from allauth.mfa.totp.internal.auth import format_hotp_value, generate_totp_secret, hotp_value
from playwright.sync_api import expect

from portal.testing import services
from portal.testing.requirements import chromium_path, require_tool, unavailable

from .stack import DEMO_USERS, Stack, demo_email, demo_password, running_stack

CHROMIUM = chromium_path()
SCREENSHOTS = services.BASE_DIR / "var" / "test" / "screenshots"
VIEWPORT = {"width": 1440, "height": 960}  # wide enough for the expanded navbar (Bootstrap lg)
TIMEOUT_MS = 30_000  # one page interaction on a busy machine; long waits (plan, apply) pass their own
expect.set_options(timeout=TIMEOUT_MS)  # assertions wait as long as interactions do
TOTP_PERIOD = 30
TOTP_MARGIN = 5  # never submit a code in the last seconds of its window (the server allows no drift)


def docs_screenshots() -> Path:
    """Where the README's screens go: docs/screenshots only when `make screenshots` asks (it sets
    GANTRY_DOCS_SCREENSHOTS), so a test run never rewrites committed files."""
    return Path(os.environ.get("GANTRY_DOCS_SCREENSHOTS") or SCREENSHOTS / "docs")


@pytest.fixture(scope="session")
def gantry_stack(tmp_path_factory) -> Iterator[Stack]:
    """Web, sandbox (and, on demand, a worker) over one SQLite file, seeded with the demo tenant."""
    require_tool("chromium", "terraform")
    secrets = {name: generate_totp_secret() for name in DEMO_USERS}
    try:
        with running_stack(tmp_path_factory.mktemp("gantry-browser"), secrets) as stack:
            yield stack
    except services.ServiceUnavailable as exc:
        unavailable(f"test service unavailable: {exc}")


# --- TOTP ------------------------------------------------------------------------------------------------

_last_counter: dict[tuple[str, str], int] = {}


def totp_code(stack: Stack, user: str) -> str:
    """A code for ``user`` that is neither about to expire nor already used (the server refuses a replay):
    when needed, wait for the next 30-second window (a clock condition, not a guess)."""
    key = (stack.base_url, user)
    while True:
        now = time.time()
        counter = int(now) // TOTP_PERIOD
        fresh = counter > _last_counter.get(key, -1)
        if fresh and TOTP_PERIOD - (now % TOTP_PERIOD) > TOTP_MARGIN:
            _last_counter[key] = counter
            return format_hotp_value(hotp_value(stack.totp_secrets[user], counter))
        time.sleep(0.25)


# --- the browser --------------------------------------------------------------------------------------------


@pytest.fixture
def browser(gantry_stack):
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=CHROMIUM, headless=True)
        try:
            yield chromium
        finally:
            chromium.close()


class Shots:
    """Saves a full-page screenshot per page visited: var/test/screenshots/<test>/<nn>-<name>.png;
    ``docs=`` also writes the visible screen to `docs_screenshots()` (docs/screenshots under `make screenshots`)."""

    def __init__(self, test_name: str) -> None:
        self.folder = SCREENSHOTS / re.sub(r"[^A-Za-z0-9_.-]+", "_", test_name)
        shutil.rmtree(self.folder, ignore_errors=True)
        self.folder.mkdir(parents=True, exist_ok=True)
        self.count = 0

    def take(self, page, name: str, *, docs: str | None = None) -> Path:
        self.count += 1
        path = self.folder / f"{self.count:02d}-{name}.png"
        page.screenshot(path=str(path), full_page=True)
        if docs:  # the README shows the first screen, as a person opening the page sees it
            folder = docs_screenshots()
            folder.mkdir(parents=True, exist_ok=True)
            page.screenshot(path=str(folder / docs))
        return path


@pytest.fixture
def shots(request) -> Shots:
    return Shots(request.node.name)


def new_page(browser, stack: Stack, storage_state: dict | None = None):
    context = browser.new_context(
        base_url=stack.base_url, viewport=VIEWPORT, storage_state=storage_state, accept_downloads=True
    )
    context.set_default_timeout(TIMEOUT_MS)
    return context.new_page()


def sign_in(page, stack: Stack, user: str, *, code: str | None = None) -> None:
    """Email + password, then the TOTP step (every demo user has an authenticator)."""
    page.goto("/accounts/login/")
    page.locator("input[name=login]").fill(demo_email(user))
    page.locator("input[name=password]").fill(demo_password(user))
    page.get_by_role("button", name="Sign In").click()
    page.wait_for_url(re.compile(r"/accounts/2fa/authenticate/"))
    page.locator("input[name=code]").fill(code or totp_code(stack, user))
    page.get_by_role("button", name="Sign In").click()


@pytest.fixture
def page_as(browser, gantry_stack):
    """page_as(user) -> a page signed in as that demo user (signing in through the UI once per session)."""

    def open_page(user: str):
        state = gantry_stack.sign_ins.get(user)
        if state is None:
            page = new_page(browser, gantry_stack)
            sign_in(page, gantry_stack, user)
            page.get_by_test_id("config-picker").wait_for()
            state = gantry_stack.sign_ins[user] = page.context.storage_state()
            return page
        return new_page(browser, gantry_stack, state)

    return open_page


def switch_config(page, config_id: int) -> None:
    """Pick a config in the header; returns once the server has switched the session (the picker posts
    itself on change, then the browser follows the redirect back to the same page)."""
    with page.expect_response(lambda r: r.url.endswith("/context/switch/") and r.request.method == "POST"):
        page.get_by_test_id("config-picker").select_option(str(config_id))

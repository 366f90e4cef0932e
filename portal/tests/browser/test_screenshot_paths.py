"""Browser tests write their screenshots under var/; only `make screenshots` refreshes docs/screenshots."""

from __future__ import annotations

import subprocess
from pathlib import Path

from portal.testing import services

from . import conftest as browser_conftest

DOCS = services.BASE_DIR / "docs" / "screenshots"


class PageThatWritesFiles:
    """Stands in for a Playwright page: `screenshot(path=...)` writes a file, as the real one does."""

    def screenshot(self, *, path: str, full_page: bool = False) -> None:
        Path(path).write_bytes(b"\x89PNG full" if full_page else b"\x89PNG screen")


def test_a_test_run_leaves_the_committed_screenshots_alone(monkeypatch):
    monkeypatch.delenv("GANTRY_DOCS_SCREENSHOTS", raising=False)
    before = {p.name: p.read_bytes() for p in DOCS.glob("*.png")}

    shot = browser_conftest.Shots("paths-check").take(PageThatWritesFiles(), "console", docs="console.png")

    assert shot.is_relative_to(services.BASE_DIR / "var")
    assert (browser_conftest.docs_screenshots() / "console.png").is_relative_to(services.BASE_DIR / "var")
    assert {p.name: p.read_bytes() for p in DOCS.glob("*.png")} == before
    status = subprocess.run(["git", "status", "--porcelain", "docs/screenshots"], cwd=services.BASE_DIR,
                            capture_output=True, text=True, check=True)  # fmt: skip
    assert status.stdout == ""


def test_make_screenshots_points_the_readme_shots_at_docs(monkeypatch):
    monkeypatch.setenv("GANTRY_DOCS_SCREENSHOTS", str(DOCS))
    assert browser_conftest.docs_screenshots() == DOCS
    makefile = (services.BASE_DIR / "Makefile").read_text()
    assert "GANTRY_DOCS_SCREENSHOTS=$(CURDIR)/docs/screenshots" in makefile

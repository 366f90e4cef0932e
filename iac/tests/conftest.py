"""IaC tests use the root conftest's session-wide sandbox (`endpoint`, `sandbox_settings`)."""

from iac.testing import PLUGIN_DIR

__all__ = ["PLUGIN_DIR"]

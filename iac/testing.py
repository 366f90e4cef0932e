"""Constants shared by tests that run the real terraform CLI."""

import os

# The hashicorp/aws mirror terraform installs from offline (`make test` exports TERRAFORM_PLUGIN_DIR).
PLUGIN_DIR = os.environ.get("TERRAFORM_PLUGIN_DIR") or "/opt/tf-plugins"

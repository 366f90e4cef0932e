"""Constants shared by tests that run the real terraform CLI."""

from django.conf import settings

# The hashicorp/aws mirror terraform installs from offline, found where every command finds it.
PLUGIN_DIR = settings.TERRAFORM_PLUGIN_DIR

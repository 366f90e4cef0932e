#!/usr/bin/env bash
# Checks, before anything is installed, the programs `make run` and `make test` need, and says what is
# missing and how to get it. Usage: scripts/check_prerequisites.sh run|test (PYTHON, TERRAFORM_BIN respected).
set -uo pipefail
cd "${BASH_SOURCE[0]%/*}/.." || exit 2
mode=${1:-run}
python=${PYTHON:-python3.11}
terraform=${TERRAFORM_BIN:-terraform}
# The version the project needs is stated once, in the settings.
need_tf=$(sed -n 's/.*"TERRAFORM_MIN_VERSION", "\([0-9.]*\)".*/\1/p' portal/settings.py)
[ -n "$need_tf" ] || { echo "check_prerequisites: no TERRAFORM_MIN_VERSION default in portal/settings.py" >&2; exit 2; }
missing=()

if ! command -v "$python" >/dev/null 2>&1; then
  missing+=("Python 3.11 ($python): Debian/Ubuntu: apt-get install python3.11 python3.11-venv; elsewhere: pyenv install 3.11")
elif ! "$python" -c 'import sys, venv, ensurepip; sys.exit(sys.version_info[:2] != (3, 11))' 2>/dev/null; then
  missing+=("$python is not a Python 3.11 with venv and ensurepip: apt-get install python3.11-venv, or set PYTHON=/path/to/python3.11")
fi

if ! command -v "$terraform" >/dev/null 2>&1; then
  missing+=("Terraform >= $need_tf ($terraform): https://developer.hashicorp.com/terraform/install (Debian: HashiCorp's apt repository, package terraform)")
else
  have_tf=$("$terraform" version -json 2>/dev/null | sed -n 's/.*"terraform_version": *"\([0-9.]*\)".*/\1/p')
  if [ -z "$have_tf" ] || ! printf '%s\n%s\n' "$need_tf" "$have_tf" | sort -V -C; then
    missing+=("Terraform >= $need_tf (found ${have_tf:-an unknown version} at $(command -v "$terraform")): https://developer.hashicorp.com/terraform/install")
  fi
fi

if ! command -v npm >/dev/null 2>&1; then
  missing+=("npm (installs the pinned Bootstrap, htmx and Swagger UI files into static/vendor): Debian/Ubuntu: apt-get install npm; elsewhere: https://nodejs.org")
fi

if [ "$mode" = test ]; then
  # Redis, Chromium and PostgreSQL are installed by scripts/ensure_system_packages.sh through apt-get.
  system=()
  command -v redis-server >/dev/null 2>&1 || system+=(redis-server)
  command -v chromium >/dev/null 2>&1 || system+=(chromium)
  ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || system+=(postgresql)
  if [ ${#system[@]} -gt 0 ] && ! command -v apt-get >/dev/null 2>&1; then
    missing+=("${system[*]} (the integration tests run them for real): install them with your package manager")
  fi
  command -v git >/dev/null 2>&1 || missing+=("git: apt-get install git")
fi

if [ ${#missing[@]} -gt 0 ]; then
  echo "make $mode needs programs this machine does not have:" >&2
  for item in "${missing[@]}"; do echo "  - $item" >&2; done
  exit 1
fi

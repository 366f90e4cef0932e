#!/usr/bin/env bash
# Installs the pinned front-end packages from the npm lock file and copies the files the pages use
# into static/vendor/, so nothing is ever loaded from a CDN.
set -euo pipefail
cd "$(dirname "$0")/.."
npm ci --silent --no-audit --no-fund >/dev/null 2>&1 || npm ci --no-audit --no-fund
dest=static/vendor
rm -rf "$dest" && mkdir -p "$dest/bootstrap" "$dest/bootstrap-icons" "$dest/htmx"
cp node_modules/bootstrap/dist/css/bootstrap.min.css "$dest/bootstrap/"
cp node_modules/bootstrap/dist/js/bootstrap.bundle.min.js "$dest/bootstrap/"
cp node_modules/bootstrap-icons/font/bootstrap-icons.min.css "$dest/bootstrap-icons/"
cp -r node_modules/bootstrap-icons/font/fonts "$dest/bootstrap-icons/"
cp node_modules/htmx.org/dist/htmx.min.js "$dest/htmx/"
mkdir -p "$dest/swagger-ui"
cp node_modules/swagger-ui-dist/{swagger-ui.css,swagger-ui-bundle.js,swagger-ui-standalone-preset.js} "$dest/swagger-ui/"

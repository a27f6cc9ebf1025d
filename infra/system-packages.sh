#!/usr/bin/env bash
# The Debian packages CityBrain needs beside its Python environments:
#   chromium, chromium-driver  the weekly report's PDF print and the Superset browser test
#   fonts-noto-cjk             Chinese text in the report, its charts and the PDF
#   poppler-utils              pdftotext / pdffonts / pdftoppm: the report tests read the PDF back
#   postgresql                 Airflow's metadata DB under `citybrain up` (a cluster of the project's own, in its state folder)
# Installs the missing ones when run as root (as on CI); otherwise names the command to run.
set -euo pipefail
PACKAGES=(chromium chromium-driver fonts-noto-cjk poppler-utils postgresql)

missing=()
for package in "${PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q "install ok installed" || missing+=("$package")
done
[ ${#missing[@]} -eq 0 ] && exit 0

if ! command -v apt-get >/dev/null; then
  echo "system packages missing: ${missing[*]}; this is not a Debian-based machine, install their equivalents" >&2
  exit 1
fi
if [ "$(id -u)" -ne 0 ]; then
  echo "system packages missing: ${missing[*]}; run: sudo apt-get install -y --no-install-recommends ${missing[*]}" >&2
  exit 1
fi
echo "installing Debian packages: ${missing[*]} ..."
start=$(date +%s)
apt-get update -qq
DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
echo "Debian packages ready in $(( $(date +%s) - start )) s"

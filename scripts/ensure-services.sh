#!/usr/bin/env bash
# Install Debian's redis-server, prometheus (with promtool) and alertmanager when missing,
# and, optionally, victoria-metrics (with vmalert): its tests skip, saying why, without it.
set -euo pipefail
sudo=""
[ "$(id -u)" -eq 0 ] || sudo="sudo"
optional() {
  command -v victoria-metrics >/dev/null && return 0
  command -v apt-get >/dev/null || return 0
  echo "Installing victoria-metrics with apt-get (optional) ..."
  { $sudo apt-get update -qq && DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq \
      --no-install-recommends victoria-metrics >/dev/null; } ||
    echo "victoria-metrics could not be installed: its tests will be skipped" >&2
  $sudo systemctl disable --now victoria-metrics >/dev/null 2>&1 || true
}
missing=()
command -v redis-server >/dev/null || missing+=(redis-server)
command -v prometheus >/dev/null || missing+=(prometheus)
command -v promtool >/dev/null || missing+=(prometheus)
command -v prometheus-alertmanager >/dev/null || missing+=(prometheus-alertmanager)
[ ${#missing[@]} -eq 0 ] && { optional; exit 0; }
if ! command -v apt-get >/dev/null; then
  echo "agentconsole needs: ${missing[*]}. There is no apt-get here: install them with your" >&2
  echo "package manager and make sure redis-server, prometheus and promtool are on PATH." >&2
  exit 2
fi
echo "Installing ${missing[*]} with apt-get ..."
$sudo apt-get update -qq
DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
# Debian starts the services on install; the project runs its own on free ports.
for svc in redis-server prometheus prometheus-alertmanager prometheus-node-exporter; do
  $sudo systemctl disable --now "$svc" >/dev/null 2>&1 || true
done
optional

#!/usr/bin/env bash
# Install Debian's redis-server, prometheus (with promtool) and alertmanager when missing.
set -euo pipefail
missing=()
command -v redis-server >/dev/null || missing+=(redis-server)
command -v prometheus >/dev/null || missing+=(prometheus)
command -v promtool >/dev/null || missing+=(prometheus)
command -v prometheus-alertmanager >/dev/null || missing+=(prometheus-alertmanager)
[ ${#missing[@]} -eq 0 ] && exit 0
if ! command -v apt-get >/dev/null; then
  echo "agentconsole needs: ${missing[*]}. There is no apt-get here: install them with your" >&2
  echo "package manager and make sure redis-server, prometheus and promtool are on PATH." >&2
  exit 2
fi
sudo=""
[ "$(id -u)" -eq 0 ] || sudo="sudo"
echo "Installing ${missing[*]} with apt-get ..."
$sudo apt-get update -qq
DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
# Debian starts the services on install; the project runs its own on free ports.
for svc in redis-server prometheus prometheus-alertmanager prometheus-node-exporter; do
  $sudo systemctl disable --now "$svc" >/dev/null 2>&1 || true
done

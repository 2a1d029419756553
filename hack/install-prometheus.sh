#!/usr/bin/env bash
# Installs Prometheus and promtool from Debian's packages when missing, without starting the
# packaged service (tests run their own Prometheus on a loopback port).
set -euo pipefail
if command -v promtool >/dev/null && command -v prometheus >/dev/null; then exit 0; fi
echo "installing prometheus (Debian package, for promtool and the metrics test)..."
sudo_=""; [ "$(id -u)" -eq 0 ] || sudo_=sudo
policy=/usr/sbin/policy-rc.d
if [ ! -e "$policy" ]; then
  printf '#!/bin/sh\nexit 101\n' | $sudo_ tee "$policy" >/dev/null
  $sudo_ chmod +x "$policy"
  trap '$sudo_ rm -f "$policy"' EXIT
fi
$sudo_ apt-get update -qq
DEBIAN_FRONTEND=noninteractive $sudo_ apt-get install -y -qq --no-install-recommends prometheus >/dev/null
promtool --version | head -1

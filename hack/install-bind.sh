#!/usr/bin/env bash
# Installs BIND 9 (named, rndc, tsig-keygen, dig) and dnsperf from Debian's packages when missing.
set -euo pipefail
if command -v named >/dev/null && command -v rndc >/dev/null && command -v dig >/dev/null \
   && command -v tsig-keygen >/dev/null && command -v dnsperf >/dev/null; then
  exit 0
fi
echo "installing BIND 9 from Debian (bind9, bind9-utils, bind9-dnsutils; dnsperf for bench/serving_tier.py)..."
sudo_=""; [ "$(id -u)" -eq 0 ] || sudo_=sudo
$sudo_ apt-get update -qq
DEBIAN_FRONTEND=noninteractive $sudo_ apt-get install -y -qq --no-install-recommends \
  bind9 bind9-utils bind9-dnsutils dnsperf >/dev/null
named -v

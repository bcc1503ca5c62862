#!/bin/sh
# The base of cinch's image, made offline from Debian's packages (no image registry): mmdebstrap
# builds a root filesystem of Debian's essential set plus what the agent execs, and `podman import`
# stores it as an image. Cached in podman's local storage under a tag keyed on this script (the
# release, the package list, the options): a second run only checks that the tag exists.
# Prints the tag; also tags it localhost/cinch-base:<release>, the Containerfile's default BASE.
#
#   daemonset/base-image.sh            # build if missing, print the tag
#   MIRROR=http://deb.example/debian daemonset/base-image.sh
set -eu
release=bookworm
# nftables: the agent's rules and the masquerade; conntrack: flows a new policy denies are cut
# (the CLI, for operators; the agent speaks ctnetlink itself); kmod: modprobe br_netfilter;
# libstdc++6: Node and the native addons link it (libc6, libgcc-s1 come with it).
packages=nftables,conntrack,kmod,libstdc++6
mirror=${MIRROR:-http://deb.debian.org/debian}
security=${SECURITY_MIRROR:-http://deb.debian.org/debian-security}

key=$(sha256sum "$0" | cut -c1-12)
tag=localhost/cinch-base:$release-$key
if ! podman image exists "$tag"; then
  echo "base-image: building $tag with mmdebstrap" >&2
  # essential: no apt, no perl; docs, man pages and locales are of no use in an image.
  mmdebstrap --quiet --variant=essential --include="$packages" \
    --dpkgopt='path-exclude=/usr/share/doc/*' --dpkgopt='path-exclude=/usr/share/man/*' \
    --dpkgopt='path-exclude=/usr/share/locale/*' --dpkgopt='path-exclude=/usr/share/info/*' \
    --format=tar "$release" - \
    "deb $mirror $release main" "deb $mirror $release-updates main" "deb $security $release-security main" \
    | podman import --quiet - "$tag" >/dev/null
fi
podman tag "$tag" "localhost/cinch-base:$release"
echo "$tag"

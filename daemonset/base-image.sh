#!/bin/sh
# The base of cinch's image, made offline from Debian's packages (no image registry): mmdebstrap
# builds a root filesystem of Debian's essential set plus what the agent execs, and `podman import`
# stores it as an image. Cached in podman's local storage under a tag keyed on this script (the
# release, the package list, the options): a second run only checks that the tag exists.
# Prints the tag; also tags it localhost/cinch-base:<release>, the Containerfile's default BASE.
#
#   daemonset/base-image.sh            # build if missing, print the tag
#   SOURCES=/path/to/my.sources daemonset/base-image.sh   # another archive (deb822 or one-line)
set -eu
release=bookworm
# nftables: the agent's rules and the masquerade; conntrack: flows a new policy denies are cut
# (the CLI, for operators; the agent speaks ctnetlink itself); kmod: modprobe br_netfilter;
# libstdc++6: Node and the native addons link it (libc6, libgcc-s1 come with it).
packages=nftables,conntrack,kmod,libstdc++6
# The machine's own apt sources (deb822) when they serve this release, so the build reaches the
# archive the way apt here does; otherwise mmdebstrap's default mirror, with updates and security.
# SOURCES=<file> overrides.
sources=${SOURCES:-}
if [ -z "$sources" ] && grep -qs "^Suites:.*\b$release\b" /etc/apt/sources.list.d/debian.sources; then
  sources=/etc/apt/sources.list.d/debian.sources
fi

key=$(sha256sum "$0" | cut -c1-12)
tag=localhost/cinch-base:$release-$key
# One build at a time (two test files, or a test and a person, may ask at once): the others wait
# for it and find the tag.
lock=${TMPDIR:-/tmp}/cinch-base-image.lock
exec 9>"$lock"
flock 9
if ! podman image exists "$tag"; then
  echo "base-image: building $tag with mmdebstrap" >&2
  # essential: no apt, no perl; docs, man pages and locales are of no use in an image.
  mmdebstrap --quiet --variant=essential --include="$packages" \
    --dpkgopt='path-exclude=/usr/share/doc/*' --dpkgopt='path-exclude=/usr/share/man/*' \
    --dpkgopt='path-exclude=/usr/share/locale/*' --dpkgopt='path-exclude=/usr/share/info/*' \
    --format=tar "$release" - ${sources:+"$sources"} \
    | podman import --quiet - "$tag" >/dev/null
  # Bases made by earlier versions of this script are of no further use.
  for old in $(podman images --format '{{.Repository}}:{{.Tag}}' localhost/cinch-base | grep -v -e ":$release-$key\$" -e ":$release\$"); do
    podman rmi "$old" >/dev/null 2>&1 || true
  done
fi
podman tag "$tag" "localhost/cinch-base:$release"
echo "$tag"

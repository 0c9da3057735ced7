#!/bin/sh
# fwmesh install hook for RAUC (https://rauc.io), on A/B (or A/B/recovery) systems.
#
# fwmesh runs:  rauc.sh IMAGE VERSION
# with FWMESH_IMAGE, FWMESH_VERSION, FWMESH_RELEASE and FWMESH_PRODUCT in the environment.
# The release's image must be a RAUC bundle (.raucb) for this product's compatible string,
# signed with a key in the device's RAUC keyring: RAUC checks both on its own, on top of the
# SHA-256 that fwmesh already verified against the ledger.
#
# Exit codes: `rauc install` exits 0 once the bundle is written to the inactive slot and that
# slot is marked to boot next: fwmesh reports "installed" (the device runs the new version
# after its next reboot). Anything else is "failed", with RAUC's last error lines as the
# report's detail. This script passes RAUC's exit code through.
#
# Adapt:
# - Reboot policy. Left to the product: reboot here (uncomment below), in a maintenance task,
#   or at the user's next power cycle. If this hook reboots, fwmesh reports "installed" after
#   the reboot, when it sees the new version running.
# - Marking good. After a healthy boot into the new slot, run `rauc status mark-good`
#   (usually from a systemd unit on the new system), or the bootloader falls back.
# - The running version fwmesh is told at boot should come from the booted slot (for
#   example the bundle version in `rauc status --output-format=json`).
set -eu

image=${1:-${FWMESH_IMAGE:-}}
if [ -z "$image" ]; then
  echo "usage: $0 BUNDLE [VERSION] (or FWMESH_IMAGE)" >&2
  exit 64
fi

rauc install "$image"

# systemctl reboot

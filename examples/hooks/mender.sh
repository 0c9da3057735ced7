#!/bin/sh
# fwmesh install hook for Mender in standalone mode (mender-update, Mender client 4 and later).
#
# fwmesh runs:  mender.sh IMAGE VERSION
# with FWMESH_IMAGE, FWMESH_VERSION, FWMESH_RELEASE and FWMESH_PRODUCT in the environment.
# The release's image must be a Mender Artifact (.mender) for this device type; mender-update
# checks it (and its signature, when ArtifactVerifyKey is configured) on top of the SHA-256
# that fwmesh already verified against the ledger.
#
# Exit codes of `mender-update install --reboot-exit-code`: 0 = installed and committed (an
# update module that needs no reboot); 4 = installed, a reboot is needed to run it; anything
# else = failed. This script maps 0 and 4 to 0 (fwmesh reports "installed") and passes any
# other code through (fwmesh reports "failed" with mender-update's last error lines).
#
# Adapt:
# - Reboot policy: for code 4, reboot here (uncomment below) or leave it to a maintenance task.
#   fwmesh reports "installed" after the reboot too, when it sees the new version running.
# - Commit: after a healthy boot into the new rootfs, run `mender-update commit`, usually from
#   a systemd unit; an uncommitted update rolls back at the next reboot.
set -eu

image=${1:-${FWMESH_IMAGE:-}}
if [ -z "$image" ]; then
  echo "usage: $0 ARTIFACT [VERSION] (or FWMESH_IMAGE)" >&2
  exit 64
fi

status=0
mender-update install --reboot-exit-code "$image" || status=$?
case $status in
  0) ;;
  4)
    echo "mender.sh: installed; a reboot activates it"
    # systemctl reboot
    ;;
  *) exit "$status" ;;
esac

#!/bin/sh
# fwmesh install hook for SWUpdate (https://sbabic.github.io/swupdate/).
#
# fwmesh runs:  swupdate.sh IMAGE VERSION
# with FWMESH_IMAGE, FWMESH_VERSION, FWMESH_RELEASE and FWMESH_PRODUCT in the environment.
# The release's image must be a .swu archive for this hardware; SWUpdate checks its
# sw-description (and its signature, when built with signing) on top of the SHA-256 that
# fwmesh already verified against the ledger.
#
# Exit codes: `swupdate -i` exits 0 when every handler succeeded (for a dual-copy layout:
# the other copy is written and the bootloader environment switched): fwmesh reports
# "installed". Anything else is "failed", with SWUpdate's last error lines as the report's
# detail. This script passes SWUpdate's exit code through.
#
# Adapt, in SWUPDATE_ARGS (set in the node's install environment) or below:
# - `-k /etc/swupdate/public.pem` to require signed images;
# - `-e stable,copy2` (or whatever your sw-description calls it) to select the slot to write,
#   usually computed from the slot that runs now;
# - `-H board:revision` if the hardware compatibility check needs it.
# Reboot policy and confirming the new copy after a healthy boot stay with the product, as
# with RAUC (see rauc.sh).
set -eu

image=${1:-${FWMESH_IMAGE:-}}
if [ -z "$image" ]; then
  echo "usage: $0 IMAGE.swu [VERSION] (or FWMESH_IMAGE)" >&2
  exit 64
fi

# SWUPDATE_ARGS is split into words on purpose: it holds several options.
# shellcheck disable=SC2086
swupdate ${SWUPDATE_ARGS:-} -i "$image"

#!/bin/sh
# fwmesh install hook for SWUpdate (https://sbabic.github.io/swupdate/).
#
#   swupdate.sh IMAGE VERSION      install (fwmesh's install step)
#   swupdate.sh confirm VERSION    after a boot: did VERSION boot? (see README.md, "Confirm")
#
# The image must be a .swu archive whose sw-description lists this device's hardware in
# `hardware-compatibility`; SWUpdate checks it (and the signature, when built with signing,
# as Debian's is) on top of the SHA-256 fwmesh verified against the ledger.
#
# Settings (environment, from the node's [device] install_env):
#   SWUPDATE_MODE        "local" (default): run `swupdate -i IMAGE`; "daemon": hand the image
#                        to a running SWUpdate through `swupdate-client` (the daemon then has
#                        its own -k, -H and the install happens in the daemon)
#   SWUPDATE_SELECTION   the software set and mode for `-e`, like "stable,copy2": the copy
#                        that does NOT run now (on A/B, computed by whatever sets install_env,
#                        or by SWUPDATE_SELECTION_CMD, a command printing it)
#   SWUPDATE_KEY         the public key/certificate for `-k` (local mode)
#   SWUPDATE_ARGS        more swupdate options, split into words (local mode)
#   FWMESH_HARDWARE      set by fwmesh from the node's config: passed as `-H BOARD:REVISION`,
#                        where BOARD is SWUPDATE_BOARD (default FWMESH_PRODUCT); a value that
#                        already holds a ":" is passed as it is
#   SWUPDATE_VERSION_FILE confirm: a file holding the running version (default
#                        /etc/fwmesh-version, shipped in the rootfs the .swu writes)
#   SWUPDATE_CONFIRM_CMD confirm: run once the new version is seen running, e.g.
#                        "fw_setenv upgrade_available 0" to stop the bootloader's fallback
#
# install: exit 0 when every handler succeeded (the other copy is written and the bootloader
# switched); otherwise SWUpdate's exit code, with SWUpdate's own ERROR lines repeated last on
# stderr (fwmesh keeps them as the report's detail: "SW not compatible with hardware").
# confirm: exit 0 when VERSION runs (after SWUPDATE_CONFIRM_CMD), 1 when another version runs
# (printed: rolled back), 2 unknown.
set -u

if [ "${1:-}" = confirm ]; then
  want=${2:-${FWMESH_VERSION:-}}
  file=${SWUPDATE_VERSION_FILE:-/etc/fwmesh-version}
  if [ ! -r "$file" ]; then
    echo "swupdate.sh: unknown: cannot read the running version from $file" >&2
    exit 2
  fi
  running=$(head -n 1 "$file")
  if [ "$running" != "$want" ]; then
    echo "$running"
    echo "swupdate.sh: rolled back: running $running, not $want" >&2
    exit 1
  fi
  if [ -n "${SWUPDATE_CONFIRM_CMD:-}" ] && ! sh -c "$SWUPDATE_CONFIRM_CMD"; then
    echo "swupdate.sh: unknown: $SWUPDATE_CONFIRM_CMD failed" >&2
    exit 2
  fi
  echo "$want confirmed"
  exit 0
fi

image=${1:-${FWMESH_IMAGE:-}}
if [ -z "$image" ]; then
  echo "usage: $0 IMAGE.swu [VERSION] | $0 confirm VERSION" >&2
  exit 64
fi

selection=${SWUPDATE_SELECTION:-}
if [ -z "$selection" ] && [ -n "${SWUPDATE_SELECTION_CMD:-}" ]; then
  selection=$(sh -c "$SWUPDATE_SELECTION_CMD") || {
    echo "swupdate.sh: SWUPDATE_SELECTION_CMD failed: cannot choose the copy to write" >&2
    exit 70
  }
fi

set --
[ -n "$selection" ] && set -- "$@" -e "$selection"

out=$(mktemp)
trap 'rm -f "$out"' EXIT
status=0
case ${SWUPDATE_MODE:-local} in
  local)
    [ -n "${SWUPDATE_KEY:-}" ] && set -- "$@" -k "$SWUPDATE_KEY"
    if [ -n "${FWMESH_HARDWARE:-}" ]; then
      case $FWMESH_HARDWARE in
        *:*) set -- "$@" -H "$FWMESH_HARDWARE" ;;
        *) set -- "$@" -H "${SWUPDATE_BOARD:-${FWMESH_PRODUCT:-board}}:$FWMESH_HARDWARE" ;;
      esac
    fi
    # SWUPDATE_ARGS holds several options on purpose.
    # shellcheck disable=SC2086
    swupdate ${SWUPDATE_ARGS:-} "$@" -i "$image" >"$out" 2>&1 || status=$?
    ;;
  daemon)
    swupdate-client -v "$@" "$image" >"$out" 2>&1 || status=$?
    ;;
  *)
    echo "swupdate.sh: SWUPDATE_MODE must be local or daemon, not ${SWUPDATE_MODE}" >&2
    exit 64
    ;;
esac
cat "$out"
if [ "$status" -ne 0 ]; then
  # SWUpdate prints its reasons as "[ERROR] ..." lines on stdout, the cause first and then
  # the generic "Image invalid" and "SWUpdate *failed*": fwmesh keeps the end of stderr, so
  # repeat them there in reverse, the cause last.
  reasons=$(grep -i 'error' "$out" | sed 's/^\[ERROR\] : SWUPDATE failed \[[0-9]*\] *//; s/^ERROR : //' |
    awk '{ l[NR] = $0 } END { for (i = NR; i > 0 && i > NR - 3; i--) print l[i] }')
  [ -n "$reasons" ] || reasons=$(tail -n 1 "$out")
  echo "${reasons:-swupdate exited with $status}" | sed 's/^/swupdate.sh: /' >&2
fi
exit "$status"

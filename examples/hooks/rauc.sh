#!/bin/sh
# fwmesh install hook for RAUC (https://rauc.io), on A/B (or A/B/recovery) systems.
#
#   rauc.sh IMAGE VERSION      install (fwmesh's install step)
#   rauc.sh confirm VERSION    after a boot: did VERSION boot? (see README.md, "Confirm")
#
# The image must be a RAUC bundle (.raucb) for this system's compatible string, signed with a
# key in RAUC's keyring: RAUC checks both, on top of the SHA-256 fwmesh verified against the
# ledger. `rauc install` talks to the RAUC service over D-Bus; RAUC_ARGS (from install_env)
# is put before the command, e.g. "--conf=/etc/rauc/system.conf".
#
# install: exit 0 once the inactive slot is written and marked to boot next; otherwise RAUC's
# exit code, and RAUC's own reason (it prints `LastError: ...` on stdout) repeated on stderr
# as the last line, which fwmesh keeps as the report's detail. If fwmesh stops the hook at
# install_timeout (SIGTERM), the RAUC service goes on installing; the hook asks `rauc status`
# whether the new slot is activated or the service is still busy: then it prints "unknown: ..."
# so the report says the outcome is decided at the next boot (by `confirm`), not "failed".
#
# confirm: exit 0 when the booted slot runs VERSION (and marks it good: `rauc status
# mark-good`), 1 when another version runs (rolled back; that version is printed), 2 unknown.
set -u

# RAUC_ARGS holds several options on purpose.
# shellcheck disable=SC2086
rauc_() { rauc ${RAUC_ARGS:-} "$@"; }

# Loads `rauc status` as RAUC_* shell variables (RAUC's own shell output format).
load_status() {
  st=$(rauc_ status --detailed --output-format=shell 2>/dev/null) || return 1
  eval "$st"
}

# Prints the field (like STATE or STATUS_BUNDLE_VERSION) of the slot named $2, or of the
# booted slot when $2 is empty.
slot_field() {
  i=0
  for name in $RAUC_SYSTEM_SLOTS; do
    i=$((i + 1))
    eval "state=\$RAUC_SLOT_STATE_$i"
    if [ "$name" = "${2:-}" ] || { [ -z "${2:-}" ] && [ "$state" = booted ]; }; then
      eval "printf '%s' \"\$RAUC_SLOT_$1_$i\""
      return 0
    fi
  done
}

if [ "${1:-}" = confirm ]; then
  want=${2:-${FWMESH_VERSION:-}}
  if ! load_status; then
    echo "rauc.sh: unknown: rauc status failed" >&2
    exit 2
  fi
  running=$(slot_field STATUS_BUNDLE_VERSION)
  if [ "$running" = "$want" ]; then
    if ! rauc_ status mark-good >/dev/null; then
      echo "rauc.sh: unknown: rauc status mark-good failed" >&2
      exit 2
    fi
    echo "$want confirmed"
    exit 0
  fi
  # The booted slot runs something else: the bootloader fell back (or never switched).
  echo "${running:-unknown}"
  echo "rauc.sh: rolled back: running ${running:-a version RAUC did not install}, not $want" >&2
  exit 1
fi

image=${1:-${FWMESH_IMAGE:-}}
if [ -z "$image" ]; then
  echo "usage: $0 BUNDLE [VERSION] | $0 confirm VERSION" >&2
  exit 64
fi

out=$(mktemp)
on_term() {
  # fwmesh's install_timeout stopped this hook and the `rauc install` client, not the RAUC
  # service, which goes on with the install. While it does, `rauc status` is refused (busy):
  # the new slot may still be activated, so the outcome is unknown until the next boot.
  if ! load_status; then
    echo "rauc.sh: unknown: timed out while the RAUC service is still installing; the next boot decides (confirm)" >&2
  elif [ "$(slot_field STATE "$RAUC_BOOT_PRIMARY")" != booted ]; then
    echo "rauc.sh: unknown: timed out after slot $RAUC_BOOT_PRIMARY was activated; the next boot decides (confirm)" >&2
  else
    echo "rauc.sh: timed out before a new slot was activated; $(tail -n 1 "$out")" >&2
  fi
  rm -f "$out"
  exit 75
}
trap on_term TERM

status=0
rauc_ install "$image" >"$out" 2>&1 &
wait $! || status=$?
cat "$out"
if [ "$status" -ne 0 ]; then
  # RAUC prints its reason on stdout: repeat it as the last line of stderr.
  reason=$(grep 'LastError:' "$out" | tail -n 1)
  [ -n "$reason" ] || reason=$(tail -n 1 "$out")
  echo "rauc.sh: ${reason:-rauc install exited with $status}" >&2
fi
rm -f "$out"
exit "$status"

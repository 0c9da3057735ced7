#!/bin/sh
# fwmesh install hook for Mender in standalone mode: Mender client 3.x (`mender install`,
# `mender commit`) and 4.x and later (`mender-update install`, `mender-update commit`).
#
#   mender.sh IMAGE VERSION      install (fwmesh's install step)
#   mender.sh confirm VERSION    after a boot: did VERSION boot? (see README.md, "Confirm")
#
# The image must be a Mender Artifact (.mender) for this device type, named VERSION (the
# artifact name is what `show-artifact` reports as running). mender checks the device type
# (and the signature, with ArtifactVerifyKey) on top of the SHA-256 fwmesh verified.
#
# install: exit 0 only when the update is committed, or when it is written and waits for
# a reboot (rootfs updates: the new rootfs runs uncommitted after the reboot, and `confirm`
# commits it); otherwise mender's exit code, with its last error line repeated on stderr.
# MENDER_ARGS (from install_env) goes before the command, e.g. "--config FILE --data DIR".
# MENDER_CLIENT ("mender" or "mender-update") forces the client; by default mender-update
# (4.x) is used when installed, else mender (3.x).
#
# confirm: commits a pending update, then exit 0 when VERSION runs, 1 when another version
# runs (printed: the update rolled back), 2 unknown.
set -u

client=${MENDER_CLIENT:-}
if [ -z "$client" ]; then
  if command -v mender-update >/dev/null; then client=mender-update; else client=mender; fi
fi

# MENDER_ARGS holds several options on purpose (like "--config FILE --data DIR").
# shellcheck disable=SC2086
m() { "$client" ${MENDER_ARGS:-} "$@"; }

out=$(mktemp)
trap 'rm -f "$out"' EXIT

fail() {
  # Mender 3.x logs as logfmt (time=... level=error msg="..."): keep the message.
  reason=$(grep -i 'error' "$out" | tail -n 1 | sed 's/^time=.* msg="\(.*\)"$/\1/')
  [ -n "$reason" ] || reason=$(tail -n 1 "$out")
  echo "mender.sh: ${reason:-$1}" >&2
}

if [ "${1:-}" = confirm ]; then
  want=${2:-${FWMESH_VERSION:-}}
  # Commit whatever is pending (a no-op error when nothing is): an uncommitted update that
  # booted is made permanent; one that did not boot was already rolled back by the bootloader.
  m commit >"$out" 2>&1 || true
  if ! running=$(m show-artifact 2>/dev/null); then
    echo "mender.sh: unknown: $client show-artifact failed" >&2
    exit 2
  fi
  if [ "$running" = "$want" ]; then
    echo "$want confirmed"
    exit 0
  fi
  echo "$running"
  echo "mender.sh: rolled back: running $running, not $want" >&2
  exit 1
fi

image=${1:-${FWMESH_IMAGE:-}}
if [ -z "$image" ]; then
  echo "usage: $0 ARTIFACT [VERSION] | $0 confirm VERSION" >&2
  exit 64
fi

status=0
case $client in
  mender-update)
    # 4.x: exit 4 = written, a reboot runs it (and leaves it to commit after the boot).
    m install --reboot-exit-code "$image" >"$out" 2>&1 || status=$?
    cat "$out"
    case $status in
      4) echo "mender.sh: installed; reboot to run it (confirm commits after the boot)"; exit 0 ;;
      0) ;;
      *) fail "mender-update install exited with $status"; exit "$status" ;;
    esac
    ;;
  *)
    m install "$image" >"$out" 2>&1 || status=$?
    cat "$out"
    if [ "$status" -ne 0 ]; then
      fail "mender install exited with $status"
      exit "$status"
    fi
    # 3.x says when a reboot is needed; the update is then committed after the boot.
    if grep -qi 'reboot' "$out"; then
      echo "mender.sh: installed; reboot to run it (confirm commits after the boot)"
      exit 0
    fi
    ;;
esac

# No reboot needed: commit now, so "installed" means committed.
status=0
m commit >"$out" 2>&1 || status=$?
cat "$out"
if [ "$status" -ne 0 ]; then
  fail "$client commit exited with $status"
  exit "$status"
fi

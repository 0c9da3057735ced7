#!/bin/sh
# fwmesh install hook: a plain script, for demos, tests and devices without an A/B updater.
#
#   script.sh IMAGE VERSION      install (fwmesh's install step)
#   script.sh confirm VERSION    after a boot: did VERSION boot? (see README.md, "Confirm"):
#                                exit 0 when $FWMESH_RUNNING_VERSION_FILE (default
#                                $FWMESH_INSTALL_DIR/version) holds VERSION, 1 when it holds
#                                another (printed: rolled back), 2 when it cannot be read
# with FWMESH_IMAGE, FWMESH_VERSION, FWMESH_RELEASE and FWMESH_PRODUCT in the environment.
#
# "Installing" here means: put the verified image at $FWMESH_INSTALL_DIR/firmware.img and
# write the version to $FWMESH_INSTALL_DIR/version, each atomically (a temporary name in the
# same directory, then a rename), so a power cut leaves the old or the new file, never half of
# one. The node can read that `version` file at boot as the running version.
#
# The image is hard-linked when the install directory is on the node's file system, so the
# device stores it once (fwmesh never writes into an image once it is complete, and deleting
# its own name later leaves this one); on another file system it is copied.
#
# Exit codes (0: installed, and the confirm step decides what runs; anything else is
# reported "failed" with the last lines of stderr as the detail):
#   0   installed
#   64  usage: no image path or version given (EX_USAGE)
#   66  the image cannot be read (EX_NOINPUT)
#   73  the install directory cannot be created or written (EX_CANTCREAT)
#
# Adapt: where the firmware goes (a partition: dd + sync instead of cp), how it is activated
# (a bootloader variable, a service restart), and whether to reboot. If the hook reboots the
# device itself, fwmesh still reports correctly: at the next start the confirm step
# (`script.sh confirm VERSION`, device.confirm_command) finds the new version running and
# reports "confirmed".
set -eu

dir=${FWMESH_INSTALL_DIR:-/var/lib/fwmesh/installed}

if [ "${1:-}" = confirm ]; then
  want=${2:-${FWMESH_VERSION:-}}
  file=${FWMESH_RUNNING_VERSION_FILE:-$dir/version}
  if ! running=$(head -n 1 "$file" 2>/dev/null) || [ -z "$running" ]; then
    echo "script.sh: unknown: cannot read the running version from $file" >&2
    exit 2
  fi
  if [ "$running" = "$want" ]; then
    echo "$want confirmed"
    exit 0
  fi
  echo "$running"
  echo "script.sh: rolled back: running $running, not $want" >&2
  exit 1
fi

image=${1:-${FWMESH_IMAGE:-}}
version=${2:-${FWMESH_VERSION:-}}

if [ -z "$image" ] || [ -z "$version" ]; then
  echo "usage: $0 IMAGE VERSION (or FWMESH_IMAGE and FWMESH_VERSION)" >&2
  exit 64
fi
if [ ! -r "$image" ]; then
  echo "script.sh: cannot read the image $image" >&2
  exit 66
fi
if ! mkdir -p "$dir"; then
  echo "script.sh: cannot create $dir" >&2
  exit 73
fi

tmp_image="$dir/.firmware.img.$$"
tmp_version="$dir/.version.$$"
trap 'rm -f "$tmp_image" "$tmp_version"' EXIT

# Installed before (the same file, linked: a restart during the install runs it again).
same=false
if [ "$image" -ef "$dir/firmware.img" ]; then same=true; fi
if ! { $same || ln "$image" "$tmp_image" 2>/dev/null || cp "$image" "$tmp_image"; } ||
  ! printf '%s\n' "$version" >"$tmp_version"; then
  echo "script.sh: cannot write to $dir" >&2
  exit 73
fi
# Make the data durable before the renames make it visible.
sync
$same || mv -f "$tmp_image" "$dir/firmware.img"
mv -f "$tmp_version" "$dir/version"
sync

echo "installed $version into $dir"

#!/usr/bin/env bash
# Installs the libtorrent anchor of the swarm benchmark (bench/anchors/libtorrent.ts):
# Debian's python3-libtorrent (2.0.8 in bookworm), imported by the system /usr/bin/python3
# (not a pyenv or venv python, which cannot see Debian's dist-packages).
# Idempotent: exits at once when the module already imports.
set -euo pipefail

if /usr/bin/python3 -c 'import libtorrent' >/dev/null 2>&1; then
  echo "python3-libtorrent is already installed: $(/usr/bin/python3 -c 'import libtorrent; print(libtorrent.__version__)')"
  exit 0
fi

# sudo only when not root (containers often run as root without sudo).
if [ "$(id -u)" -eq 0 ]; then
  SUDO=()
else
  SUDO=(sudo)
fi

"${SUDO[@]}" apt-get update
"${SUDO[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends python3-libtorrent

/usr/bin/python3 -c 'import libtorrent; print("python3-libtorrent", libtorrent.__version__, "installed")'

#!/usr/bin/env bash
# Installs ngspice and libngspice (Debian/Ubuntu packages) when they are missing.
# Idempotent: does nothing, quickly, when the shared library is already present.
# Without root or sudo it prints what to install by hand and carries on: the
# built-in simulator still works, and the ngspice tests fail with that message.
set -u
have_lib() {
  [ -n "${NGSPICE_LIBRARY_PATH:-}" ] && [ -f "${NGSPICE_LIBRARY_PATH}" ] && return 0
  ldconfig -p 2>/dev/null | grep -q 'libngspice\.so' && return 0
  for d in /usr/lib/x86_64-linux-gnu /usr/lib/aarch64-linux-gnu /usr/lib /usr/local/lib; do
    [ -e "$d/libngspice.so.0" ] && return 0
  done
  return 1
}
if have_lib && command -v ngspice >/dev/null 2>&1; then
  echo "setup: ngspice and libngspice already installed ($(command -v ngspice))."
  exit 0
fi
SUDO=""
if [ "$(id -u)" -ne 0 ]; then
  if command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then SUDO="sudo"; else SUDO="none"; fi
fi
if [ "$SUDO" = "none" ] || ! command -v apt-get >/dev/null 2>&1; then
  cat >&2 <<'MSG'
setup: ngspice is not installed and this user cannot install it (no root, no
       password-less sudo, or no apt-get). Install it by hand:
           sudo apt-get install -y ngspice libngspice0
       or point NGSPICE_LIBRARY_PATH at a libngspice.so. Until then the
       built-in simulator works, and the ngspice tests fail with this message.
MSG
  exit 0
fi
echo "setup: installing ngspice and libngspice0 with apt-get ..."
export DEBIAN_FRONTEND=noninteractive
if ! $SUDO apt-get install -y -q ngspice libngspice0 >/tmp/diodenet-apt.log 2>&1; then
  echo "setup: refreshing the package lists (apt-get update) and trying again ..."
  $SUDO apt-get update -q >>/tmp/diodenet-apt.log 2>&1
  if ! $SUDO apt-get install -y -q ngspice libngspice0 >>/tmp/diodenet-apt.log 2>&1; then
    echo "setup: apt-get could not install ngspice (log: /tmp/diodenet-apt.log)." >&2
    echo "       Install by hand: sudo apt-get install -y ngspice libngspice0" >&2
    exit 0
  fi
fi
echo "setup: ngspice installed."

#!/usr/bin/env bash
# Install what mcusim needs on a Debian/Ubuntu machine:
#  1. the Arm cross-compiler (Debian packages gcc-arm-none-eabi, libnewlib-arm-none-eabi)
#     when arm-none-eabi-gcc is absent, and a host C compiler (Debian package gcc: mcusim's
#     native counting hooks are C, built once per cache) when cc is absent -- installed
#     directly as root, otherwise the exact command to run is printed and the script stops;
#  2. a Python virtual environment (default .venv) with mcusim, its test extra and the search
#     extra (TensorFlow, for the architecture and bit-width searches and their tests).
set -euo pipefail
VENV="${1:-.venv}"

PKGS=""
command -v arm-none-eabi-gcc >/dev/null 2>&1 || PKGS="gcc-arm-none-eabi libnewlib-arm-none-eabi binutils-arm-none-eabi"
command -v cc >/dev/null 2>&1 || command -v gcc >/dev/null 2>&1 || PKGS="$PKGS gcc"
if [ -n "$PKGS" ]; then
  if [ "$(id -u)" = "0" ]; then
    echo "setup: installing the compilers ($PKGS)"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq $PKGS >/dev/null
  else
    echo "setup: compilers are missing ($PKGS). Install them with:" >&2
    echo "    sudo apt-get update && sudo apt-get install -y $PKGS" >&2
    echo "then run this command again." >&2
    exit 1
  fi
fi

if [ ! -x "$VENV/bin/python" ]; then
  PYTHON="${PYTHON:-python3}"
  if ! "$PYTHON" -c 'import sys; assert sys.version_info >= (3, 11)' 2>/dev/null; then
    echo "setup: mcusim needs Python >= 3.11 (found: $($PYTHON --version 2>&1))" >&2
    exit 1
  fi
  if ! "$PYTHON" -m venv "$VENV" 2>/dev/null; then
    if [ "$(id -u)" = "0" ]; then
      apt-get install -y -qq python3-venv >/dev/null && "$PYTHON" -m venv "$VENV"
    else
      echo "setup: python3 -m venv failed. Install it with: sudo apt-get install -y python3-venv" >&2
      exit 1
    fi
  fi
fi
echo "setup: installing mcusim into $VENV"
"$VENV/bin/python" -m pip install -q --upgrade pip >/dev/null 2>&1 || true
"$VENV/bin/python" -m pip install -q -e ".[test,search]"

#!/usr/bin/env bash
# Create the two virtual environments the recorder needs:
#   DIR/venv-2.0.1  with tinyproto==2.0.1
#   DIR/venv-3.0    with tinyproto==3.0
# Idempotent: a venv whose tinyproto already has the wanted version is left alone.
# Only PyPI is used (through pip, as configured on this machine).
#
# Usage: conformance/recorder/setup_venvs.sh DIR
set -euo pipefail

dir=${1:?usage: setup_venvs.sh DIR}
mkdir -p "$dir"

# has_version VENV VERSION: true when VENV's python imports tinyproto at VERSION.
has_version() {
    local venv=$1 version=$2
    [ -x "$venv/bin/python" ] || return 1
    "$venv/bin/python" - "$version" <<'PY' 2>/dev/null
import sys
from importlib import metadata
sys.exit(0 if metadata.version("tinyproto") == sys.argv[1] else 1)
PY
}

# make_venv NAME VERSION: create DIR/NAME and install tinyproto==VERSION into it.
make_venv() {
    local venv="$dir/$1" version=$2
    if has_version "$venv" "$version"; then
        echo "$venv: tinyproto $version already installed"
        return 0
    fi
    python3 -m venv "$venv"
    "$venv/bin/python" -m pip install --disable-pip-version-check --quiet "tinyproto==$version"
    has_version "$venv" "$version"
    echo "$venv: installed tinyproto $version"
}

make_venv venv-2.0.1 2.0.1
make_venv venv-3.0 3.0

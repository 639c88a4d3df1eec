#!/usr/bin/env bash
# sdrkit setup + run. Usage:
#   ./setup.sh demo      set everything up, then run the main job (live demo on a bundled capture)
#   ./setup.sh test      set everything up, then run the whole test suite
#   ./setup.sh           set everything up only
# SDRKIT_GNURADIO=1 also installs GNU Radio (~650 MB) for the gr-zeromq interoperability tests.
# Re-running is quick: the virtual environment is rebuilt only when pyproject.toml or this
# script changed.
set -euo pipefail
cd "$(dirname "$0")"
ROOT=$(pwd)
VENV="$ROOT/.venv"

say() { printf '[setup] %s\n' "$*" >&2; }

# --- Debian packages the drivers need ------------------------------------------------------
# libiio0: the Pluto stack (libiio 0.24; pylibiio 0.25 binds to it).
# python3-uhd uhd-host python3-zmq: the USRP backend runs UHD under the system Python in a
# worker process (Debian's UHD bindings are built for it and numpy 1.x).
need_apt=()
# gnuradio (optional, large): the gr-zeromq interoperability tests; SDRKIT_GNURADIO=1 installs it.
pkgs=(libiio0 python3-uhd uhd-host python3-zmq)
[[ ${SDRKIT_GNURADIO:-0} == 1 ]] && pkgs+=(gnuradio)
for pkg in "${pkgs[@]}"; do
    dpkg -s "$pkg" >/dev/null 2>&1 || need_apt+=("$pkg")
done
if ((${#need_apt[@]})); then
    if [[ $(id -u) == 0 ]] && command -v apt-get >/dev/null; then
        say "installing Debian packages: ${need_apt[*]}"
        (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${need_apt[@]}") >/dev/null \
            || say "apt-get install ${need_apt[*]} failed; Pluto/USRP tests will be skipped"
    else
        say "missing Debian packages: ${need_apt[*]}. Install them with:"
        say "    sudo apt-get install ${need_apt[*]}"
        say "continuing without them: the Pluto/USRP backends and their tests will be skipped."
    fi
fi

# chromium (headless): the live web view's browser test; separate, so its failure costs only that test
if ! command -v chromium >/dev/null && [[ ${SDRKIT_BROWSER:-1} == 1 ]]; then
    if [[ $(id -u) == 0 ]] && command -v apt-get >/dev/null; then
        say "installing chromium (headless browser for the web view test; SDRKIT_BROWSER=0 skips it)"
        (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends chromium) >/dev/null 2>&1 \
            || say "apt-get install chromium failed; the web view's browser test will be skipped"
    else
        say "chromium not found (sudo apt-get install chromium): the web view's browser test will be skipped"
    fi
fi

# --- Python virtual environment ----------------------------------------------------------
PY=""
for c in python3.11 python3; do
    if command -v "$c" >/dev/null && "$c" -c 'import sys; sys.exit(sys.version_info < (3, 11))'; then PY=$c; break; fi
done
[[ -n $PY ]] || { say "Python >= 3.11 not found; install it (Debian: apt-get install python3 python3-venv)"; exit 1; }

stamp=$(cat pyproject.toml setup.sh | sha256sum | cut -c1-16)
if [[ ! -x $VENV/bin/python || $(cat "$VENV/.sdrkit-stamp" 2>/dev/null) != "$stamp" ]]; then
    say "creating virtual environment in .venv (first run takes a minute)"
    "$PY" -m venv "$VENV" || { say "venv failed; on Debian: apt-get install python3-venv"; exit 1; }
    "$VENV/bin/python" -m pip install -q --upgrade pip
    # torch first and pinned: 2.13.0 is the CPU build; unpinned would pull a multi-GB CUDA build
    "$VENV/bin/python" -m pip install -q "torch==2.13.0"
    "$VENV/bin/python" -m pip install -q -e ".[train,test]"
    echo "$stamp" > "$VENV/.sdrkit-stamp"
    say "environment ready"
fi

case "${1:-}" in
    demo) shift; exec "$VENV/bin/sdrkit" demo "$@" ;;
    test) shift; exec "$VENV/bin/python" -m pytest -q "$@" ;;
    "") say "done; run ./setup.sh demo or ./setup.sh test" ;;
    *) exec "$VENV/bin/sdrkit" "$@" ;;
esac

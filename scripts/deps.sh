#!/bin/sh
# deps.sh — installs the Debian packages chorus builds, tests and benchmarks with.
# Run as root it calls apt-get non-interactively; otherwise it prints the exact command.
PKGS="build-essential pkg-config libsndfile1-dev libfftw3-dev libsoxr-dev libopenblas-dev \
libopenmpi-dev openmpi-bin libcmocka-dev libespeak-ng-dev espeak-ng flite sox \
python3-numpy python3-torch python3-torchaudio python3-sklearn libjemalloc2 iproute2"
missing=""
for p in $PKGS; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing="$missing $p"
done
if [ -z "$missing" ]; then
    echo "deps: all Debian packages present"
    exit 0
fi
cmd="apt-get install -y --no-install-recommends$missing"
if [ "$(id -u)" = 0 ]; then
    echo "deps: installing:$missing"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq && $cmd
else
    echo "deps: missing packages; run as root:"
    echo "  sudo apt-get update && sudo $cmd"
    exit 1
fi

#!/bin/sh
# demo.sh — the main job on default data (grows with the project).
set -eu
BUILD=${1:-build}
echo "chorus demo: commands built in $BUILD/bin:"
ls "$BUILD/bin" 2>/dev/null || echo "  (none yet)"

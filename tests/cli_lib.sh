# cli_lib.sh — sourced by tests/test_*.sh: assertions on command behaviour.
# A failing assertion prints what happened and exits 1 from the test script.
#   expect_ok CMD...                        exit 0
#   expect_error CODE PATTERN CMD...        exit CODE, stderr's last line matches PATTERN (grep -E),
#                                           no crash: no signal, no sanitizer report, no "Segmentation"
# Env: CHORUS_BIN, CHORUS_TMP from tests/run.sh.
set -u
: "${CHORUS_BIN:?run through tests/run.sh}"
: "${CHORUS_TMP:?run through tests/run.sh}"
CLI_ERR="$CHORUS_TMP/cli_stderr.$$"
CLI_OUT="$CHORUS_TMP/cli_stdout.$$"
cli_checks=0

cli_fail() { echo "FAIL: $*"; echo "--- stderr:"; tail -20 "$CLI_ERR"; exit 1; }

no_crash() { # rc
    if [ "$1" -ge 128 ]; then cli_fail "killed by signal $(( $1 - 128 ))"; fi
    if grep -qE 'AddressSanitizer|LeakSanitizer|runtime error:|Segmentation fault|internal check failed' "$CLI_ERR"; then
        cli_fail "crash or sanitizer report"
    fi
}

expect_ok() {
    cli_checks=$((cli_checks + 1))
    "$@" > "$CLI_OUT" 2> "$CLI_ERR"; rc=$?
    no_crash $rc
    [ $rc = 0 ] || cli_fail "expected exit 0, got $rc: $*"
}

expect_error() { # code pattern cmd...
    want=$1; pat=$2; shift 2
    cli_checks=$((cli_checks + 1))
    "$@" > "$CLI_OUT" 2> "$CLI_ERR" < /dev/null; rc=$?
    no_crash $rc
    [ $rc = "$want" ] || cli_fail "expected exit $want, got $rc: $*"
    last=$(grep -v '^WARNING' "$CLI_ERR" | tail -1)
    [ -n "$last" ] || cli_fail "no error message: $*"
    echo "$last" | grep -qE -- "$pat" || cli_fail "error line '$last' does not match '$pat': $*"
    echo "ok ($rc): $last"
}

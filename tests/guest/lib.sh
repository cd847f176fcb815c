# shellcheck shell=sh
# Helpers for guest test scripts (busybox sh). Installed as /vireo/lib.sh; a test starts with
#   #!/bin/sh
#   . /vireo/lib.sh
# A test passes by exiting 0 and fails by exiting non-zero; `fail` also gives the reason that
# the agent puts on the result line. See tests/guest/README.md.

# Agent lines go straight to the console so that they reach the host even when the test has
# redirected or captured its own output.
VIREO_CONSOLE=${VIREO_CONSOLE:-/dev/console}
VIREO_TEST=${VIREO_TEST:-${0##*/}}

_vireo_line() { # one line, one write(): "VIREO-AGENT: ..."
    printf 'VIREO-AGENT: %s\n' "$*" >"$VIREO_CONSOLE"
}

# _vireo_oneline TEXT...: TEXT on one line (newlines and CRs become spaces).
_vireo_oneline() {
    printf '%s' "$*" | tr '\r\n' '  '
}

# info KEY VALUE...: a fact for the host, "VIREO-AGENT: info KEY=VALUE". KEY is letters, digits,
# '_', '.' or '-'; VALUE is the rest, on one line.
info() {
    case "$1" in
    '' | *[!A-Za-z0-9_.-]*) fail "info: bad key '$1'" ;;
    esac
    _key=$1
    shift
    _vireo_line "info $_key=$(_vireo_oneline "$*")"
}

# log MESSAGE...: a human-readable line on the test's output.
log() {
    echo "$VIREO_TEST: $*"
}

# fail MESSAGE...: end the test as failed; MESSAGE becomes the reason on the result line.
fail() {
    _msg=$(_vireo_oneline "$*" | cut -c1-200)
    [ -n "$_msg" ] || _msg="failed"
    [ -n "${VIREO_REASON_FILE:-}" ] && printf '%s\n' "$_msg" >"$VIREO_REASON_FILE"
    echo "$VIREO_TEST: FAIL: $_msg" >&2
    exit 1
}

# expect_eq ACTUAL EXPECTED [WHAT]: fail unless the two strings are equal.
expect_eq() {
    [ "$1" = "$2" ] || fail "${3:-value}: expected '$2', got '$1'"
}

# expect_ne ACTUAL UNEXPECTED [WHAT]: fail if the two strings are equal.
expect_ne() {
    [ "$1" != "$2" ] || fail "${3:-value}: got '$1', which it must not be"
}

# _vireo_int VALUE WHAT: fail unless VALUE is a (possibly negative) decimal integer.
_vireo_int() {
    case "${1#-}" in
    '' | *[!0-9]*) fail "$2: '$1' is not an integer" ;;
    esac
}

# expect_ge ACTUAL MINIMUM [WHAT] / expect_le ACTUAL MAXIMUM [WHAT]: integer bounds.
expect_ge() {
    _vireo_int "$1" "${3:-value}"
    _vireo_int "$2" "${3:-value} bound"
    [ "$1" -ge "$2" ] || fail "${3:-value}: expected at least $2, got $1"
}
expect_le() {
    _vireo_int "$1" "${3:-value}"
    _vireo_int "$2" "${3:-value} bound"
    [ "$1" -le "$2" ] || fail "${3:-value}: expected at most $2, got $1"
}

# must COMMAND [ARGS...]: run COMMAND; fail with its exit status if it fails.
must() {
    "$@"
    _rc=$?
    [ "$_rc" -eq 0 ] || fail "'$*' exited with $_rc"
}

# require_cmd NAME...: fail unless every NAME is a command in the guest (a tool missing from
# tests/guest/tools.list, or a busybox applet that is not built in).
require_cmd() {
    for _c in "$@"; do
        command -v "$_c" >/dev/null 2>&1 || fail "missing command '$_c' (see tests/guest/tools.list and its groups)"
    done
}

# cmdline_arg NAME: the value of NAME=VALUE on the kernel command line (empty when absent).
cmdline_arg() {
    for _a in $(cat /proc/cmdline); do
        case "$_a" in
        "$1"=*) printf '%s\n' "${_a#*=}"; return 0 ;;
        esac
    done
    return 0
}

# disk_by_serial SERIAL: the /dev path of the disk whose serial is SERIAL: a virtio-blk disk's
# serial attribute, or a SCSI disk's unit serial number (VPD page 80h: 4 header bytes, then the
# serial, padded with spaces). Status 1 when there is none.
disk_by_serial() {
    for _d in /sys/block/vd* /sys/block/sd*; do
        [ -e "$_d" ] || continue
        case "$_d" in
        */vd*) _s=$(cat "$_d/serial" 2>/dev/null) ;;
        *) _s=$(tail -c +5 "$_d/device/vpd_pg80" 2>/dev/null | tr -d ' \000') ;;
        esac
        if [ "$_s" = "$1" ]; then
            echo "/dev/${_d##*/}"
            return 0
        fi
    done
    return 1
}

# virtio_transport DEV: "pci" or "mmio" for a virtio device name (virtio0, ...), from where the
# device sits in sysfs: under a PCI function or under a virtio-mmio platform device.
virtio_transport() {
    _path=$(readlink -f "/sys/bus/virtio/devices/$1")
    case "$_path" in
    */pci0000:*) echo pci ;;
    *) echo mmio ;;
    esac
}

# wait_listening FILE: until a vsock-tool server says in FILE (its stderr) that its port is
# open; fails after 30 s.
wait_listening() {
    _i=0
    until grep -q listening "$1" 2>/dev/null; do
        [ $_i -lt 300 ] || fail "no listener: $(cat "$1" 2>/dev/null)"
        sleep 0.1
        _i=$((_i + 1))
    done
}

# shellcheck shell=bash
# Shared helpers for the scripts in scripts/. Source it; it sets no shell options.

VIREO_ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
VIREO_CACHE=${VIREO_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/vireo}

# Messages go to stderr so that stdout stays machine-readable (paths, results).
log() { printf '%s: %s\n' "${0##*/}" "$*" >&2; }
die() { printf '%s: error: %s\n' "${0##*/}" "$*" >&2; exit "${DIE_STATUS:-1}"; }

# hash_files FILE... : a short, stable content hash of the named files (names included).
hash_files() {
    local f
    for f in "$@"; do
        printf '%s\0' "${f#"$VIREO_ROOT"/}"
        cat -- "$f"
    done | sha256sum | cut -c1-16
}

# need_cmd CMD PACKAGE : fail with a fix when a tool is missing.
need_cmd() {
    command -v "$1" >/dev/null 2>&1 || die "'$1' not found: run scripts/setup (it installs the Debian package '$2')"
}

# Run as root or through sudo when available.
as_root() {
    if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo "$@"; fi
}

# kvm_usable : whether this machine's /dev/kvm can run a Linux guest. Opening it is not
# enough: some virtual machines offer a /dev/kvm without hardware virtualisation (no vmx or
# svm among the CPU flags), on which a tiny guest runs but a Linux guest crawls and then dies
# with a KVM emulation error. A real KVM host always shows one of the two flags.
kvm_usable() {
    [ -c /dev/kvm ] && { : <> /dev/kvm; } 2>/dev/null &&
        grep -qwE 'vmx|svm' /proc/cpuinfo 2>/dev/null
}

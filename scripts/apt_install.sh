# Sourced by the setup_*.sh scripts: apt_install TAG PACKAGE... installs Debian packages with apt-get,
# as root or through sudo, trying first without refreshing the package lists (quicker when they are
# recent). On failure it prints one line starting with "TAG:" that names the fix, and exits 1.
apt_install() {
    local tag="$1"; shift
    local sudo=""
    command -v apt-get >/dev/null 2>&1 || { echo "$tag: apt-get is not available to install $*." \
        "Fix: install the equivalent of Debian's $* with your system's package manager and re-run." >&2; exit 1; }
    if [[ "$(id -u)" != 0 ]]; then
        command -v sudo >/dev/null 2>&1 || { echo "$tag: installing $* needs root." \
            "Fix: run 'sudo apt-get install --no-install-recommends $*' and re-run this script." >&2; exit 1; }
        sudo="sudo"
    fi
    echo "$tag: installing $* with apt-get"
    export DEBIAN_FRONTEND=noninteractive
    if ! $sudo apt-get install -y -q --no-install-recommends "$@" >/dev/null; then
        $sudo apt-get update -q >/dev/null || { echo "$tag: apt-get update failed (no network to the Debian" \
            "mirrors?). Fix: check the network and re-run." >&2; exit 1; }
        $sudo apt-get install -y -q --no-install-recommends "$@" >/dev/null || { echo "$tag: apt-get install" \
            "$* failed. Fix: install them by hand and re-run." >&2; exit 1; }
    fi
}

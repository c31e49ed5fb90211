# Shared set-up for dev/test and dev/demo; sourced, not run.
#
# Installs, only when missing, the Debian packages a command needs, then
# installs this project into its own virtual environment (.venv, or
# $WORKBENCH_VENV) so that a fresh clone needs nothing else.

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VENV="${WORKBENCH_VENV:-$ROOT/.venv}"
export DEBIAN_FRONTEND=noninteractive

log() { printf '==> %s\n' "$*" >&2; }

as_root() {
    if [ "$(id -u)" -eq 0 ]; then
        "$@"
    elif command -v sudo >/dev/null; then
        sudo "$@"
    else
        log "Need root to run: $*"
        return 1
    fi
}

# ensure_packages DEB... installs the Debian packages that are not installed.
ensure_packages() {
    local missing=() pkg
    for pkg in "$@"; do
        dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q 'install ok installed' \
            || missing+=("$pkg")
    done
    [ "${#missing[@]}" -eq 0 ] && return 0

    log "Installing Debian packages: ${missing[*]}"
    # Debian starts a service on install (openssh-server would listen on
    # port 22 on every address) unless policy-rc.d says no; the tests start
    # their own sshd on loopback, so keep services from starting.
    local policy=/usr/sbin/policy-rc.d added_policy=""
    if [ ! -e "$policy" ]; then
        printf '#!/bin/sh\nexit 101\n' | as_root tee "$policy" >/dev/null
        as_root chmod 755 "$policy"
        added_policy=yes
    fi
    as_root apt-get update -q
    as_root apt-get install -y -q --no-install-recommends "${missing[@]}"
    [ -n "$added_policy" ] && as_root rm -f "$policy"
    return 0
}

# ensure_base_packages: Python with venv, and Node for the labextension build.
ensure_base_packages() {
    local pkgs=()
    command -v python3 >/dev/null || pkgs+=(python3)
    python3 -c 'import ensurepip, venv' 2>/dev/null || pkgs+=(python3-venv)
    command -v node >/dev/null || pkgs+=(nodejs)
    command -v git >/dev/null || pkgs+=(git)
    [ "${#pkgs[@]}" -eq 0 ] || ensure_packages "${pkgs[@]}"
}

# ensure_trixie_chroot: the Debian 13 chroot whose own sshd the wtmpdb
# tests log in to (tests/trixie.py). Made once, about 400 MiB, from
# Debian's archive; a cut-off attempt is started again from scratch.
ensure_trixie_chroot() {
    local root="${WB_TRIXIE_ROOT:-/srv/trixie}" prog missing=""
    for prog in usr/sbin/sshd usr/bin/wtmpdb usr/bin/sudo usr/bin/busybox; do
        [ -e "$root/$prog" ] || missing=yes
    done
    [ -z "$missing" ] && return 0
    log "Making the Debian 13 chroot for the wtmpdb tests in $root (once)"
    as_root rm -rf "$root.partial"
    # debootstrap keeps only the last --include: one list, built in pieces.
    local packages=wtmpdb,libpam-wtmpdb,systemd,util-linux,openssh-server
    packages="$packages,sudo,procps,passwd,busybox"
    as_root debootstrap --variant=minbase --include="$packages" \
        trixie "$root.partial" http://deb.debian.org/debian
    as_root rm -rf "$root"
    as_root mv "$root.partial" "$root"
}

# install_stamp EXTRA: a digest of everything the install depends on.
install_stamp() {
    {
        printf '%s\n' "$1"
        cat "$ROOT/pyproject.toml" "$ROOT/labextension/package.json" \
            "$ROOT/labextension/yarn.lock" 2>/dev/null || true
        find "$ROOT/labextension/src" "$ROOT/labextension/style" \
            "$ROOT/labextension/scripts" -type f \
            -exec sha256sum {} + 2>/dev/null | sort || true
    } | sha256sum | cut -d' ' -f1
}

# install_project EXTRA: pip install -e ".[EXTRA]" into the venv, and put
# the venv first on PATH. The editable install rebuilds the labextension,
# which takes minutes, so it is skipped when nothing it reads has changed
# since the last successful install into this venv.
install_project() {
    if [ ! -x "$VENV/bin/python" ]; then
        log "Creating virtual environment $VENV"
        python3 -m venv "$VENV"
    fi
    export PATH="$VENV/bin:$PATH"
    export VIRTUAL_ENV="$VENV"

    local stamp_file="$VENV/.jupyter-workbench-$1.stamp" stamp
    stamp="$(install_stamp "$1")"
    if [ "$(cat "$stamp_file" 2>/dev/null)" = "$stamp" ] &&
        [ -f "$ROOT/jupyter_workbench/labextension/package.json" ] &&
        [ -f "$ROOT/jupyter_workbench/static/terminal-widget.js" ]; then
        log "jupyter-workbench[$1] is installed and up to date"
        return 0
    fi

    log "Installing jupyter-workbench[$1] (builds the labextension)"
    python -m pip install -q --disable-pip-version-check -e "$ROOT[$1]"
    printf '%s\n' "$stamp" >"$stamp_file"
}

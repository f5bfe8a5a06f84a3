# Sourced by the scripts: make .venv (and, for the checks, the local buf) when missing or stale.
# Needs only Python 3.11+ and, for `with_buf`, npm.

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
VENV="$ROOT/.venv"

find_python() {
    local candidate
    for candidate in "${DESKHOOK_PYTHON:-}" python3.13 python3.12 python3.11 python3; do
        [ -n "$candidate" ] || continue
        if command -v "$candidate" >/dev/null 2>&1 &&
            "$candidate" -c 'import sys; sys.exit(sys.version_info < (3, 11))' 2>/dev/null; then
            command -v "$candidate"
            return
        fi
    done
    echo "deskhook needs Python 3.11 or newer on PATH (or DESKHOOK_PYTHON)" >&2
    return 1
}

# ensure_venv EXTRAS: install the project (editable) with the given extras, e.g. "dev" or "".
ensure_venv() {
    local extras="$1" spec="$ROOT" stamp want
    [ -z "$extras" ] || spec="$ROOT[$extras]"
    stamp="$VENV/.deskhook-installed"
    want="$(cat "$ROOT/pyproject.toml" | sha256sum | cut -d' ' -f1) [$extras]"
    if [ -x "$VENV/bin/python" ] && grep -qxF "$want" "$stamp" 2>/dev/null; then
        return
    fi
    # A dev install also serves a plain one.
    if [ -z "$extras" ] && [ -x "$VENV/bin/python" ] &&
        grep -qxF "${want% *} [dev]" "$stamp" 2>/dev/null; then
        return
    fi
    if [ ! -x "$VENV/bin/python" ]; then
        echo "== creating $VENV" >&2
        "$(find_python)" -m venv "$VENV"
    fi
    echo "== installing deskhook${extras:+ [$extras]} into .venv" >&2
    "$VENV/bin/python" -m pip install -qq --disable-pip-version-check -e "$spec"
    echo "$want" >"$stamp"
}

BUF="$ROOT/scripts/tools/node_modules/.bin/buf"

ensure_buf() {
    if [ ! -x "$BUF" ]; then
        echo "== installing buf into scripts/tools" >&2
        (cd "$ROOT/scripts/tools" && npm ci --no-audit --no-fund --loglevel=error)
    fi
}

# ensure_npm_packages DIR: the npm packages a test folder's lock file names (the Node.js client
# test's, axe-core for the browser tests), installed again whenever the lock file changes.
ensure_npm_packages() {
    local folder="$ROOT/$1" stamp want
    stamp="$folder/node_modules/.deskhook-installed"
    want="$(sha256sum <"$folder/package-lock.json" | cut -d' ' -f1)"
    if grep -qxF "$want" "$stamp" 2>/dev/null; then
        return
    fi
    echo "== installing the npm packages of $1" >&2
    (cd "$folder" && npm ci --no-audit --no-fund --loglevel=error)
    echo "$want" >"$stamp"
}

# apt_install WHAT WHY PACKAGE...: Debian packages the tests drive, installed with apt; where
# apt cannot run, a line saying what to install and why, and failure.
apt_install() {
    local what="$1" why="$2"
    shift 2
    if ! command -v apt-get >/dev/null 2>&1 || [ "$(id -u)" != 0 ]; then
        echo "$what is not installed; install it (e.g. apt-get install $*) $why" >&2
        return 1
    fi
    echo "== installing $(printf '%s ' "$@" | sed 's/--[a-z-]* //g')with apt, $why" >&2
    DEBIAN_FRONTEND=noninteractive apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$@" >/dev/null
}

# ensure_chromium: Debian's Chromium for the console's browser tests (Playwright drives it by
# its path; its own browser downloads are not used).
ensure_chromium() {
    command -v chromium >/dev/null 2>&1 ||
        apt_install Chromium "for the console's browser tests" chromium
}

# ensure_php: Debian's PHP command line with its curl extension, for the PHP examples' tests.
ensure_php() {
    if command -v php >/dev/null 2>&1 && php -r 'exit(extension_loaded("curl") ? 0 : 1);'; then
        return 0
    fi
    apt_install "PHP with its curl extension" "for the PHP examples' tests" php-cli php-curl
}

# ensure_promtool: Prometheus's promtool, for the tests that check deploy/prometheus's alert rules
# and run them on a real server's metrics. Debian ships it in the server's package, which must not
# start a Prometheus (listening on every address) on a machine that wants only the tool:
# policy-rc.d is Debian's way to keep an install from starting services. Without the package's
# recommends, no node exporter comes along either.
ensure_promtool() {
    command -v promtool >/dev/null 2>&1 && return 0
    local policy=/usr/sbin/policy-rc.d created="" status=0
    if [ "$(id -u)" = 0 ] && [ ! -e "$policy" ]; then
        printf '#!/bin/sh\nexit 101\n' >"$policy" && chmod +x "$policy" && created=1
    fi
    apt_install promtool "for the alert rules' tests" --no-install-recommends prometheus ||
        status=$?
    [ -z "$created" ] || rm -f "$policy"
    return "$status"
}

# ensure_postgres: unless DESKHOOK_TEST_POSTGRES names a server already, start a private,
# throwaway PostgreSQL cluster for the tests (installed with apt when missing) and export its
# URL; it is stopped and deleted when the calling script exits. It listens on 127.0.0.1 only,
# on a free port, with its socket in its own folder; the machine's own clusters are not touched.
ensure_postgres() {
    [ -z "${DESKHOOK_TEST_POSTGRES:-}" ] || return 0
    local bin root scratch port password
    bin="$(postgres_bin)" || {
        install_postgres
        bin="$(postgres_bin)"
    }
    # In memory where the machine allows: creating a database per test is several times
    # faster there, and nothing in this cluster needs to outlive the run.
    root="${TMPDIR:-/tmp}"
    [ ! -w /dev/shm ] || root=/dev/shm
    scratch="$(mktemp -d "$root/deskhook-pg.XXXXXX")"
    password="$("$VENV/bin/python" -c 'import secrets; print(secrets.token_hex(16))')"
    printf '%s\n' "$password" >"$scratch/password"
    # PostgreSQL refuses to run as root.
    local as_owner=()
    if [ "$(id -u)" = 0 ]; then
        chown -R postgres: "$scratch"
        as_owner=(runuser -u postgres --)
    fi
    # Trust only on the cluster's own socket; TCP asks for the password.
    "${as_owner[@]}" "$bin/initdb" -D "$scratch/data" -U deskhook --pwfile="$scratch/password" \
        --auth-local=trust --auth-host=scram-sha-256 --no-sync -E UTF8 >"$scratch/initdb.log" ||
        { cat "$scratch/initdb.log" >&2; return 1; }
    port="$("$VENV/bin/python" -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')"
    "${as_owner[@]}" "$bin/pg_ctl" -D "$scratch/data" -l "$scratch/server.log" -w -s \
        -o "-c listen_addresses=127.0.0.1 -c port=$port -c unix_socket_directories=$scratch -c fsync=off" \
        start || { cat "$scratch/server.log" >&2; return 1; }
    POSTGRES_SCRATCH="$scratch"
    POSTGRES_OWNER=("${as_owner[@]}")
    trap stop_postgres EXIT
    export DESKHOOK_TEST_POSTGRES="postgresql://deskhook:$password@127.0.0.1:$port/postgres"
    echo "== PostgreSQL $("$bin/postgres" --version | awk '{print $3}') for the tests on 127.0.0.1:$port" >&2
}

stop_postgres() {
    "${POSTGRES_OWNER[@]}" "$(postgres_bin)/pg_ctl" -D "$POSTGRES_SCRATCH/data" -m immediate -s stop || true
    rm -rf "$POSTGRES_SCRATCH"
}

# The newest installed server's programs (Debian keeps them out of PATH).
postgres_bin() {
    local found
    found="$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1)"
    [ -n "$found" ] || found="$(pg_config --bindir 2>/dev/null)" || true
    [ -n "$found" ] && [ -x "$found/initdb" ] && echo "$found"
}

install_postgres() {
    apt_install PostgreSQL "for the tests, or set DESKHOOK_TEST_POSTGRES to a server's URL" \
        postgresql
}

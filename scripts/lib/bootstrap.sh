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

NODE_CLIENT="$ROOT/tests/node"

# The Node.js client test's packages, installed again whenever its lock file changes.
ensure_node_client() {
    local stamp="$NODE_CLIENT/node_modules/.deskhook-installed" want
    want="$(sha256sum <"$NODE_CLIENT/package-lock.json" | cut -d' ' -f1)"
    if grep -qxF "$want" "$stamp" 2>/dev/null; then
        return
    fi
    echo "== installing the Node.js client test's packages into tests/node" >&2
    (cd "$NODE_CLIENT" && npm ci --no-audit --no-fund --loglevel=error)
    echo "$want" >"$stamp"
}

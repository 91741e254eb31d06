#!/bin/sh
# Print the path of a Python interpreter >= 3.12, or explain what is missing.
#
# Order tried: $PYTHON (if set), python3.13, python3.12, python3, python on PATH,
# then pyenv-installed versions (which pyenv shims hide when no .python-version
# selects them). Each candidate must run and report version >= 3.12.
# Prints the interpreter's real path (sys.executable) on stdout; exits 1 if none.

ok() {
    # $1: candidate command or path. Pyenv shims print errors for missing versions,
    # so stderr is silenced.
    "$1" -c 'import sys; sys.exit(sys.version_info < (3,12))' >/dev/null 2>&1
}

found() {
    exe=$("$1" -c 'import sys; print(sys.executable)' 2>/dev/null)
    [ -n "$exe" ] || exe=$1
    printf '%s\n' "$exe"
    exit 0
}

if [ -n "${PYTHON:-}" ]; then
    if ok "$PYTHON"; then
        found "$PYTHON"
    fi
    echo "warning: PYTHON=$PYTHON is not a working Python >= 3.12; looking elsewhere" >&2
fi

for cand in python3.13 python3.12 python3 python; do
    if command -v "$cand" >/dev/null 2>&1 && ok "$cand"; then
        found "$cand"
    fi
done

# pyenv fallback: versions installed but not selected by a .python-version/global.
if command -v pyenv >/dev/null 2>&1; then
    for v in $(pyenv versions --bare 2>/dev/null | grep -E '^3\.(1[2-9]|[2-9][0-9])'); do
        p=$(PYENV_VERSION=$v pyenv which python3 2>/dev/null) && [ -n "$p" ] && ok "$p" && found "$p"
    done
    pyenv_root=$(pyenv root 2>/dev/null)
else
    pyenv_root=
fi
for root in "$pyenv_root" "${PYENV_ROOT:-}" "$HOME/.pyenv"; do
    [ -n "$root" ] && [ -d "$root/versions" ] || continue
    for p in "$root"/versions/3.12*/bin/python3 "$root"/versions/3.13*/bin/python3 \
        "$root"/versions/3.1[4-9]*/bin/python3; do
        [ -x "$p" ] && ok "$p" && found "$p"
    done
done

echo "need Python >= 3.12: install it (e.g. pyenv install 3.12) or run make PYTHON=/path/to/python3.12" >&2
exit 1

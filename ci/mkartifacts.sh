#!/bin/bash
# Write the system tests' artifacts manifest: every input they boot, one `key=path` a line.
#
#   ci/mkartifacts.sh <manifest> key=path...
#
# The Makefile calls it with every image it builds for the tests (see its ARTIFACTS list);
# tests/system/src/artifacts.rs reads the file (by default build/artifacts.manifest) and
# fails a test whose key is missing or whose file does not exist, telling the reader to run
# `make test`. Paths are written absolute, so the manifest does not depend on the directory
# a reader runs in. Only the list is written here: building the files is the other targets'
# job, so `make xtest` can name all of them and build only its own.
set -euo pipefail

[ $# -ge 1 ] || { echo "usage: $0 <manifest> key=path..." >&2; exit 2; }
out=$1
shift

mkdir -p "$(dirname "$out")"
tmp=$(mktemp "$out.XXXXXX")
trap 'rm -f "$tmp"' EXIT
{
    echo "# Written by ci/mkartifacts.sh (from the Makefile): the system tests' inputs."
    echo "# One key=path a line; read by tests/system/src/artifacts.rs."
    for entry in "$@"; do
        key=${entry%%=*}
        path=${entry#*=}
        if [[ $entry != *=* || ! $key =~ ^[a-z0-9_]+$ || -z $path ]]; then
            echo "$0: '$entry' is not key=path (key: lower case, digits, _)" >&2
            exit 2
        fi
        case $path in
            /*) ;;
            *) path=$PWD/$path ;;
        esac
        echo "$key=$path"
    done
} >"$tmp"
# Each key once: a duplicate would make the reader's answer depend on the line order.
dup=$(grep -v '^#' "$tmp" | cut -d= -f1 | sort | uniq -d)
[ -z "$dup" ] || { echo "$0: duplicate keys: $dup" >&2; exit 2; }
mv "$tmp" "$out"
trap - EXIT

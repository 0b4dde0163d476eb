#!/usr/bin/env bash
# uWebSockets.js 20.57's Linux binaries import __isoc23_strtol, __isoc23_strtoul and __isoc23_sscanf at
# version GLIBC_2.38. On a glibc older than that (Debian 12: 2.36) this writes into .uws-compat/ (git-ignored):
#   - libuws-glibc-c23.so, those three functions (glibc-c23-shim.c);
#   - a copy of each of the package's binaries for this CPU (every Node ABI, so the Node 24 test can use
#     its own) with the GLIBC_2.38 need marked weak (weaken-glibc-needs.mjs, which refuses a binary that
#     imports anything else at a newer version than this glibc's);
#   - uws-version, the package version they were made from (src/ingress/uws-native.ts refuses a stale copy).
# On glibc >= 2.38, macOS, Windows or musl it does nothing and removes any copy left from before.
# Idempotent: redone only when the package version or these sources change.
set -euo pipefail
cd "$(dirname "$0")/../.."
out=.uws-compat
here=.ci/uws-compat
symbols=(__isoc23_strtol __isoc23_strtoul __isoc23_sscanf)

glibc=""
if [ "$(uname -s)" = Linux ]; then glibc="$(getconf GNU_LIBC_VERSION 2>/dev/null | awk '$1 == "glibc" { print $2 }')"; fi
if [ -z "$glibc" ] || [ "$(printf '%s\n' 2.38 "$glibc" | sort -V | head -n1)" = 2.38 ]; then
  rm -rf "$out"
  exit 0
fi

pkg_dir="$(dirname "$(node -p "require.resolve('uWebSockets.js')")")"
version="$(node -p "require('$pkg_dir/package.json').version")"
arch="$(node -p process.arch)"
fingerprint="$version $glibc $(cat "$here/glibc-c23-shim.c" "$here/weaken-glibc-needs.mjs" | sha256sum | cut -c1-16)"
if [ "$(cat "$out/.fingerprint" 2>/dev/null)" = "$fingerprint" ]; then exit 0; fi

echo "[setup] glibc $glibc < 2.38: building uWebSockets.js $version's compatibility copy in $out/" >&2
rm -rf "$out" "$out.tmp"
mkdir -p "$out.tmp"
gcc -O2 -fPIC -shared -Wl,-z,nodelete -Wl,-soname,libuws-glibc-c23.so \
  -o "$out.tmp/libuws-glibc-c23.so" "$here/glibc-c23-shim.c"
for binary in "$pkg_dir"/uws_linux_"$arch"_*.node; do
  node "$here/weaken-glibc-needs.mjs" "$binary" "$out.tmp/$(basename "$binary")" "$glibc" "${symbols[@]}" >/dev/null
done
echo "$version" > "$out.tmp/uws-version"
echo "$fingerprint" > "$out.tmp/.fingerprint"
# Renamed into place last: an interrupted run leaves no half-made copy for the loader.
mv "$out.tmp" "$out"

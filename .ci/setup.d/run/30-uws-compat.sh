# uWebSockets.js' Linux binaries need glibc >= 2.38: on older glibc, a patched copy and a shim in .uws-compat/.
bash .ci/uws-compat/build.sh

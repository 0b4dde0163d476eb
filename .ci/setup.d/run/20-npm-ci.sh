# npm ci (with CKJS_LINKING=dynamic: link the system's OpenSSL/SASL/zstd/lz4) only when the lock file changed
# since the last install (npm writes node_modules/.package-lock.json) or the binding does not load on this Node
# (librdkafka's binding is built for one Node ABI: after switching Node, it must be rebuilt).
# A git worktree usually links node_modules to the main checkout's, and its freshly checked-out lock file is
# newer than that install: npm ci there would replace the link and empty the main checkout's node_modules
# (it happened), so a linked node_modules is left to the checkout that owns it.
if [ -L node_modules ]; then
  echo "[setup] node_modules links to $(readlink node_modules): not reinstalling through the link" >&2
elif [ ! -f node_modules/.package-lock.json ] || [ package-lock.json -nt node_modules/.package-lock.json ] \
   || ! node -e "require('@confluentinc/kafka-javascript')" 2>/dev/null; then
  echo "[setup] npm ci (builds librdkafka's binding from source, ~2 min the first time)" >&2
  CKJS_LINKING=dynamic npm ci --no-audit --no-fund --loglevel=error
fi

# Benchmark-only dependencies (Fastify, KafkaJS for the peer servers) live in bench/package.json.
if [ -L bench/node_modules ]; then
  echo "[setup] bench/node_modules links to $(readlink bench/node_modules): not reinstalling through the link" >&2
elif [ ! -f bench/node_modules/.package-lock.json ] || [ bench/package-lock.json -nt bench/node_modules/.package-lock.json ]; then
  (cd bench && npm ci --no-audit --no-fund --loglevel=error)
fi

# test/node24.test.ts runs the gateway end to end on Node 24 whatever the machine's Node is. Into .node24/
# (git-ignored): Node 24 from the npm registry (the `node` package), and librdkafka's Node binding compiled
# for that Node's ABI: a copy of the installed @confluentinc/kafka-javascript (same version, same JS) rebuilt
# with node-gyp under Node 24 against its headers (shipped in the npm package; ~/.npmrc's nodedir would
# point at the machine Node's). The test loads it through test/helpers/node24-binding-hook.mjs. Redone only
# when Node 24's pin or the installed binding changes.
node24_version=24.21.0
node24_dir=.node24
node24_pkg="$node24_dir/node_modules/node/node_modules/node-linux-$(node -p process.arch)"
node24="$node24_dir/node_modules/node/bin/node"
if [ "$("$node24" -v 2>/dev/null)" != "v$node24_version" ]; then
  echo "[setup] installing Node $node24_version from npm into $node24_dir/ (for test/node24.test.ts)" >&2
  rm -rf "$node24_dir"
  mkdir -p "$node24_dir"
  npm install --prefix "$node24_dir" --no-audit --no-fund --loglevel=error "node@$node24_version"
fi

binding_src=node_modules/@confluentinc/kafka-javascript
binding_dir="$node24_dir/binding/node_modules/@confluentinc/kafka-javascript"
binding_for="$node24_version $(node -p "require('./$binding_src/package.json').version") $(cksum < "$binding_src/build/Release/confluent-kafka-javascript.node")"
if [ "$(cat "$binding_dir/.built-for" 2>/dev/null)" != "$binding_for" ]; then
  echo "[setup] compiling librdkafka's Node binding for Node $node24_version into $node24_dir/binding/" >&2
  rm -rf "$node24_dir/binding" "$node24_dir/binding.tmp"
  mkdir -p "$node24_dir/binding.tmp/node_modules/@confluentinc"
  tmp_dir="$node24_dir/binding.tmp/node_modules/@confluentinc/kafka-javascript"
  # readlink -f: node_modules may be a link (git worktrees); copy what it points at.
  cp -a "$(readlink -f "$binding_src")" "$tmp_dir"
  rm -rf "$tmp_dir/build/Release"
  node_gyp="$(npm root -g)/npm/node_modules/node-gyp/bin/node-gyp.js"
  build_log="$node24_dir/binding-build.log"
  if ! (cd "$tmp_dir" && CKJS_LINKING=dynamic "$OLDPWD/$node24" "$node_gyp" configure build --loglevel=warn \
    --nodedir="$OLDPWD/$node24_pkg") > "$build_log" 2>&1; then
    tail -n 40 "$build_log" >&2
    echo "[setup] compiling the binding for Node $node24_version failed: $build_log" >&2
    exit 1
  fi
  echo "$binding_for" > "$tmp_dir/.built-for"
  mv "$node24_dir/binding.tmp" "$node24_dir/binding"
fi

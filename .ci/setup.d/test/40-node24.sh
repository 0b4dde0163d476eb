# test/node24.test.ts runs the gateway end to end on Node 24 whatever the machine's Node is. Into .node24/
# (git-ignored): Node 24 from the npm registry (the `node` package), and the native addons compiled for that
# Node's ABI: copies of the installed @confluentinc/kafka-javascript and lz4 (same versions, same JS) rebuilt
# with node-gyp under Node 24 against its headers (shipped in the npm package; ~/.npmrc's nodedir would
# point at the machine Node's). The test loads it through test/helpers/node24-binding-hook.mjs. Redone only
# when Node 24's pin or an installed addon changes.
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

# The project's native addons, each compiled for one Node ABI: librdkafka's binding and lz4 (Content-Encoding:
# lz4). Their JavaScript dependencies resolve from the project's node_modules (.node24/ sits inside it).
native_packages="@confluentinc/kafka-javascript lz4"
binding_for="$node24_version abi-checked"
for pkg in $native_packages; do
  binding_for="$binding_for $pkg@$(node -p "require('./node_modules/$pkg/package.json').version") $(cat node_modules/"$pkg"/build/Release/*.node | cksum)"
done
if [ "$(cat "$node24_dir/binding/.built-for" 2>/dev/null)" != "$binding_for" ]; then
  echo "[setup] compiling the native addons ($native_packages) for Node $node24_version into $node24_dir/binding/" >&2
  rm -rf "$node24_dir/binding" "$node24_dir/binding.tmp"
  node_gyp="$(npm root -g)/npm/node_modules/node-gyp/bin/node-gyp.js"
  build_log="$node24_dir/binding-build.log"
  : > "$build_log"
  for pkg in $native_packages; do
    tmp_dir="$node24_dir/binding.tmp/node_modules/$pkg"
    mkdir -p "$(dirname "$tmp_dir")"
    # readlink -f: node_modules may be a link (git worktrees); copy what it points at.
    cp -a "$(readlink -f "node_modules/$pkg")" "$tmp_dir"
    rm -rf "$tmp_dir/build"
    # npm exports its config to scripts as npm_config_* (from ~/.npmrc too): under `npm test`,
    # npm_config_nodedir names the machine Node's headers and node-gyp prefers it to --nodedir.
    if ! (cd "$tmp_dir" && CKJS_LINKING=dynamic npm_config_nodedir="$OLDPWD/$node24_pkg" \
      "$OLDPWD/$node24" "$node_gyp" configure build --loglevel=warn --nodedir="$OLDPWD/$node24_pkg") >> "$build_log" 2>&1; then
      tail -n 40 "$build_log" >&2
      echo "[setup] compiling $pkg for Node $node24_version failed: $build_log" >&2
      exit 1
    fi
  done
  # An addon built against other headers loads nowhere: check the ABI it was configured for.
  node24_abi="$("$node24" -p process.versions.modules)"
  for pkg in $native_packages; do
    built_abi="$(sed -n 's/.*"node_module_version": \([0-9]*\).*/\1/p' "$node24_dir/binding.tmp/node_modules/$pkg/build/config.gypi")"
    if [ "$built_abi" != "$node24_abi" ]; then
      echo "[setup] $pkg was compiled for Node ABI ${built_abi:-unknown}, not Node $node24_version's $node24_abi" >&2
      exit 1
    fi
  done
  echo "$binding_for" > "$node24_dir/binding.tmp/.built-for"
  mv "$node24_dir/binding.tmp" "$node24_dir/binding"
fi

// Loaded with --import into the gateway that test/node24.test.ts runs on Node 24 from .node24/: resolves
// the packages with a C++ addon (@confluentinc/kafka-javascript, lz4) to the copies .ci/setup.d/test/40-node24.sh
// compiled for Node 24, instead of the project's, compiled for the machine's Node (an addon is Node-ABI-specific;
// the JavaScript is the same package version). Everything else, uWebSockets.js included, loads as under npm start.
// The resolved URL is rewritten (not the parent): require() ignores a changed parentURL, and the copy's own
// relative requires (its build/Release/*.node) then resolve inside the copy.
import { registerHooks } from 'node:module';

const bindingModules = new URL('../../.node24/binding/node_modules/', import.meta.url).href;
const NATIVE_PACKAGES = ['@confluentinc/kafka-javascript/', 'lz4/'];

registerHooks({
  resolve(specifier, context, nextResolve) {
    const resolved = nextResolve(specifier, context);
    if (resolved.url.startsWith(bindingModules)) return resolved;
    // The project's node_modules may be a link (git worktrees): match the package after the last node_modules/.
    const at = resolved.url.lastIndexOf('/node_modules/');
    const inModules = at < 0 ? '' : resolved.url.slice(at + '/node_modules/'.length);
    if (NATIVE_PACKAGES.some((p) => inModules.startsWith(p))) return { ...resolved, url: bindingModules + inModules };
    return resolved;
  },
});

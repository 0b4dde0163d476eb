// Loaded with --import into the gateway that test/node24.test.ts runs on Node 24 from .node24/: resolves
// @confluentinc/kafka-javascript to the copy whose C++ addon .ci/setup.d/test/40-node24.sh compiled for
// Node 24, instead of the project's, compiled for the machine's Node (the addon is Node-ABI-specific; the
// JavaScript is the same package version). Everything else, uWebSockets.js included, loads as under npm start.
import { registerHooks } from 'node:module';

const bindingParent = new URL('../../.node24/binding/', import.meta.url).href;
const PACKAGE = '@confluentinc/kafka-javascript';

registerHooks({
  resolve(specifier, context, nextResolve) {
    if (specifier === PACKAGE || specifier.startsWith(`${PACKAGE}/`))
      return nextResolve(specifier, { ...context, parentURL: bindingParent });
    return nextResolve(specifier, context);
  },
});

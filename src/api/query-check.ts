/**
 * Query parameters against the route table: an unknown name (`form` for `from`, `acks` for `ack`) or a
 * repeated one (`ack=none&ack=all`; uWS would read the first) is refused with 400 INVALID_PARAMETER naming
 * it, instead of silently falling back to the default. Values are checked where they are read (e.g. `ack`).
 * `api_key` is taken only by the routes a browser opens without headers (WebSocket, SSE); elsewhere it gets
 * its own refusal, since a key in a URL ends up in proxy and access logs.
 * Called only with a non-empty query string: a request without one costs nothing here.
 */
import { SluiceError, unknownParameter } from '../errors.js';
import { openApiPath, type RouteSpec } from './routes.js';

export type QueryCheck = (rawQuery: string) => void;

/** The check for a route, or null when its query is not checked (CORS preflight). */
export function queryChecker(route: RouteSpec): QueryCheck | null {
  if (route.query === 'any') return null;
  const accepted = route.query.map((p) => p.name);
  const where = `${route.transport === 'websocket' ? 'WebSocket' : route.method.toUpperCase()} ${openApiPath(route.path)}`;
  if (accepted.length > 31) throw new Error(`${where}: too many query parameters for the repeat bitmask`);
  // One pass with indexOf, no intermediate arrays; names are decoded only when they hold an escape.
  return (raw) => {
    let seen = 0;
    for (let start = 0; start < raw.length; ) {
      let end = raw.indexOf('&', start);
      if (end < 0) end = raw.length;
      if (end > start) {
        let eq = raw.indexOf('=', start);
        if (eq < 0 || eq > end) eq = end;
        let name = raw.slice(start, eq);
        if (name.includes('%') || name.includes('+')) name = decodeName(name);
        const i = accepted.indexOf(name);
        if (i < 0) throw name === 'api_key' ? keyInUrl(where) : unknownParameter('query parameter', name, accepted, where);
        if (seen & (1 << i))
          throw new SluiceError('INVALID_PARAMETER', `query parameter "${name}" is given more than once; give it once`, {
            parameter: name,
          });
        seen |= 1 << i;
      }
      start = end + 1;
    }
  };
}

function decodeName(raw: string): string {
  try {
    return decodeURIComponent(raw.replace(/\+/g, ' '));
  } catch {
    return raw;
  }
}

/** `?api_key=` on a route that takes the key in headers only: said plainly (the key itself is never echoed). */
function keyInUrl(where: string): SluiceError {
  return new SluiceError(
    'INVALID_PARAMETER',
    `api_key in the URL is not accepted for ${where}: URLs end up in proxy and access logs. Send the key as X-API-Key or Authorization: Bearer; ?api_key= is only for WebSocket and SSE routes, where browsers cannot set headers`,
    { parameter: 'api_key' },
  );
}

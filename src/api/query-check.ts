/**
 * Query parameters against the route table: an unknown name (`form` for `from`, `acks` for `ack`) or a
 * repeated one (`ack=none&ack=all`; uWS would read the first) is refused with 400 INVALID_PARAMETER naming
 * it, instead of silently falling back to the default. Values are checked where they are read (e.g. `ack`).
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
  return (raw) => {
    let seen: string[] | undefined;
    for (const part of raw.split('&')) {
      if (part === '') continue;
      const eq = part.indexOf('=');
      const name = decodeName(eq < 0 ? part : part.slice(0, eq));
      if (!accepted.includes(name)) throw unknownParameter('query parameter', name, accepted, where);
      if (seen?.includes(name)) throw new SluiceError('INVALID_PARAMETER', `query parameter "${name}" is given more than once; give it once`, { parameter: name });
      (seen ??= []).push(name);
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

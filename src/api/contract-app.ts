/**
 * Holds the uWS app to the route table. Route registrations (`get`, `post`, `options`, `ws`) go through
 * here: each must match a row of the table (else start-up stops), and `assertComplete()` stops start-up when
 * a row was never registered. Each handler is wrapped to tag the response with its route id (for error
 * metrics) and to check the query string against the table before the route's own handler runs. The
 * fallback answers what matched no route: 426 for a plain GET on a WebSocket route, 405 with `Allow` for a
 * known path with another method (any method, those uWS does not know included), 404 otherwise.
 *
 * Hot path: one property write and one `getQuery()` per request; the query is parsed only when non-empty.
 */
import type { HttpRequest, HttpResponse, TemplatedApp, WebSocketBehavior } from 'uWebSockets.js';
import { SluiceError, StartupError } from '../errors.js';
import { tagRoute, type ErrorAnswers } from '../http/respond.js';
import type { CorsPolicy } from '../http/cors.js';
import { openApiPath, patternRegExp, ROUTES, UNMATCHED_ROUTE, type RouteSpec } from './routes.js';
import { queryChecker, type QueryCheck } from './query-check.js';

type Handler = (res: HttpResponse, req: HttpRequest) => void | Promise<void>;

function label(method: string, path: string): string {
  return `${method.toUpperCase()} ${path}`;
}

export class ContractApp {
  private readonly registered = new Set<RouteSpec>();
  private readonly routes: readonly RouteSpec[];
  private readonly compiled: { route: RouteSpec; re: RegExp }[];

  /** Patches `app`'s registration methods in place (publish, listen… stay the native ones). */
  constructor(
    private readonly app: TemplatedApp,
    private readonly answers: ErrorAnswers,
    private readonly cors: CorsPolicy,
    /** Route ids this app does not serve (health and metrics when they are on the admin port): 404 here. */
    servedElsewhere: readonly string[] = [],
  ) {
    this.routes = ROUTES.filter((r) => !servedElsewhere.includes(r.id));
    this.compiled = this.routes.filter((r) => r.path !== '/*').map((r) => ({ route: r, re: patternRegExp(r.path) }));
    const get = app.get.bind(app);
    const post = app.post.bind(app);
    const options = app.options.bind(app);
    const ws = app.ws.bind(app);
    app.get = (pattern: string, handler: Handler) => get(pattern, this.wrap(this.find('get', 'http', pattern), handler));
    app.post = (pattern: string, handler: Handler) => post(pattern, this.wrap(this.find('post', 'http', pattern), handler));
    app.options = (pattern: string, handler: Handler) => options(pattern, this.wrap(this.find('options', 'http', pattern), handler));
    app.ws = <T>(pattern: string, behavior: WebSocketBehavior<T>) => {
      const route = this.find('get', 'websocket', pattern);
      const upgrade = behavior.upgrade;
      if (!upgrade) throw new StartupError(`WebSocket route ${pattern} has no upgrade handler: its query cannot be checked`);
      return ws(pattern, { ...behavior, upgrade: this.wrap(route, upgrade as Handler) as typeof upgrade });
    };
  }

  /** Every row of the table has been registered; call after all routes are. */
  assertComplete(): void {
    const missing = this.routes.filter((r) => !this.registered.has(r)).map((r) => `${label(r.method, r.path)} (${r.transport})`);
    if (missing.length > 0)
      throw new StartupError(`the route table (src/api/routes.ts) lists routes the app does not serve: ${missing.join(', ')}`);
  }

  /** Answers requests that matched no registered route (register last, as `any('/*')`). */
  installFallback(): void {
    this.app.any('/*', (res, req) => this.fallback(res, req));
  }

  private find(method: string, transport: string, pattern: string): RouteSpec {
    const route = this.routes.find(
      (r) =>
        r.path === pattern &&
        (transport === 'websocket' ? r.transport === 'websocket' : r.method === method && r.transport !== 'websocket'),
    );
    if (!route)
      throw new StartupError(`${label(method, pattern)} (${transport}) is registered but not in the route table (src/api/routes.ts)`);
    if (this.registered.has(route)) throw new StartupError(`${label(method, pattern)} is registered twice`);
    this.registered.add(route);
    return route;
  }

  private wrap(route: RouteSpec, handler: Handler): Handler {
    const check: QueryCheck | null = queryChecker(route);
    const id = route.id;
    // A body that was not read: close the connection with the answer (the only way to stop an upload).
    const close = route.body !== undefined;
    if (!check) {
      return (res: HttpResponse, req: HttpRequest, ...rest: unknown[]) => {
        tagRoute(res, id);
        return (handler as (...a: unknown[]) => void)(res, req, ...rest);
      };
    }
    return (res: HttpResponse, req: HttpRequest, ...rest: unknown[]) => {
      tagRoute(res, id);
      const query = req.getQuery();
      if (query) {
        try {
          check(query);
        } catch (err) {
          this.answers.send(res, err, close, this.cors.allowedOrigin(req.getHeader('origin')));
          return;
        }
      }
      return (handler as (...a: unknown[]) => void)(res, req, ...rest);
    };
  }

  private fallback(res: HttpResponse, req: HttpRequest): void {
    tagRoute(res, UNMATCHED_ROUTE);
    // Lower-cased by uWS. Methods it does not know (QUERY, PROPFIND, …) arrive here too with uWS ≥ 20.5x,
    // whose `any` catches every method: a known path answers 405 with Allow, another one 404.
    const method = req.getMethod();
    const url = req.getUrl();
    const matches = this.compiled.filter((c) => c.re.test(url)).map((c) => c.route);
    let err: SluiceError;
    if (matches.length === 0) {
      err = new SluiceError('ROUTE_NOT_FOUND', `no route for ${label(method, url)}; GET /openapi.json lists the routes`);
    } else if (matches.some((r) => r.method === method && r.transport !== 'websocket')) {
      // A served method reaches the fallback only when spelt in another case (`get`): HTTP methods are
      // case-sensitive, and uWS routes only the upper-case name.
      const allow = [...new Set([...matches.map((r) => r.method.toUpperCase()), 'OPTIONS'])];
      err = new SluiceError(
        'METHOD_NOT_ALLOWED',
        `HTTP methods are case-sensitive: send ${method.toUpperCase()}, not ${req.getCaseSensitiveMethod()}; ${openApiPath(matches[0].path)} takes ${allow.join(', ')}`,
        { allow },
      );
    } else if (method === 'get' && matches.some((r) => r.transport === 'websocket')) {
      err = new SluiceError(
        'UPGRADE_REQUIRED',
        `${url} is a WebSocket route: connect with a WebSocket client (Upgrade: websocket)${url.startsWith('/ws/topics/') ? `, or use GET ${url.replace('/ws/', '/sse/')} for Server-Sent Events` : ''}`,
      );
    } else {
      const allow = [...new Set([...matches.map((r) => r.method.toUpperCase()), 'OPTIONS'])];
      err = new SluiceError(
        'METHOD_NOT_ALLOWED',
        `${label(method, url)} is not served; ${openApiPath(matches[0].path)} takes ${allow.join(', ')}`,
        { allow },
      );
    }
    this.answers.send(res, err, false, this.cors.allowedOrigin(req.getHeader('origin')));
  }
}

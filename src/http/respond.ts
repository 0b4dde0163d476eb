/**
 * Writing answers with uWS: JSON bodies, status lines, and the one place errors become HTTP responses
 * (status + `{"error":{"code","message","retriable"}}` + `Retry-After` where the error registry says a retry can succeed). Callers outside the
 * synchronous part of a handler wrap these in `res.cork()`.
 *
 * Every error answer is reported once, here, to the error observer with the route it answered for (the
 * route table id that `tagRoute` put on the response): it counts `sluice_errors_total{code,route}` and logs
 * INTERNAL errors with a correlation id that the body carries too.
 */
import { randomUUID } from 'node:crypto';
import type { HttpRequest, HttpResponse } from 'uWebSockets.js';
import { SluiceError, errorCodeOf, toErrorResponse, type ErrorCode } from '../errors.js';

const STATUS_LINES: Record<number, string> = {
  200: '200 OK', 202: '202 Accepted', 400: '400 Bad Request', 401: '401 Unauthorized', 403: '403 Forbidden', 404: '404 Not Found', 405: '405 Method Not Allowed',
  413: '413 Payload Too Large', 415: '415 Unsupported Media Type', 422: '422 Unprocessable Entity', 426: '426 Upgrade Required', 429: '429 Too Many Requests',
  431: '431 Request Header Fields Too Large',
  500: '500 Internal Server Error', 503: '503 Service Unavailable',
};

let retryAfterSeconds = '1';

/** Sees every error answer: its code, the route id it answered for, the thrown value, and (INTERNAL only) the correlation id. */
export type ErrorObserver = (code: ErrorCode, route: string, err: unknown, correlationId: string | undefined) => void;
let observeError: ErrorObserver = () => {};

/** Set once at start-up, like the Retry-After seconds. */
export function setErrorObserver(observer: ErrorObserver): void {
  observeError = observer;
}

// A plain property on uWS's response object (it is a JS object): set once per request by the route wrapper.
const ROUTE_TAG = 'sluiceRoute';

/** Marks the response with the route-table id of the route answering it (for error metrics and logs). */
export function tagRoute(res: HttpResponse, route: string): void {
  (res as unknown as Record<string, string>)[ROUTE_TAG] = route;
}

function routeOf(res: HttpResponse): string {
  return (res as unknown as Record<string, string | undefined>)[ROUTE_TAG] ?? 'unknown';
}

/** Set once from configuration at start-up. */
export function setRetryAfterSeconds(seconds: number): void {
  retryAfterSeconds = String(seconds);
}

export function sendJson(res: HttpResponse, status: number, body: string, closeConnection = false, allowOrigin: string | null = null): void {
  res.writeStatus(STATUS_LINES[status] ?? String(status));
  res.writeHeader('content-type', 'application/json');
  if (allowOrigin) writeCors(res, allowOrigin);
  res.end(body, closeConnection);
}

/**
 * Answers with the error's status and JSON body. `closeConnection` is for answers given before the body
 * was read (413 on Content-Length, 415, 422): closing is the only way to stop the client's upload.
 */
export function sendError(res: HttpResponse, err: unknown, closeConnection = false, allowOrigin: string | null = null): void {
  const code = errorCodeOf(err);
  const correlationId = code === 'INTERNAL' ? randomUUID() : undefined;
  const e = toErrorResponse(err, correlationId);
  observeError(code, routeOf(res), err, correlationId);
  res.writeStatus(STATUS_LINES[e.status] ?? String(e.status));
  res.writeHeader('content-type', 'application/json');
  if (allowOrigin) writeCors(res, allowOrigin);
  if (e.retryAfter) res.writeHeader('retry-after', retryAfterSeconds);
  if (e.status === 401) res.writeHeader('www-authenticate', 'Bearer');
  const allow = err instanceof SluiceError ? err.details?.allow : undefined;
  if (e.status === 405 && Array.isArray(allow)) res.writeHeader('allow', allow.join(', '));
  if (e.status === 426) res.writeHeader('upgrade', 'websocket');
  res.end(e.body, closeConnection);
}

function writeCors(res: HttpResponse, origin: string): void {
  res.writeHeader('access-control-allow-origin', origin);
  res.writeHeader('vary', 'Origin');
  // Clients read Retry-After to back off.
  res.writeHeader('access-control-expose-headers', 'Retry-After');
}

/** A path parameter, percent-decoded; malformed escapes are kept as-is (and then fail name validation). */
export function pathParameter(req: HttpRequest, index: number): string {
  const raw = req.getParameter(index);
  if (!raw.includes('%')) return raw; // nothing to decode: the usual case
  try {
    return decodeURIComponent(raw);
  } catch {
    return raw;
  }
}

/**
 * Runs a route handler so that a synchronous throw becomes a 500 answer instead of an exception inside
 * uWS (a handler that neither answers nor registers onAborted terminates the process).
 */
export function guard(res: HttpResponse, handler: () => void): void {
  try {
    handler();
  } catch (err) {
    answerUncaught(res, err);
  }
}

/** What `guard` does with a throw, for handlers that inline their own try/catch (no closure per request). */
export function answerUncaught(res: HttpResponse, err: unknown): void {
  res.onAborted(() => {});
  sendError(res, err, true); // anything but a SluiceError answers INTERNAL, logged with its stack by the error observer
}

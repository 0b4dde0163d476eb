/**
 * Writing answers with uWS: JSON bodies, status lines, and the one place errors become HTTP responses
 * (status + `{"error":{"code","message","retriable"}}` + `Retry-After` where the error registry says a retry can succeed). Callers outside the
 * synchronous part of a handler wrap these in `res.cork()`.
 *
 * Every error answer is reported once, here, to the error observer with the route it answered for (the
 * route table id that `tagRoute` put on the response): it counts `sluice_errors_total{code,route}` and logs
 * INTERNAL errors with a correlation id that the body carries too. The observer and the Retry-After seconds
 * are the options of one `ErrorAnswers`, built once per uWS app (per thread) from the configuration and
 * handed to every route that answers errors.
 */
import { randomUUID } from 'node:crypto';
import type { HttpRequest, HttpResponse } from 'uWebSockets.js';
import { SluiceError, errorCodeOf, toErrorResponse, type ErrorCode } from '../errors.js';

const STATUS_LINES: Record<number, string> = {
  200: '200 OK',
  202: '202 Accepted',
  400: '400 Bad Request',
  401: '401 Unauthorized',
  403: '403 Forbidden',
  404: '404 Not Found',
  405: '405 Method Not Allowed',
  413: '413 Payload Too Large',
  415: '415 Unsupported Media Type',
  422: '422 Unprocessable Entity',
  426: '426 Upgrade Required',
  429: '429 Too Many Requests',
  431: '431 Request Header Fields Too Large',
  500: '500 Internal Server Error',
  503: '503 Service Unavailable',
};

/** Sees every error answer: its code, the route id it answered for, the thrown value, and (INTERNAL only) the correlation id. */
export type ErrorObserver = (code: ErrorCode, route: string, err: unknown, correlationId: string | undefined) => void;

export interface ErrorAnswersOptions {
  /** `Retry-After` on the answers the error registry marks as worth retrying (SLUICE_RETRY_AFTER_S). */
  retryAfterSeconds: number;
  observeError: ErrorObserver;
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

export function sendJson(
  res: HttpResponse,
  status: number,
  body: string,
  closeConnection = false,
  allowOrigin: string | null = null,
): void {
  res.writeStatus(STATUS_LINES[status] ?? String(status));
  res.writeHeader('content-type', 'application/json');
  if (allowOrigin) writeCors(res, allowOrigin);
  res.end(body, closeConnection);
}

function writeCors(res: HttpResponse, origin: string): void {
  res.writeHeader('access-control-allow-origin', origin);
  res.writeHeader('vary', 'Origin');
  // Clients read Retry-After to back off.
  res.writeHeader('access-control-expose-headers', 'Retry-After');
}

/** A path parameter, percent-decoded; malformed escapes are kept as-is (and then fail name validation). */
export function pathParameter(req: HttpRequest, index: number): string {
  // uWS 20.57 types an index past the route's parameters as undefined; callers pass only their route's own.
  const raw = req.getParameter(index) ?? '';
  if (!raw.includes('%')) return raw; // nothing to decode: the usual case
  try {
    return decodeURIComponent(raw);
  } catch {
    return raw;
  }
}

/** The one place errors become HTTP answers. */
export class ErrorAnswers {
  private readonly retryAfter: string;
  private readonly observeError: ErrorObserver;

  constructor(options: ErrorAnswersOptions) {
    this.retryAfter = String(options.retryAfterSeconds);
    this.observeError = options.observeError;
  }

  /**
   * Answers with the error's status and JSON body. `closeConnection` is for answers given before the body
   * was read (413 on Content-Length, 415, 422): closing is the only way to stop the client's upload.
   */
  send(res: HttpResponse, err: unknown, closeConnection = false, allowOrigin: string | null = null): void {
    const code = errorCodeOf(err);
    const correlationId = code === 'INTERNAL' ? randomUUID() : undefined;
    const e = toErrorResponse(err, correlationId);
    this.observeError(code, routeOf(res), err, correlationId);
    res.writeStatus(STATUS_LINES[e.status] ?? String(e.status));
    res.writeHeader('content-type', 'application/json');
    if (allowOrigin) writeCors(res, allowOrigin);
    if (e.retryAfter) res.writeHeader('retry-after', this.retryAfter);
    if (e.status === 401) res.writeHeader('www-authenticate', 'Bearer');
    const allow = err instanceof SluiceError ? err.details?.allow : undefined;
    if (e.status === 405 && Array.isArray(allow)) res.writeHeader('allow', allow.join(', '));
    if (e.status === 426) res.writeHeader('upgrade', 'websocket');
    res.end(e.body, closeConnection);
  }

  /**
   * A route handler's synchronous throw, answered as 500 instead of left to uWS (a handler that neither
   * answers nor registers onAborted terminates the process). Handlers inline their own try/catch and call
   * this: no closure per request.
   */
  uncaught(res: HttpResponse, err: unknown): void {
    res.onAborted(() => {});
    this.send(res, err, true); // anything but a SluiceError answers INTERNAL, logged with its stack by the error observer
  }
}

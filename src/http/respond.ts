/**
 * Writing answers with uWS: JSON bodies, status lines, and the one place errors become HTTP responses
 * (status + `{"error":{"code","message"}}` + `Retry-After` on retriable 503s). Callers outside the
 * synchronous part of a handler wrap these in `res.cork()`.
 */
import type { HttpRequest, HttpResponse } from 'uWebSockets.js';
import { SluiceError, toErrorResponse } from '../errors.js';

const STATUS_LINES: Record<number, string> = {
  200: '200 OK', 202: '202 Accepted', 400: '400 Bad Request', 401: '401 Unauthorized', 403: '403 Forbidden', 404: '404 Not Found', 405: '405 Method Not Allowed',
  413: '413 Payload Too Large', 415: '415 Unsupported Media Type', 422: '422 Unprocessable Entity', 429: '429 Too Many Requests',
  431: '431 Request Header Fields Too Large',
  500: '500 Internal Server Error', 503: '503 Service Unavailable',
};

let retryAfterSeconds = '1';

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
  const e = toErrorResponse(err);
  res.writeStatus(STATUS_LINES[e.status] ?? String(e.status));
  res.writeHeader('content-type', 'application/json');
  if (allowOrigin) writeCors(res, allowOrigin);
  if (e.status === 503 || e.status === 429) res.writeHeader('retry-after', retryAfterSeconds);
  if (e.status === 401) res.writeHeader('www-authenticate', 'Bearer');
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
  sendError(res, err instanceof SluiceError ? err : new SluiceError('INTERNAL', 'internal error'), true);
}

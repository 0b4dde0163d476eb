/**
 * Sizes libuv's thread pool before anything uses it. Each fan-out topic's `consume(n)` call occupies a
 * pool thread for up to its poll timeout; with the default 4 threads, a fifth subscribed topic would wait
 * behind the others (and so would DNS and file I/O). Imported first by main.ts; an explicit
 * UV_THREADPOOL_SIZE wins.
 */
export const DEFAULT_THREADPOOL_SIZE = 64;
process.env.UV_THREADPOOL_SIZE ??= String(DEFAULT_THREADPOOL_SIZE);

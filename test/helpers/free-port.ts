/** Free local ports for tests that start a broker of their own (the embedded broker takes a port and the next one). */
import { createServer } from 'node:net';

/** True when nothing listens on 127.0.0.1:`port` (checked by listening on it and closing again). */
export const portFree = (port: number) =>
  new Promise<boolean>((resolve) => {
    const srv = createServer()
      .once('error', () => resolve(false))
      .listen(port, '127.0.0.1', () => srv.close(() => resolve(true)));
  });

/**
 * A free port whose next port (the embedded broker's controller's) is free too, picked at random among
 * `pairs` even ports from `from`; keep the range below the ephemeral range (32768+) where other connections take ports.
 */
export async function freePortPair(from: number, pairs: number): Promise<number> {
  for (;;) {
    const port = from + 2 * Math.floor(Math.random() * pairs);
    if ((await portFree(port)) && (await portFree(port + 1))) return port;
  }
}

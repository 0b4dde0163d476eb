/** A Server-Sent Events test client (fetch + a small parser) that records every event and can send Last-Event-ID. */
export interface SseEvent {
  event: string;
  id: string | null;
  data: string;
}

export interface SseClient {
  events: SseEvent[];
  /** Comment lines (`: …`), e.g. heartbeats. */
  comments: string[];
  status: number;
  waitForEvents(n: number, timeoutMs?: number): Promise<SseEvent[]>;
  close(): void;
  ended: Promise<void>;
}

export async function openSse(url: string, headers: Record<string, string> = {}): Promise<SseClient> {
  const abort = new AbortController();
  const res = await fetch(url, { headers: { accept: 'text/event-stream', ...headers }, signal: abort.signal });
  const events: SseEvent[] = [];
  const comments: string[] = [];
  const waiters: (() => void)[] = [];
  if (!res.ok || !res.body) {
    const body = await res.text();
    throw Object.assign(new Error(`HTTP ${res.status}: ${body}`), { status: res.status, body });
  }
  const ended = (async () => {
    const decoder = new TextDecoder();
    let buffer = '';
    let current: SseEvent = { event: 'message', id: null, data: '' };
    let hasData = false;
    try {
      for await (const chunk of res.body as unknown as AsyncIterable<Uint8Array>) {
        buffer += decoder.decode(chunk, { stream: true });
        let nl: number;
        while ((nl = buffer.indexOf('\n')) >= 0) {
          const line = buffer.slice(0, nl);
          buffer = buffer.slice(nl + 1);
          if (line === '') {
            if (hasData) events.push(current);
            current = { event: 'message', id: null, data: '' };
            hasData = false;
            for (const w of waiters.splice(0)) w();
          } else if (line.startsWith(':')) comments.push(line.slice(1).trim());
          else {
            const colon = line.indexOf(':');
            const field = colon < 0 ? line : line.slice(0, colon);
            const value = colon < 0 ? '' : line.slice(colon + 1).replace(/^ /, '');
            if (field === 'data') {
              current.data = hasData ? `${current.data}\n${value}` : value;
              hasData = true;
            } else if (field === 'event') current.event = value;
            else if (field === 'id') current.id = value;
          }
        }
      }
    } catch {
      // aborted
    }
    for (const w of waiters.splice(0)) w();
  })();
  return {
    events,
    comments,
    status: res.status,
    ended,
    close: () => abort.abort(),
    waitForEvents(n, timeoutMs = 20_000) {
      return new Promise((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error(`got ${events.length} of ${n} events: ${events.slice(-3).map((e) => e.data).join(' | ')}`)), timeoutMs);
        const check = () => {
          if (events.length >= n) {
            clearTimeout(timer);
            resolve(events.slice(0, n));
          } else waiters.push(check);
        };
        check();
      });
    },
  };
}

/** Waits until a Kafka cluster answers a metadata request (the broker is usable, not merely listening). */
import { Producer } from '../kafka-client.js';

export async function waitForMetadata(bootstrapServers: string, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  const probe = new Producer({ 'bootstrap.servers': bootstrapServers, 'reconnect.backoff.max.ms': 500, log_level: 0 });
  try {
    while (true) {
      const ok = await new Promise<boolean>((res) => {
        probe.connect({ timeout: 1000 }, (err) => res(!err));
      });
      if (ok) return;
      if (Date.now() > deadline) throw new Error(`Kafka at ${bootstrapServers} did not answer metadata requests within ${timeoutMs} ms`);
      await new Promise((r) => setTimeout(r, 250));
    }
  } finally {
    if (probe.isConnected()) await new Promise((res) => probe.disconnect(() => res(undefined)));
  }
}

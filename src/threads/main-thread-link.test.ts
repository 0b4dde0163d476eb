import { describe, expect, it } from 'vitest';
import type { ToMain } from './thread-protocol.js';
import { MainThreadLink } from './main-thread-link.js';

/** A port to a main thread that records the questions and answers only when the test says so. */
function link(answerTimeoutMs: number) {
  const posted: ToMain[] = [];
  const l = new MainThreadLink({ postMessage: (msg: ToMain) => posted.push(msg) }, { answerTimeoutMs });
  return { l, posted };
}

describe('questions to the main thread', () => {
  it('a /metrics question the main thread never answers fails instead of holding the request open', async () => {
    const { l, posted } = link(20);
    await expect(l.metricsText()).rejects.toThrow(/did not answer the metrics text request/);
    expect(posted).toEqual([{ type: 'metrics-request', id: 1 }]);
  });

  it('a topic-list question the main thread never answers fails too', async () => {
    const { l } = link(20);
    await expect(l.listTopics()).rejects.toThrow(/did not answer the topic list request/);
  });

  it('an answer in time settles the question; a late answer to a failed one is dropped', async () => {
    const { l } = link(60_000);
    const text = l.metricsText();
    l.onMetricsText(1, 'sluice_up 1\n');
    await expect(text).resolves.toBe('sluice_up 1\n');
    const topics = l.listTopics();
    l.onTopicList(2, null, { code: 'BROKER_UNAVAILABLE', message: 'no broker' });
    await expect(topics).rejects.toMatchObject({ code: 'BROKER_UNAVAILABLE' });

    const { l: slow } = link(10);
    await expect(slow.metricsText()).rejects.toThrow();
    expect(() => slow.onMetricsText(1, 'late')).not.toThrow();
  });
});

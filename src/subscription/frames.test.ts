import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { ERRORS, fromPlainError, toErrorResponse, type ErrorCode, type PlainError } from '../errors.js';
import { encodeEnvelope, readValue } from './frame-encoder.js';
import {
  alertFrame,
  errorFrame,
  SEED_CONNECTED_FRAME,
  seedEchoFrame,
  snapshotEndFrame,
  snapshotRecordFrame,
  subscribedFrame,
  unsubscribedFrame,
  windowFrame,
  windowHead,
} from './frames.js';

/** What a client's JSON.parse gives for a model value (JSON has no -0 and no undefined). */
const asJson = (v: unknown): unknown => JSON.parse(JSON.stringify(v));
/** Resume tokens are base64url text. */
const token = fc.stringMatching(/^[A-Za-z0-9_-]{1,40}$/);
const topic = fc.string({ maxLength: 40 });

describe('subscribed and unsubscribed frames', () => {
  it('are byte-exact', () => {
    expect(subscribedFrame('telemetry', 'djE6NDMsMA')).toBe('{"event":"subscribed","topic":"telemetry","token":"djE6NDMsMA"}');
    expect(subscribedFrame('telemetry', null)).toBe('{"event":"subscribed","topic":"telemetry"}');
    expect(unsubscribedFrame('a"b')).toBe('{"event":"unsubscribed","topic":"a\\"b"}');
  });
  it('parse back to their topic and token, whatever the topic', () => {
    fc.assert(
      fc.property(topic, fc.option(token, { nil: null }), (t, tok) => {
        expect(JSON.parse(subscribedFrame(t, tok))).toEqual(
          tok === null ? { event: 'subscribed', topic: t } : { event: 'subscribed', topic: t, token: tok },
        );
        expect(JSON.parse(unsubscribedFrame(t))).toEqual({ event: 'unsubscribed', topic: t });
      }),
    );
  });
});

describe('error frames', () => {
  it('carry the same error object as an HTTP error body, for every code', () => {
    for (const code of Object.keys(ERRORS) as ErrorCode[]) {
      const error: PlainError = { code, message: `m ${code}`, details: { limit: 'SLUICE_X' } };
      const http = JSON.parse(toErrorResponse(fromPlainError(error)).body) as { error: unknown };
      expect(JSON.parse(errorFrame('t', error))).toEqual({ event: 'error', topic: 't', error: http.error });
      expect(JSON.parse(errorFrame(undefined, error))).toEqual({ event: 'error', error: http.error });
    }
  });
  it('are byte-exact, with retriable from the registry and details after it', () => {
    expect(errorFrame('t', { code: 'TOO_SLOW', message: 'too slow' })).toBe(
      '{"event":"error","topic":"t","error":{"code":"TOO_SLOW","message":"too slow","retriable":true}}',
    );
    expect(errorFrame(undefined, { code: 'INVALID_PARAMETER', message: 'x', details: { parameter: 'form' } })).toBe(
      '{"event":"error","error":{"code":"INVALID_PARAMETER","message":"x","retriable":false,"parameter":"form"}}',
    );
  });
});

describe('seed frames', () => {
  it('are the seed app’s', () => {
    expect(SEED_CONNECTED_FRAME).toBe('{"Message":"connected"}');
    fc.assert(
      fc.property(fc.string(), (text) => {
        expect(JSON.parse(seedEchoFrame(text))).toEqual({ Message: text });
      }),
    );
  });
});

describe('snapshot frames', () => {
  it('a snapshot record is its per-record frame (no token) marked "snapshot":true', () => {
    fc.assert(
      fc.property(topic, fc.option(fc.string(), { nil: null }), fc.jsonValue(), (t, key, v) => {
        const m = { topic: t, partition: 1, offset: 7, timestamp: 1700000000000, key, value: Buffer.from(JSON.stringify(v)) };
        const frame = snapshotRecordFrame(m, JSON.stringify(t), readValue(m.value));
        expect(JSON.parse(frame)).toEqual({ ...(JSON.parse(encodeEnvelope(m)) as object), snapshot: true });
      }),
    );
  });
  it('snapshot-end is byte-exact and parses back', () => {
    expect(snapshotEndFrame('t', 3, 'djE6NQ')).toBe('{"event":"snapshot-end","topic":"t","keys":3,"token":"djE6NQ"}');
    fc.assert(
      fc.property(topic, fc.nat(), token, (t, keys, tok) => {
        expect(JSON.parse(snapshotEndFrame(t, keys, tok))).toEqual({ event: 'snapshot-end', topic: t, keys, token: tok });
      }),
    );
  });
});

describe('view frames', () => {
  const FIXED = ['event', 'topic', 'start', 'end', 'by', 'count', 'state', 'alert'];
  const name = fc.string({ maxLength: 12 }).filter((n) => !FIXED.includes(n) && n !== '__proto__');
  const byName = fc.option(name, { nil: null });

  it('window and alert frames are byte-exact', () => {
    const head = windowHead('"t"', 0, 10000, 'key', 'dev-1');
    expect(
      windowFrame(head, 3, [
        ['avg_temp', 21.5],
        ['last_site', undefined],
      ]),
    ).toBe('{"event":"window","topic":"t","start":0,"end":10000,"by":{"key":"dev-1"},"count":3,"avg_temp":21.5,"last_site":null}');
    expect(alertFrame(windowHead('"t"', 0, 10000, null, null), true, 'avg_temp>20', 'avg_temp', 21.5)).toBe(
      '{"event":"alert","topic":"t","start":0,"end":10000,"by":{},"state":"firing","alert":"avg_temp>20","avg_temp":21.5}',
    );
  });

  it('parse back to the window, its group and its aggregates', () => {
    fc.assert(
      fc.property(
        topic,
        fc.nat(),
        fc.nat(),
        byName,
        fc.jsonValue(),
        fc.uniqueArray(fc.tuple(name, fc.jsonValue()), { selector: ([n]) => n, maxLength: 5 }),
        (t, start, count, by, byValue, aggregates) => {
          const head = windowHead(JSON.stringify(t), start, start + 1000, by, byValue);
          const expected = {
            event: 'window',
            topic: t,
            start,
            end: start + 1000,
            by: by === null ? {} : { [by]: byValue },
            count,
            ...Object.fromEntries(aggregates),
          };
          expect(JSON.parse(windowFrame(head, count, aggregates))).toEqual(asJson(expected));
        },
      ),
    );
  });

  it('an alert frame names its state, its alert and the value it checked', () => {
    fc.assert(
      fc.property(
        topic,
        byName,
        fc.jsonValue(),
        fc.boolean(),
        fc.string(),
        name,
        fc.jsonValue(),
        (t, by, byValue, firing, text, agg, v) => {
          const head = windowHead(JSON.stringify(t), 0, 5, by, byValue);
          expect(JSON.parse(alertFrame(head, firing, text, agg, v))).toEqual(
            asJson({
              event: 'alert',
              topic: t,
              start: 0,
              end: 5,
              by: by === null ? {} : { [by]: byValue },
              state: firing ? 'firing' : 'resolved',
              alert: text,
              [agg]: v,
            }),
          );
        },
      ),
    );
  });
});

/**
 * A durable request's answer from its delivery reports. A success report without an offset is librdkafka's
 * implicit acknowledgement (`rd_kafka_dr_implicit_ack`: offset RD_KAFKA_OFFSET_INVALID, -1001), which on a
 * brand-new partition can stand for records that were never written (#17.1): it must never make a 200.
 */
import { describe, expect, it } from 'vitest';
import { DurableDelivery, IMPLAUSIBLE_TIMESTAMP_SKEW_MS } from './durable-delivery.js';
import { SluiceError, toErrorResponse } from '../errors.js';
import type { LibrdKafkaError } from '../kafka-client.js';

const RD_KAFKA_OFFSET_INVALID = -1001;

const NOW = 1_800_000_000_000;

/**
 * Feeds the reports in order and returns what the request's answer would be once the last one is in, with the
 * gateway's clock at NOW; `timestampMs` is the request's X-Kafka-Timestamp.
 */
function answerFor(reports: [err: LibrdKafkaError | null, partition: number, offset: number][], timestampMs: number | null = null) {
  let settled: DurableDelivery | undefined;
  const d = new DurableDelivery(
    't',
    reports.length,
    () => {},
    (x) => (settled = x),
    timestampMs,
  );
  for (const [err, partition, offset] of reports) d.record(err, partition, offset);
  expect(settled).toBe(d);
  return d.outcome(NOW);
}

// Delivery errors as librdkafka reports them when the broker's record validation refuses a batch (KIP-467).
const INVALID_TIMESTAMP = { code: 32, message: 'Broker: Invalid timestamp' } as LibrdKafkaError;
const INVALID_RECORD = { code: 87, message: 'Broker: Broker failed to validate record' } as LibrdKafkaError;
const INVALID_DIFFERENT_RECORD = {
  code: -138,
  message: 'Local: an invalid record in the same batch caused the failure of this message too',
} as LibrdKafkaError;
const TIMED_OUT = { code: -192, message: 'Local: Message timed out' } as LibrdKafkaError;

describe('DurableDelivery', () => {
  it('answers the partitions and offsets when every report proves a write', () => {
    expect(
      answerFor([
        [null, 1, 7],
        [null, 0, 3],
        [null, 1, 8],
      ]),
    ).toEqual({
      topic: 't',
      count: 3,
      partitions: [
        { partition: 0, count: 1, offsets: [3, 3] },
        { partition: 1, count: 2, offsets: [7, 8] },
      ],
    });
  });

  it('a success report with offset -1001 (implicit ack) is 503 DELIVERY_UNCONFIRMED, retriable, never a 200 naming -1001', () => {
    const outcome = answerFor([
      [null, 2, RD_KAFKA_OFFSET_INVALID],
      [null, 2, RD_KAFKA_OFFSET_INVALID],
      [null, 2, 0],
      [null, 0, 5],
    ]);
    expect(outcome).toBeInstanceOf(SluiceError);
    const err = outcome as SluiceError;
    expect(err.code).toBe('DELIVERY_UNCONFIRMED');
    expect(err.details).toEqual({ delivered: 2, unconfirmed: 2 });
    expect(err.message).toMatch(/2 of 4 records .*partitions 2\b/);
    const answer = toErrorResponse(err);
    expect(answer).toMatchObject({ status: 503, retriable: true, retryAfter: true });
  });

  it('a failed report wins: DELIVERY_FAILED, whose `delivered` counts only records proven written', () => {
    const err = { code: -192, message: 'Local: Message timed out' } as LibrdKafkaError;
    const outcome = answerFor([
      [null, 0, RD_KAFKA_OFFSET_INVALID],
      [err, 0, RD_KAFKA_OFFSET_INVALID],
      [null, 1, 4],
    ]) as SluiceError;
    expect(outcome.code).toBe('DELIVERY_FAILED');
    expect(outcome.details).toEqual({ delivered: 1, unconfirmed: 1 });
  });

  describe("a batch refused by Kafka's record validation", () => {
    const farFuture = NOW + 365 * 86_400_000;

    it.each([INVALID_TIMESTAMP, INVALID_RECORD])(
      'with a far-future X-Kafka-Timestamp (%o) is 422 TIMESTAMP_REFUSED: not retriable, no Retry-After, nothing delivered',
      (err) => {
        const outcome = answerFor(
          [
            [err, 0, RD_KAFKA_OFFSET_INVALID],
            [err, 1, RD_KAFKA_OFFSET_INVALID],
          ],
          farFuture,
        ) as SluiceError;
        expect(outcome.code).toBe('TIMESTAMP_REFUSED');
        expect(outcome.details).toEqual({ delivered: 0 });
        expect(outcome.message).toMatch(/2 of 2 records .*X-Kafka-Timestamp \d+ is 1 y ahead of the gateway's clock/);
        expect(toErrorResponse(outcome)).toMatchObject({ status: 422, retriable: false, retryAfter: false });
      },
    );

    it('a far-past timestamp is refused alike, and `delivered` counts the records Kafka did write', () => {
      const outcome = answerFor(
        [
          [INVALID_TIMESTAMP, 0, RD_KAFKA_OFFSET_INVALID],
          [null, 1, 9],
        ],
        1,
      ) as SluiceError;
      expect(outcome.code).toBe('TIMESTAMP_REFUSED');
      expect(outcome.details).toEqual({ delivered: 1 });
      expect(outcome.message).toMatch(/behind the gateway's clock/);
    });

    it('refused only for another record of the batch (ERR__INVALID_DIFFERENT_RECORD) is DELIVERY_FAILED, even with a far-future timestamp', () => {
      const outcome = answerFor(
        [
          [INVALID_DIFFERENT_RECORD, 0, RD_KAFKA_OFFSET_INVALID],
          [INVALID_DIFFERENT_RECORD, 0, RD_KAFKA_OFFSET_INVALID],
        ],
        farFuture,
      ) as SluiceError;
      expect(outcome.code).toBe('DELIVERY_FAILED');
      expect(
        (
          answerFor(
            [
              [INVALID_RECORD, 0, RD_KAFKA_OFFSET_INVALID],
              [INVALID_DIFFERENT_RECORD, 0, RD_KAFKA_OFFSET_INVALID],
            ],
            farFuture,
          ) as SluiceError
        ).code,
      ).toBe('TIMESTAMP_REFUSED');
    });

    it("without a timestamp of its own, the request's records were refused for another request's record: DELIVERY_FAILED, retriable", () => {
      const outcome = answerFor([[INVALID_TIMESTAMP, 0, RD_KAFKA_OFFSET_INVALID]], null) as SluiceError;
      expect(outcome.code).toBe('DELIVERY_FAILED');
      expect(toErrorResponse(outcome)).toMatchObject({ status: 503, retriable: true, retryAfter: true });
    });

    it('a plausible timestamp (within the skew a device clock or upload delay has) is not the cause: DELIVERY_FAILED', () => {
      for (const ts of [NOW - IMPLAUSIBLE_TIMESTAMP_SKEW_MS, NOW, NOW + IMPLAUSIBLE_TIMESTAMP_SKEW_MS])
        expect((answerFor([[INVALID_TIMESTAMP, 0, RD_KAFKA_OFFSET_INVALID]], ts) as SluiceError).code).toBe('DELIVERY_FAILED');
    });

    it('any other failure among them (a timeout) keeps DELIVERY_FAILED: a retry can succeed for those', () => {
      const outcome = answerFor(
        [
          [INVALID_TIMESTAMP, 0, RD_KAFKA_OFFSET_INVALID],
          [TIMED_OUT, 1, RD_KAFKA_OFFSET_INVALID],
        ],
        farFuture,
      ) as SluiceError;
      expect(outcome.code).toBe('DELIVERY_FAILED');
    });
  });
});

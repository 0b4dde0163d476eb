/**
 * A durable request's answer from its delivery reports. A success report without an offset is librdkafka's
 * implicit acknowledgement (`rd_kafka_dr_implicit_ack`: offset RD_KAFKA_OFFSET_INVALID, -1001), which on a
 * brand-new partition can stand for records that were never written (#17.1): it must never make a 200.
 */
import { describe, expect, it } from 'vitest';
import { DurableDelivery } from './durable-delivery.js';
import { SluiceError, toErrorResponse } from '../errors.js';
import type { LibrdKafkaError } from '../kafka-client.js';

const RD_KAFKA_OFFSET_INVALID = -1001;

/** Feeds the reports in order and returns what the request's answer would be once the last one is in. */
function answerFor(reports: [err: LibrdKafkaError | null, partition: number, offset: number][]) {
  let settled: DurableDelivery | undefined;
  const d = new DurableDelivery(
    't',
    reports.length,
    () => {},
    (x) => (settled = x),
  );
  for (const [err, partition, offset] of reports) d.record(err, partition, offset);
  expect(settled).toBe(d);
  return d.outcome();
}

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
});

/**
 * Deliveries sent to a hub and not yet acknowledged: each gets an ack id whose answer (handed to the
 * socket or not) resolves its callback once. The subscription that expects an ack is its one owner and
 * answers its own ids when it closes (subscription.ts), so the table empties with the subscriptions.
 */
export class DeliveryAcks {
  private readonly waiting = new Map<number, (handed: boolean) => void>();
  private next = 1;

  /** Acks not answered yet (0 once no subscription is open). */
  get size(): number {
    return this.waiting.size;
  }

  expect(done: (handed: boolean) => void): number {
    const ackId = this.next++;
    this.waiting.set(ackId, done);
    return ackId;
  }

  /** Resolves the ack's callback once; an unknown or already answered id is ignored. */
  answer(ackId: number, handed: boolean): void {
    const done = this.waiting.get(ackId);
    this.waiting.delete(ackId);
    done?.(handed);
  }
}

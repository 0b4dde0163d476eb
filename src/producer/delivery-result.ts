/** The answer to a produce request, as it crosses threads and reaches the client. */
export interface PartitionOffsets {
  partition: number;
  count: number;
  /** Lowest and highest offset Kafka assigned to this request's records in the partition. */
  offsets: [number, number];
}

export interface DeliveryResult {
  topic: string;
  count: number;
  partitions: PartitionOffsets[];
}

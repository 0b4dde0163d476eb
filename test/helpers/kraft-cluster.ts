/**
 * Three local Kafka processes forming one KRaft cluster (each a combined broker+controller voter): the
 * production layout of docker/compose.yaml and seed 002, for the fault tests. Nodes can be crashed
 * (SIGKILL), stopped (SIGTERM) and restarted; partition leaders and in-sync replicas are read with kcat,
 * independently of the gateway's client.
 */
import { spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { AdminClient } from '../../src/kafka-client.js';
import { EmbeddedBroker } from '../../src/embedded-broker/broker.js';

export interface PartitionState {
  partition: number;
  /** Node id of the leader, -1 while there is none. */
  leader: number;
  replicas: number[];
  isr: number[];
}

// A failed test must not leave brokers running (they would hold the ports and load the machine).
const started = new Set<EmbeddedBroker>();
process.on('exit', () => {
  for (const b of started)
    if (b.pid !== undefined)
      try {
        process.kill(b.pid, 'SIGKILL');
      } catch {
        /* gone */
      }
});

export class KraftCluster {
  /** Node id → node; ids are 1, 2, 3. */
  private readonly nodes = new Map<number, EmbeddedBroker>();
  readonly bootstrapServers: string;

  /**
   * Client ports basePort, basePort + 2, basePort + 4 (each controller on the next port). The default sits
   * 20 above the test broker's port (SLUICE_TEST_KAFKA_PORT), so agents and CI with their own test port
   * get their own cluster ports.
   */
  constructor(
    basePort = Number(process.env.SLUICE_TEST_KAFKA_PORT ?? 19092) + 20,
    private readonly dataRoot = mkdtempSync(join(tmpdir(), 'sluice-kraft-')),
    private readonly log: (msg: string) => void = (m) => console.error(`[kraft-cluster] ${m}`),
  ) {
    const clusterId = randomBytes(16).toString('base64url');
    const voters = [1, 2, 3].map((nodeId) => ({ nodeId, port: basePort + 2 * (nodeId - 1) }));
    for (const { nodeId, port } of voters) {
      this.nodes.set(
        nodeId,
        new EmbeddedBroker({
          port,
          dataDir: join(dataRoot, `node-${nodeId}`),
          numPartitions: 6,
          heapMb: 512,
          startTimeoutMs: 120_000,
          log: (m) => log(`node ${nodeId}: ${m}`),
          quorum: { nodeId, voters, clusterId, replicationFactor: 3, minInsyncReplicas: 2 },
        }),
      );
    }
    this.bootstrapServers = voters.map((v) => `127.0.0.1:${v.port}`).join(',');
  }

  /**
   * Starts the given nodes (default: every node not running) together: a node only answers once a
   * majority of voters is up, so starting them one after another would wait forever.
   */
  async start(ids = [...this.nodes.keys()].filter((id) => this.node(id).pid === undefined)): Promise<void> {
    await Promise.all(
      ids.map(async (id) => {
        const node = this.node(id);
        started.add(node);
        await node.start();
      }),
    );
  }

  /** SIGKILL (a crash: no controlled shutdown, no flush) or SIGTERM (controlled shutdown) of one node. */
  async signal(id: number, signal: 'SIGKILL' | 'SIGTERM'): Promise<void> {
    const node = this.node(id);
    this.log(`${signal} node ${id} (pid ${node.pid})`);
    if (signal === 'SIGKILL') await node.kill('SIGKILL');
    else await node.stop(60_000);
  }

  async stop(): Promise<void> {
    await Promise.all([...this.nodes.values()].map((n) => n.stop()));
    rmSync(this.dataRoot, { recursive: true, force: true });
  }

  private node(id: number): EmbeddedBroker {
    const node = this.nodes.get(id);
    if (!node) throw new Error(`no node ${id} in the cluster (ids 1-3)`);
    return node;
  }

  /** Creates a topic the way docker/compose.yaml's topic-init job does. */
  async createTopic(topic: string, partitions = 6, replicationFactor = 3, minInsyncReplicas = 2): Promise<void> {
    const admin = AdminClient.create({ 'bootstrap.servers': this.bootstrapServers, log_level: 0 });
    try {
      await new Promise<void>((resolve, reject) =>
        admin.createTopic(
          {
            topic,
            num_partitions: partitions,
            replication_factor: replicationFactor,
            config: { 'min.insync.replicas': String(minInsyncReplicas) },
          },
          30_000,
          (err) => (err ? reject(err) : resolve()),
        ),
      );
    } finally {
      admin.disconnect();
    }
    await this.waitForReplicas(topic, 3);
  }

  /** Leader, replicas and in-sync replicas of every partition, from kcat's metadata listing. */
  partitions(topic: string): PartitionState[] {
    const r = spawnSync('kcat', ['-b', this.bootstrapServers, '-L', '-t', topic, '-J', '-m', '10'], { encoding: 'utf8', timeout: 30_000 });
    if (r.status !== 0) throw new Error(`kcat -L failed: ${r.stderr}`);
    const meta = JSON.parse(r.stdout) as {
      topics: { topic: string; partitions: { partition: number; leader: number; replicas: { id: number }[]; isrs: { id: number }[] }[] }[];
    };
    const t = meta.topics.find((x) => x.topic === topic);
    return (t?.partitions ?? [])
      .map((p) => ({
        partition: p.partition,
        leader: p.leader,
        replicas: p.replicas.map((x) => x.id),
        isr: p.isrs.map((x) => x.id),
      }))
      .sort((a, b) => a.partition - b.partition);
  }

  leaderOf(topic: string, partition: number): number {
    const p = this.partitions(topic).find((x) => x.partition === partition);
    if (!p) throw new Error(`no partition ${partition} in ${topic}`);
    return p.leader;
  }

  /** Waits until every partition of the topic has a leader and at least `isr` in-sync replicas. */
  async waitForReplicas(topic: string, isr: number, timeoutMs = 120_000): Promise<PartitionState[]> {
    const deadline = Date.now() + timeoutMs;
    while (true) {
      let parts: PartitionState[] = [];
      try {
        parts = this.partitions(topic);
      } catch (err) {
        if (Date.now() > deadline) throw err;
      }
      if (parts.length > 0 && parts.every((p) => p.leader > 0 && p.isr.length >= isr)) return parts;
      if (Date.now() > deadline)
        throw new Error(`${topic} did not reach ${isr} in-sync replicas per partition within ${timeoutMs} ms: ${JSON.stringify(parts)}`);
      await new Promise((r) => setTimeout(r, 500));
    }
  }
}

/**
 * A real Apache Kafka node (KRaft, combined broker+controller) run from the Maven jars on the machine's
 * Java: by default a single-node cluster (the default start, the tests, the benchmarks); with `quorum`,
 * one voter of a multi-node cluster (the fault tests). `start()` resolves only once the broker answers
 * metadata requests; `stop()` sends SIGTERM and waits for a clean exit; `kill()` simulates a crash.
 * Unless started `detached` (`npm run kafka:start`'s background service), the broker runs under watchdog.sh and
 * ends with the process that started it, even one killed with SIGKILL. Every start records the JVM in
 * `<dataDir>/broker.pid` (pid-file.ts).
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import { createServer } from 'node:net';
import type { Readable } from 'node:stream';
import { join, resolve } from 'node:path';
import { ensureKafkaJars, LOG4J_CONFIG } from './kafka-jars.js';
import { PROJECT_ROOT } from '../project-root.js';
import { StartupError } from '../errors.js';
import { waitForMetadata } from './metadata-probe.js';
import { isRunning, pidFilePath, processStartTime, removeBrokerRecord, runningBroker, writeBrokerRecord } from './pid-file.js';

const WATCHDOG = join(PROJECT_ROOT, 'src', 'embedded-broker', 'watchdog.sh');
/** How long watchdog.sh lets an orphaned broker shut down cleanly before SIGKILL; as long as stop() waits by default. */
const WATCHDOG_GRACE_S = 30;

export interface EmbeddedBrokerOptions {
  /** Client port; the controller listens on port + 1. */
  port: number;
  /** Storage folder; formatted on first use and reused afterwards. */
  dataDir: string;
  /** Kafka's own default is true; tests turn it off to check 404 on unknown topics. */
  autoCreateTopics?: boolean;
  /** Partitions of auto-created topics. */
  numPartitions?: number;
  heapMb?: number;
  startTimeoutMs?: number;
  log?: (msg: string) => void;
  /** Membership of a multi-node KRaft cluster. Default: a single node that is its own quorum. */
  quorum?: KraftQuorum;
  /**
   * Listeners beside the PLAINTEXT one (which stays the inter-broker listener and the one start-up probes),
   * e.g. `{ name: 'SECURE', port: 9094, protocol: 'SASL_SSL' }`. Their TLS/SASL settings go in `serverProperties`.
   */
  extraListeners?: readonly ExtraListener[];
  /** Appended to server.properties (after Sluice's own lines, so they may override them). */
  serverProperties?: Readonly<Record<string, string>>;
  /** Extra `kafka-storage format` arguments, e.g. `--add-scram 'SCRAM-SHA-512=[name=alice,password=…]'` pairs. */
  formatArgs?: readonly string[];
}

export interface ExtraListener {
  /** Listener name (upper case by Kafka convention); per-listener properties use `listener.name.<lower-case name>.`. */
  name: string;
  port: number;
  protocol: 'PLAINTEXT' | 'SSL' | 'SASL_PLAINTEXT' | 'SASL_SSL';
}

export interface KraftQuorum {
  nodeId: number;
  /** Every voter (this node included): node id and client port; each controller listens on port + 1. */
  voters: { nodeId: number; port: number }[];
  /** Shared by all nodes: storage is formatted with it. */
  clusterId: string;
  /** Replication factor of new topics and of Kafka's internal topics. */
  replicationFactor: number;
  minInsyncReplicas: number;
}

const SINGLE_NODE = { replicationFactor: 1, minInsyncReplicas: 1 };

export class EmbeddedBroker {
  readonly bootstrapServers: string;
  private readonly opts: Required<EmbeddedBrokerOptions>;
  /** watchdog.sh, or the JVM itself when detached. */
  private child: ChildProcess | undefined;
  private jvmPid: number | undefined;
  private stderrTail = '';

  constructor(options: EmbeddedBrokerOptions) {
    this.opts = {
      autoCreateTopics: true,
      numPartitions: 3,
      heapMb: 1024,
      startTimeoutMs: 90_000,
      log: () => {},
      quorum: { nodeId: 1, voters: [{ nodeId: 1, port: options.port }], clusterId: '', ...SINGLE_NODE },
      extraListeners: [],
      serverProperties: {},
      formatArgs: [],
      ...options,
      dataDir: resolve(PROJECT_ROOT, options.dataDir),
    };
    this.bootstrapServers = `127.0.0.1:${this.opts.port}`;
  }

  /** The JVM's pid (never watchdog.sh's): what to signal to stop or crash the broker. */
  get pid(): number | undefined {
    return this.jvmPid;
  }

  /**
   * `detached`: a background service for `npm run kafka:start`, in its own session and not tied to this process.
   * Otherwise the broker ends with this process, whatever ends it.
   */
  async start(detached = false): Promise<void> {
    const { port, dataDir, log } = this.opts;
    const libs = ensureKafkaJars(log);
    // Before the port check: a broker left on this folder holds the log directory's lock even when its ports differ.
    await this.clearLeftover();
    for (const p of [port, port + 1, ...this.opts.extraListeners.map((l) => l.port)]) {
      if (!(await portIsFree(p))) {
        throw new StartupError(
          `port ${p} on 127.0.0.1 is in use, and not by a broker recorded in ${pidFilePath(dataDir)}: is another Kafka running? ` +
            'Stop it, point KAFKA_BOOTSTRAP_SERVERS at it, or set SLUICE_EMBEDDED_KAFKA_PORT to a free port',
        );
      }
    }
    mkdirSync(dataDir, { recursive: true });
    const serverProps = join(dataDir, 'server.properties');
    writeFileSync(serverProps, this.serverProperties());
    const classpath = join(libs, '*');
    const jvm = [
      `-Xms256m`,
      `-Xmx${this.opts.heapMb}m`,
      '-XX:+UseG1GC',
      '-XX:MaxGCPauseMillis=20',
      '-Djava.awt.headless=true',
      `-Dlog4j2.configurationFile=${LOG4J_CONFIG}`,
      `-Dkafka.logs.dir=${dataDir}`,
      '-cp',
      classpath,
    ];

    if (!existsSync(join(dataDir, 'log', 'meta.properties'))) {
      // Kafka cluster ids are 16 random bytes in URL-safe base64 without padding; one may start with "-", so it goes as --cluster-id=….
      const clusterId = this.opts.quorum.clusterId || randomBytes(16).toString('base64url');
      log(`formatting KRaft storage in ${dataDir}`);
      const fmt = spawnSync(
        'java',
        [
          ...jvm,
          'kafka.tools.StorageTool',
          'format',
          `--cluster-id=${clusterId}`,
          '-c',
          serverProps,
          '--ignore-formatted',
          ...this.opts.formatArgs,
        ],
        { encoding: 'utf8' },
      );
      if (fmt.error) throw new Error(`cannot run java: ${fmt.error.message}`);
      if (fmt.status !== 0) throw new Error(`kafka-storage format failed (exit ${fmt.status}): ${fmt.stderr || fmt.stdout}`);
    }

    log(`starting Kafka broker on ${this.bootstrapServers}`);
    const command = [...jvm, 'kafka.Kafka', serverProps];
    // The watchdog's stdin is a pipe whose other end only this process holds: it closes when this process dies.
    const child = detached
      ? spawn('java', command, { stdio: ['ignore', 'ignore', 'pipe'], detached: true })
      : spawn('sh', [WATCHDOG, String(WATCHDOG_GRACE_S), 'java', ...command], { stdio: ['pipe', 'pipe', 'pipe'] });
    this.child = child;
    child.stderr!.setEncoding('utf8');
    child.stderr!.on('data', (chunk: string) => {
      this.stderrTail = (this.stderrTail + chunk).slice(-4000);
    });
    const exited = new Promise<never>((_, reject) => {
      child.once('error', (err) => reject(new Error(`cannot run ${detached ? 'java' : 'sh'}: ${err.message}`)));
      child.once('exit', (code, signal) =>
        reject(
          new Error(`Kafka broker exited during start-up (code ${code}, signal ${signal}).\n${this.stderrTail}\n${this.serverLogTail()}`),
        ),
      );
    });
    exited.catch(() => {});
    try {
      const pid = detached ? (child.pid ?? (await exited)) : await Promise.race([readPid(child.stdout!), exited]);
      this.jvmPid = pid;
      // Written before the broker is ready: a start that dies while waiting still leaves the JVM findable.
      const owner = detached ? undefined : { pid: process.pid, startTime: processStartTime(process.pid) ?? '' };
      writeBrokerRecord(dataDir, { pid, startTime: processStartTime(pid) ?? '', port, owner });
      await Promise.race([waitForMetadata(this.bootstrapServers, this.opts.startTimeoutMs), exited]);
    } catch (err) {
      await this.stop();
      throw err;
    }
    if (detached) {
      child.stderr!.destroy();
      child.unref();
    }
    log(`Kafka broker ready on ${this.bootstrapServers} (pid ${this.jvmPid})`);
  }

  /** SIGTERM, then SIGKILL if the broker has not exited after `timeoutMs`; removes the pid file. */
  async stop(timeoutMs = 30_000): Promise<void> {
    const { child, jvmPid } = this;
    this.child = this.jvmPid = undefined;
    if (!child || jvmPid === undefined) return;
    const childExit = exitOf(child);
    await stopProcess(jvmPid, timeoutMs);
    // Stuck in the kernel even after SIGKILL: the pid file stays, for the next start to find it.
    if (isRunning(jvmPid)) return;
    // watchdog.sh exits right after reaping the JVM, having stopped its watcher first (see there): waiting for it
    // means this process cannot exit, close the pipe and wake the watcher in between.
    await childExit;
    removeBrokerRecord(this.opts.dataDir, jvmPid);
  }

  /** Sends `signal` (SIGKILL: a crash) to the JVM without waiting for a clean exit; resolves once it is gone. Leaves the pid file, as a crash would. */
  async kill(signal: NodeJS.Signals = 'SIGKILL'): Promise<void> {
    const { child, jvmPid } = this;
    this.child = this.jvmPid = undefined;
    if (!child || jvmPid === undefined || child.exitCode !== null || child.signalCode !== null) return;
    const childExit = exitOf(child);
    sendSignal(jvmPid, signal);
    await childExit;
  }

  /**
   * A broker an earlier start left running on this data folder (its pid file, checked in /proc). One started by
   * `npm run kafka:start`, or whose owner still runs, is in use: refused. One whose owner is gone outlived it (the
   * owner predates the watchdog, or the watchdog was killed too, or — the race this guards — the owner was restarted
   * right after a crash while the watchdog still waits for the orphan to shut down): it is stopped and a fresh broker
   * started, rather than reused, so that the new broker is tied to its new owner.
   */
  private async clearLeftover(): Promise<void> {
    const { dataDir, log } = this.opts;
    const prev = runningBroker(dataDir);
    if (!prev) return;
    const where = `${dataDir} (pid ${prev.pid}, bootstrap.servers=127.0.0.1:${prev.port})`;
    if (!prev.owner) {
      throw new StartupError(
        `the Kafka broker started by "npm run kafka:start" is running on ${where}: stop it with "npm run kafka:stop" first, or point KAFKA_BOOTSTRAP_SERVERS at it`,
      );
    }
    if (isRunning(prev.owner.pid, prev.owner.startTime)) {
      throw new StartupError(
        `process ${prev.owner.pid} runs its embedded Kafka broker on ${where}: stop that process first, or give this one its own SLUICE_EMBEDDED_KAFKA_DIR and SLUICE_EMBEDDED_KAFKA_PORT`,
      );
    }
    log(`stopping the Kafka broker that process ${prev.owner.pid}, now gone, left running on ${where}`);
    await stopProcess(prev.pid, 30_000);
    if (isRunning(prev.pid, prev.startTime))
      throw new StartupError(`the Kafka broker left running on ${where} survived SIGKILL; stop it by hand`);
    removeBrokerRecord(dataDir, prev.pid);
  }

  private serverProperties(): string {
    const { port, dataDir, autoCreateTopics, numPartitions, quorum, extraListeners, serverProperties } = this.opts;
    const rf = quorum.replicationFactor;
    const minIsr = quorum.minInsyncReplicas;
    const listeners = extraListeners.map((l) => `,${l.name}://127.0.0.1:${l.port}`).join('');
    const protocols = extraListeners.map((l) => `,${l.name}:${l.protocol}`).join('');
    return [
      '# Written by Sluice for its embedded broker; regenerated on every start.',
      'process.roles=broker,controller',
      `node.id=${quorum.nodeId}`,
      `controller.quorum.voters=${quorum.voters.map((v) => `${v.nodeId}@127.0.0.1:${v.port + 1}`).join(',')}`,
      `listeners=PLAINTEXT://127.0.0.1:${port},CONTROLLER://127.0.0.1:${port + 1}${listeners}`,
      `advertised.listeners=PLAINTEXT://127.0.0.1:${port}${listeners}`,
      'controller.listener.names=CONTROLLER',
      'inter.broker.listener.name=PLAINTEXT',
      `listener.security.protocol.map=CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT${protocols}`,
      `log.dirs=${join(dataDir, 'log')}`,
      `num.partitions=${numPartitions}`,
      `auto.create.topics.enable=${autoCreateTopics}`,
      `default.replication.factor=${rf}`,
      `min.insync.replicas=${minIsr}`,
      `offsets.topic.replication.factor=${rf}`,
      `transaction.state.log.replication.factor=${rf}`,
      `transaction.state.log.min.isr=${minIsr}`,
      `share.coordinator.state.topic.replication.factor=${rf}`,
      `share.coordinator.state.topic.min.isr=${minIsr}`,
      'group.initial.rebalance.delay.ms=0',
      'num.network.threads=3',
      'num.io.threads=4',
      ...Object.entries(serverProperties).map(([k, v]) => `${k}=${v}`),
      '',
    ].join('\n');
  }

  private serverLogTail(): string {
    try {
      return readFileSync(join(this.opts.dataDir, 'server.log'), 'utf8').split('\n').slice(-30).join('\n');
    } catch {
      return '';
    }
  }
}

/** SIGTERM; SIGKILL if `pid` still runs after `timeoutMs`; resolves once it is gone (or, stuck in the kernel, 10 s after SIGKILL). */
export async function stopProcess(pid: number, timeoutMs: number): Promise<void> {
  if (!sendSignal(pid, 'SIGTERM') || (await gone(pid, timeoutMs))) return;
  sendSignal(pid, 'SIGKILL');
  await gone(pid, 10_000);
}

function sendSignal(pid: number, sig: NodeJS.Signals): boolean {
  try {
    process.kill(pid, sig);
    return true;
  } catch {
    return false;
  }
}

async function gone(pid: number, timeoutMs: number): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  while (isRunning(pid)) {
    if (Date.now() > deadline) return false;
    await new Promise((r) => setTimeout(r, 100));
  }
  return true;
}

const exitOf = (child: ChildProcess) =>
  new Promise<void>((res) => {
    if (child.exitCode !== null || child.signalCode !== null) res();
    else child.once('exit', () => res());
  });

/** watchdog.sh's one line on stdout: the JVM's pid. */
function readPid(stdout: Readable): Promise<number> {
  return new Promise((resolve, reject) => {
    let text = '';
    stdout.setEncoding('utf8');
    stdout.on('data', (chunk: string) => {
      text += chunk;
      if (!text.includes('\n')) return;
      const pid = Number(text.slice(0, text.indexOf('\n')));
      if (Number.isInteger(pid) && pid > 0) resolve(pid);
      else reject(new Error(`watchdog.sh reported ${JSON.stringify(text)} instead of the JVM's pid`));
    });
    stdout.once('end', () => reject(new Error(`watchdog.sh reported no JVM pid (stdout: ${JSON.stringify(text)})`)));
  });
}

function portIsFree(port: number): Promise<boolean> {
  return new Promise((res) => {
    const srv = createServer();
    srv.once('error', () => res(false));
    srv.listen(port, '127.0.0.1', () => srv.close(() => res(true)));
  });
}

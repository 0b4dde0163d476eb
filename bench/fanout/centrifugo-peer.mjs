// Centrifugo (github.com/centrifugal/centrifugo/v6) as a peer in the fan-out bench: built once from the Go
// module proxy with `go install` into bench/.peers/bin (git-ignored, cached), started per scenario with a
// config that consumes the scenario's topic from the bench's broker in publication-data mode (a record's
// value is published as is into the channels named by its `centrifugo-channels` Kafka header, which Sluice
// writes from the poster's `X-Kafka-Header-Centrifugo-Channels` request header), and subscribed to by the
// same swarm speaking Centrifugo's JSON client protocol (bench/fanout/subscriber-swarm.mjs).
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, writeFileSync, rmSync, mkdtempSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
export const CENTRIFUGO_MODULE = 'github.com/centrifugal/centrifugo/v6@v6.9.1';
const BIN_DIR = join(ROOT, 'bench', '.peers', 'bin');
const BIN = join(BIN_DIR, 'centrifugo');
/** The channel every record goes to, and the Kafka header that names it. */
export const CENTRIFUGO_CHANNEL = 'bench';
export const CENTRIFUGO_HEADERS = { 'x-kafka-header-centrifugo-channels': CENTRIFUGO_CHANNEL };

/**
 * The Centrifugo binary, built if missing (about 3 minutes the first time; needs Go and the module proxy).
 * Resolves with its path, or with `{ skip: reason }` when it cannot be had.
 */
export function ensureCentrifugo(log = () => {}) {
  if (existsSync(BIN)) return { bin: BIN };
  const go = spawnSync('go', ['version'], { encoding: 'utf8' });
  if (go.error || go.status !== 0)
    return { skip: `Go is not installed (needed to build ${CENTRIFUGO_MODULE}): the Centrifugo rows are skipped` };
  mkdirSync(BIN_DIR, { recursive: true });
  log(`building ${CENTRIFUGO_MODULE} with ${go.stdout.trim()} into bench/.peers/bin (a few minutes, once)`);
  const built = spawnSync('go', ['install', CENTRIFUGO_MODULE], {
    env: { ...process.env, GOBIN: BIN_DIR },
    encoding: 'utf8',
    stdio: ['ignore', 'inherit', 'pipe'],
  });
  if (built.status !== 0 || !existsSync(BIN))
    return {
      skip: `go install ${CENTRIFUGO_MODULE} failed (${built.status}): ${(built.stderr ?? '').trim().split('\n').slice(-3).join(' | ')}: the Centrifugo rows are skipped`,
    };
  return { bin: BIN };
}

function freePort() {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address();
      srv.close(() => resolve(port));
    });
  });
}

/**
 * Starts Centrifugo consuming `topic`: an anonymous, insecure client config (bench only), no history, usage
 * statistics off (nothing leaves the machine), Kafka consumer defaults otherwise. Resolves once its
 * WebSocket endpoint answers. `cmdWrap` lets the caller raise the open-file limit.
 */
export async function startCentrifugo({ bin, bootstrap, topic, cmdWrap = (c) => c }) {
  const port = await freePort();
  const dir = mkdtempSync(join(tmpdir(), 'sluice-bench-centrifugo-'));
  const config = {
    http_server: { address: '127.0.0.1', port },
    log: { level: 'info' },
    client: { insecure: true },
    usage_stats: { disabled: true },
    consumers: [
      {
        name: 'bench',
        enabled: true,
        type: 'kafka',
        kafka: {
          brokers: [bootstrap],
          topics: [topic],
          consumer_group: `centrifugo-${topic}`,
          publication_data_mode: { enabled: true, channels_header: 'centrifugo-channels' },
        },
      },
    ],
  };
  const configPath = join(dir, 'config.json');
  writeFileSync(configPath, JSON.stringify(config, null, 2));
  const [cmd, ...argv] = cmdWrap([bin, '--config', configPath]);
  const child = spawn(cmd, argv, { cwd: dir, stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  child.stdout.on('data', (c) => {
    out += c;
  });
  child.stderr.on('data', (c) => {
    out += c;
  });
  const exited = new Promise((r) => child.once('exit', r));
  const deadline = Date.now() + 30_000;
  for (;;) {
    if (child.exitCode !== null) throw new Error(`centrifugo exited (${child.exitCode}) before listening:\n${out}`);
    try {
      await fetch(`http://127.0.0.1:${port}/connection/websocket`);
      break; // any answer: it is listening
    } catch {
      if (Date.now() > deadline) throw new Error(`centrifugo did not listen within 30 s:\n${out}`);
      await new Promise((r) => setTimeout(r, 100));
    }
  }
  return {
    child,
    port,
    exited,
    output: () => out,
    path: '/connection/websocket',
    stop: async () => {
      if (child.exitCode === null) child.kill('SIGTERM');
      const t = setTimeout(() => child.kill('SIGKILL'), 15_000);
      await exited;
      clearTimeout(t);
      // SLUICE_BENCH_PEER_LOG=<file>: keep Centrifugo's log of the run (its warnings explain a slow row).
      if (process.env.SLUICE_BENCH_PEER_LOG) writeFileSync(process.env.SLUICE_BENCH_PEER_LOG, out, { flag: 'a' });
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

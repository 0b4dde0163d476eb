/**
 * The embedded broker is never leaked: it ends with the gateway that started it, even one killed with SIGKILL
 * (watchdog.sh); a broker an earlier run left on the data folder is recognised by `<dataDir>/broker.pid` and
 * stopped on the next start; `npm run kafka:start`'s background broker is left alone and `npm run kafka:stop` stops
 * a broker recorded by either start. Ports 25000–25999 (client port and controller port), data in temp folders.
 */
import { execFile, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, expect, it } from 'vitest';
import { EmbeddedBroker } from '../src/embedded-broker/broker.js';
import { isRunning, pidFilePath, type BrokerRecord } from '../src/embedded-broker/pid-file.js';
import { freePortPair as freePortPairFrom, portFree } from './helpers/free-port.js';
import { readTopic } from './helpers/kafka-read.js';
import { postJson, randomTopic, ROOT, runSluiceExpectingExit, sluiceEnv, startSluice } from './helpers/sluice-process.js';

const freePortPair = () => freePortPairFrom(25000, 500);

const dirs: string[] = [];
const tempDir = () => {
  const dir = mkdtempSync(join(tmpdir(), 'sluice-orphan-'));
  dirs.push(dir);
  return dir;
};

const record = (dir: string) => JSON.parse(readFileSync(pidFilePath(dir), 'utf8')) as BrokerRecord;

/** Parent pid, from /proc/<pid>/stat (field 4). */
const parentOf = (pid: number) => {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  return Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
};

// Brokers the tests start outside a gateway, or that a failed assertion could leave: killed after the file.
const brokers: BrokerRecord[] = [];
afterAll(() => {
  for (const b of brokers) if (isRunning(b.pid, b.startTime)) process.kill(b.pid, 'SIGKILL');
  for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
});

async function waitUntil(what: string, probe: () => boolean | Promise<boolean>, timeoutMs = 60_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await probe())) {
    if (Date.now() > deadline) throw new Error(`${what}: not within ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, 200));
  }
}

/** `node dist/embedded-broker/cli.js <command>` (= npm run kafka:<command>) on the given port and data folder. */
function kafkaCli(command: 'start' | 'stop', port: number, dir: string): Promise<{ code: number; output: string }> {
  const env = sluiceEnv({ SLUICE_EMBEDDED_KAFKA_PORT: String(port), SLUICE_EMBEDDED_KAFKA_DIR: dir });
  return new Promise((resolve) => {
    execFile(
      process.execPath,
      [join(ROOT, 'dist', 'embedded-broker', 'cli.js'), command],
      { cwd: ROOT, env, timeout: 150_000 },
      (err, stdout, stderr) => {
        resolve({ code: err ? Number((err as { code?: unknown }).code ?? -1) : 0, output: stdout + stderr });
      },
    );
  });
}

const gatewayEnv = (port: number, dir: string) => ({ SLUICE_EMBEDDED_KAFKA_PORT: String(port), SLUICE_EMBEDDED_KAFKA_DIR: dir });

it('a gateway killed with SIGKILL takes its broker along; the next start on the same folder serves, and the record posted before is still there', async () => {
  const port = await freePortPair();
  const dir = tempDir();
  const topic = randomTopic('orphan');
  const first = await startSluice(gatewayEnv(port, dir), 120_000);
  const jvm = record(dir);
  brokers.push(jvm);
  expect(jvm.owner?.pid).toBe(first.proc.pid);
  const watchdog = parentOf(jvm.pid);
  expect(watchdog).not.toBe(first.proc.pid);
  expect((await postJson(`${first.url}/topics/${topic}`, '{"n":1}')).status).toBe(200);

  await first.stop('SIGKILL');
  // The watchdog sees its pipe close, SIGTERMs the JVM (SIGKILL after its grace period) and exits once it is gone.
  await waitUntil('the orphaned JVM ends', () => !isRunning(jvm.pid, jvm.startTime), 90_000);
  await waitUntil('the watchdog ends', () => !isRunning(watchdog), 10_000);

  const second = await startSluice(gatewayEnv(port, dir), 120_000);
  expect(record(dir).owner?.pid).toBe(second.proc.pid);
  expect((await postJson(`${second.url}/topics/${topic}`, '{"n":2}')).status).toBe(200);
  const values = (await readTopic(`127.0.0.1:${port}`, topic, 2)).map((r) => r.value).sort();
  expect(values).toEqual(['{"n":1}', '{"n":2}']);

  const next = record(dir);
  brokers.push(next);
  expect(await second.stop('SIGTERM')).toBe(0);
  // A clean stop takes the broker down and its pid file with it.
  expect(isRunning(next.pid, next.startTime)).toBe(false);
  expect(existsSync(pidFilePath(dir))).toBe(false);
  expect(await portFree(port)).toBe(true);
});

it("a broker left running by a gateway that is gone is stopped on the next start; a second gateway on the folder is refused; kafka:stop finds the gateway's broker", async () => {
  const port = await freePortPair();
  const dir = tempDir();
  // A leftover as the watchdog would not have let one happen (its owner predates it, or it was killed as well):
  // a live broker on this folder whose pid file names an owner that has exited.
  const leftover = new EmbeddedBroker({ port, dataDir: dir });
  await leftover.start(true);
  const old = record(dir);
  brokers.push(old);
  const exited = spawnSync('true');
  writeFileSync(pidFilePath(dir), JSON.stringify({ ...old, owner: { pid: exited.pid, startTime: '1' } }));

  const sluice = await startSluice(gatewayEnv(port, dir), 150_000);
  try {
    expect(sluice.output()).toContain(
      `stopping the Kafka broker that process ${exited.pid}, now gone, left running on ${dir} (pid ${old.pid}`,
    );
    expect(isRunning(old.pid, old.startTime)).toBe(false);
    const fresh = record(dir);
    brokers.push(fresh);
    expect(fresh.pid).not.toBe(old.pid);
    expect(fresh.owner?.pid).toBe(sluice.proc.pid);
    expect((await postJson(`${sluice.url}/topics/${randomTopic('leftover')}`, '{"n":1}')).status).toBe(200);

    // Its owner runs: the broker is in use, not a leftover.
    const twin = await runSluiceExpectingExit(gatewayEnv(port, dir));
    expect(twin.code).toBe(1);
    expect(twin.output).toContain(`process ${sluice.proc.pid} runs its embedded Kafka broker on ${dir} (pid ${fresh.pid}`);
    expect(isRunning(fresh.pid, fresh.startTime)).toBe(true);

    const stopped = await kafkaCli('stop', port, dir);
    expect(stopped.code, stopped.output).toBe(0);
    expect(stopped.output).toContain(`Kafka broker (pid ${fresh.pid}, the embedded broker of process ${sluice.proc.pid}) stopped`);
    expect(isRunning(fresh.pid, fresh.startTime)).toBe(false);
    expect(existsSync(pidFilePath(dir))).toBe(false);
  } finally {
    await sluice.stop('SIGKILL');
  }
});

it("kafka:start's broker outlives the command; a gateway on its folder refuses and names kafka:stop, which stops it", async () => {
  const port = await freePortPair();
  const dir = tempDir();
  const started = await kafkaCli('start', port, dir);
  expect(started.code, started.output).toBe(0);
  const service = record(dir);
  brokers.push(service);
  expect(service.owner).toBeUndefined();
  // The command has exited; its broker has not.
  expect(isRunning(service.pid, service.startTime)).toBe(true);
  expect(await portFree(port)).toBe(false);

  const refused = await runSluiceExpectingExit(gatewayEnv(port, dir));
  expect(refused.code).toBe(1);
  expect(refused.output).toContain(
    `the Kafka broker started by "npm run kafka:start" is running on ${dir} (pid ${service.pid}, bootstrap.servers=127.0.0.1:${port}): stop it with "npm run kafka:stop" first`,
  );
  expect(isRunning(service.pid, service.startTime)).toBe(true);
  const again = await kafkaCli('start', port, dir);
  expect(again.code).toBe(1);
  expect(again.output).toContain('npm run kafka:stop');

  const stopped = await kafkaCli('stop', port, dir);
  expect(stopped.code, stopped.output).toBe(0);
  expect(stopped.output).toContain(`Kafka broker (pid ${service.pid}, started by "npm run kafka:start") stopped`);
  expect(isRunning(service.pid, service.startTime)).toBe(false);
  expect(existsSync(pidFilePath(dir))).toBe(false);
  expect((await kafkaCli('stop', port, dir)).output).toContain(`no Kafka broker recorded in ${pidFilePath(dir)} is running`);
});

it("kill() crashes the JVM itself, not just its watchdog (the fault tests rely on it); the crash's stale pid file does not stop a restart", async () => {
  const port = await freePortPair();
  const dir = tempDir();
  const broker = new EmbeddedBroker({ port, dataDir: dir });
  await broker.start();
  const crashed = record(dir);
  brokers.push(crashed);
  expect(crashed.pid).toBe(broker.pid);
  const watchdog = parentOf(crashed.pid);
  await broker.kill('SIGKILL');
  expect(isRunning(crashed.pid, crashed.startTime)).toBe(false);
  expect(isRunning(watchdog)).toBe(false);
  expect(record(dir).pid).toBe(crashed.pid);

  await broker.start();
  const restarted = record(dir);
  brokers.push(restarted);
  expect(restarted.pid).not.toBe(crashed.pid);
  await broker.stop();
  expect(isRunning(restarted.pid, restarted.startTime)).toBe(false);
  expect(existsSync(pidFilePath(dir))).toBe(false);
});

it("a port held by something that is not this folder's broker is refused with the cause and what to do", async () => {
  const port = await freePortPair();
  const squatter: Server = await new Promise((resolve) => {
    const srv = createServer().listen(port, '127.0.0.1', () => resolve(srv));
  });
  try {
    const refused = await runSluiceExpectingExit(gatewayEnv(port, tempDir()));
    expect(refused.code).toBe(1);
    expect(refused.output).toContain(`sluice: start-up failed: port ${port} on 127.0.0.1 is in use, and not by a broker recorded in`);
    expect(refused.output).toContain('point KAFKA_BOOTSTRAP_SERVERS at it, or set SLUICE_EMBEDDED_KAFKA_PORT to a free port');
  } finally {
    await new Promise((resolve) => squatter.close(resolve));
  }
});

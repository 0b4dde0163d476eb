// Processes under test: start a server in a fresh process and learn its port, stop it, and sample the
// CPU and RSS of a process tree from /proc (bench/run.mjs and the fan-out scenarios share these), and
// pin processes to CPUs with taskset.
import { execFileSync, spawn } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

const ROOT = fileURLToPath(new URL('../', import.meta.url));

/**
 * `spec.cpus` (a taskset CPU list such as "1" or "2-3") starts the server pinned: taskset execs the
 * command, so the child's pid is the server's own.
 */
export function startServer(spec, bootstrap) {
  const env = { ...process.env, ...spec.env, PORT: '0', HOST: '127.0.0.1', KAFKA_BOOTSTRAP_SERVERS: bootstrap };
  if (spec.sluice) Object.assign(env, { SLUICE_PORT: '0', SLUICE_HOST: '127.0.0.1' });
  for (const k of Object.keys(env))
    if (k.startsWith('SLUICE_') && !(k in spec.env) && !['SLUICE_PORT', 'SLUICE_HOST'].includes(k)) delete env[k];
  const cmd = spec.cpus ? ['taskset', '-c', spec.cpus, ...spec.cmd] : spec.cmd;
  const child = spawn(cmd[0], cmd.slice(1), { cwd: ROOT, env, stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  const exited = new Promise((resolve) => child.once('exit', (code) => resolve(code)));
  const port = new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`server did not start: ${out}`)), 60_000);
    const onData = (c) => {
      out += c.toString();
      const m = /"port":(\d+)[^\n]*"msg":"(?:sluice )?listening"|"msg":"listening","port":(\d+)/.exec(out);
      if (m) {
        clearTimeout(timer);
        resolve(Number(m[1] ?? m[2]));
      }
    };
    child.stdout.on('data', onData);
    child.stderr.on('data', (c) => {
      out += c.toString();
    });
    exited.then((code) => reject(new Error(`server exited (${code}) before listening:\n${out}`)));
  });
  return { child, port, exited, output: () => out };
}

export async function stopServer(server) {
  if (server.child.exitCode === null) server.child.kill('SIGTERM');
  const timeout = new Promise((r) => setTimeout(() => r('timeout'), 45_000));
  if ((await Promise.race([server.exited, timeout])) === 'timeout') server.child.kill('SIGKILL');
}

/**
 * CPU seconds, RSS, and seconds spent runnable but waiting for a CPU (the run-queue delay of all its
 * threads, from /proc/<pid>/task/<tid>/schedstat: on a shared 2-core machine this is where latency goes
 * when the cores are busy) of a process and its children, from /proc.
 */
export function procTree(pid) {
  const pids = [pid];
  try {
    for (const p of readFileSync(`/proc/${pid}/task/${pid}/children`, 'utf8').trim().split(/\s+/).filter(Boolean)) pids.push(Number(p));
  } catch {
    /* gone */
  }
  let cpu = 0;
  let rss = 0;
  let wait = 0;
  for (const p of pids) {
    try {
      const stat = readFileSync(`/proc/${p}/stat`, 'utf8');
      const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      cpu += (Number(fields[11]) + Number(fields[12])) / 100; // utime + stime in clock ticks (100/s)
      rss += Number(/VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${p}/status`, 'utf8'))?.[1] ?? 0) / 1024;
      for (const tid of readdirSync(`/proc/${p}/task`)) {
        try {
          wait += Number(readFileSync(`/proc/${p}/task/${tid}/schedstat`, 'utf8').split(' ')[1]) / 1e9;
        } catch {
          /* thread gone */
        }
      }
    } catch {
      /* gone */
    }
  }
  return { cpu, rss, wait };
}

/**
 * CPU seconds of each live thread of a process (utime + stime of /proc/<pid>/task/<tid>/stat), keyed by
 * tid, with the thread's name (librdkafka names its threads rdk:main, rdk:broker<id>, rdk:bg; Node leaves
 * its own threads, workers included, as "node").
 */
export function threadTimes(pid) {
  const out = new Map();
  let tids = [];
  try {
    tids = readdirSync(`/proc/${pid}/task`);
  } catch {
    /* gone */
  }
  for (const tid of tids) {
    try {
      const stat = readFileSync(`/proc/${pid}/task/${tid}/stat`, 'utf8');
      const comm = stat.slice(stat.indexOf('(') + 1, stat.lastIndexOf(')'));
      const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      out.set(Number(tid), { comm, cpu: (Number(fields[11]) + Number(fields[12])) / 100 });
    } catch {
      /* ended meanwhile */
    }
  }
  return out;
}

/**
 * Where a process's CPU went between two threadTimes() readings: its main thread, the threads named in
 * `workerTids` (ingress worker threads), librdkafka's threads, and everything else (V8's GC and compiler
 * threads, libuv's pool, decode-pool workers, threads that ended). `total` is the process's own counter
 * (which keeps the time of ended threads), so the parts add up to it.
 */
export function threadShares(pid, before, after, total, workerTids = []) {
  const delta = (tid) => (after.get(tid)?.cpu ?? 0) - (before.get(tid)?.cpu ?? 0);
  let main = 0;
  let workers = 0;
  let rdkafka = 0;
  for (const [tid, t] of after) {
    if (tid === pid) main += delta(tid);
    else if (workerTids.includes(tid)) workers += delta(tid);
    else if (t.comm.startsWith('rdk:')) rdkafka += delta(tid);
  }
  return { main, workers, rdkafka, other: Math.max(0, total - main - workers - rdkafka) };
}

/**
 * CPUs for each side when pinning: the gateway (or peer, or producer ceiling) gets the upper half of the
 * CPUs this process may use, the broker and the load generator the rest (split between them from 4 CPUs
 * up; on 2 CPUs they share one). The gateway then never competes with the load generator for a core, so
 * its CPU per request is measured on a core of its own; the broker's and the load generator's CPU is not
 * counted.
 */
export function cpuLayout() {
  const allowed = execFileSync('taskset', ['-c', '-p', String(process.pid)], { encoding: 'utf8' })
    .split(':')
    .pop()
    .trim();
  const list = allowed.split(',').flatMap((r) => {
    const [a, b] = r.split('-').map(Number);
    return Array.from({ length: (b ?? a) - a + 1 }, (_, i) => a + i);
  });
  if (list.length < 2) return null;
  const g = Math.ceil(list.length / 2);
  const rest = list.slice(0, list.length - g);
  const half = Math.ceil(rest.length / 2);
  const fmtList = (l) => l.join(',');
  return {
    all: allowed,
    gateway: fmtList(list.slice(list.length - g)),
    broker: fmtList(rest.length >= 2 ? rest.slice(0, half) : rest),
    load: fmtList(rest.length >= 2 ? rest.slice(half) : rest),
  };
}
/** Pins every thread of a running process (new threads inherit it) to a taskset CPU list. */
export function pin(pid, cpus) {
  execFileSync('taskset', ['-a', '-p', '-c', cpus, String(pid)], { stdio: 'ignore' });
}

/**
 * CPU % and peak RSS of a process tree while it runs (sampled, so short-lived processes are covered),
 * and `cpuSeconds`, `seconds`: CPU time used and wall time over the window.
 */
export function sampler(pid) {
  const start = procTree(pid);
  const t0 = Date.now();
  let peakRss = start.rss;
  let lastCpu = start.cpu;
  let lastWait = start.wait;
  let lastAt = t0;
  const sample = () => {
    const now = procTree(pid);
    if (now.cpu > 0) {
      lastCpu = Math.max(lastCpu, now.cpu);
      lastWait = Math.max(lastWait, now.wait);
      lastAt = Date.now();
    }
    peakRss = Math.max(peakRss, now.rss);
  };
  const timer = setInterval(sample, 200);
  return () => {
    clearInterval(timer);
    sample();
    const seconds = Math.max(1, lastAt - t0) / 1000;
    return {
      cpuPct: ((lastCpu - start.cpu) / seconds) * 100,
      rssMB: peakRss,
      cpuSeconds: lastCpu - start.cpu,
      seconds,
      waitPct: ((lastWait - start.wait) / seconds) * 100,
    };
  };
}

/** Busy and total CPU ticks of the whole machine (/proc/stat's first line; idle and iowait count as idle). */
function machineTicks() {
  const f = readFileSync('/proc/stat', 'utf8').split('\n')[0].trim().split(/\s+/).slice(1).map(Number);
  const total = f.reduce((a, x) => a + x, 0);
  return { busy: total - f[3] - (f[4] ?? 0), total };
}

/**
 * How busy the whole machine was over a window, as % of one core (200 = both cores of a 2-core machine
 * busy): on a shared machine, the part the scenario's own processes do not account for is everyone else's.
 */
export function machineSampler() {
  const start = machineTicks();
  const t0 = Date.now();
  return () => {
    const end = machineTicks();
    const seconds = Math.max(1, Date.now() - t0) / 1000;
    return { busyPct: ((end.busy - start.busy) / 100 / seconds) * 100 };
  };
}

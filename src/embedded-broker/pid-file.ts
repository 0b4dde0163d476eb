/**
 * `<dataDir>/broker.pid`: which embedded broker runs on a data folder, written by every start (the gateway's and
 * `npm run kafka:start`'s) and removed by a clean stop. A later start or `npm run kafka:stop` trusts it only after
 * checking, in /proc, that the pid is still that Kafka: same start time (a pid is reused once its process is gone)
 * and a command line running `kafka.Kafka` on this folder's server.properties. Without /proc (not Linux) nothing
 * is ever recognised, and a busy port is simply refused.
 */
import { readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

export interface BrokerRecord {
  /** The JVM. */
  pid: number;
  /** Field 22 of /proc/<pid>/stat (clock ticks since boot): tells this process from a later one with its pid. */
  startTime: string;
  port: number;
  /** The process the broker ends with (see watchdog.sh); absent for `npm run kafka:start`'s background broker. */
  owner?: { pid: number; startTime: string };
}

export const pidFilePath = (dataDir: string) => join(dataDir, 'broker.pid');

export function writeBrokerRecord(dataDir: string, record: BrokerRecord): void {
  // Through a rename: a start or kafka:stop reading at the same moment sees the old file or the new one, never half.
  const tmp = `${pidFilePath(dataDir)}.${process.pid}.tmp`;
  writeFileSync(tmp, JSON.stringify(record) + '\n');
  renameSync(tmp, pidFilePath(dataDir));
}

/** Removes the record if it still names `pid` (a newer start may have replaced it). */
export function removeBrokerRecord(dataDir: string, pid: number): void {
  if (readRecord(dataDir)?.pid === pid) rmSync(pidFilePath(dataDir), { force: true });
}

/** The recorded broker if it is still running on this data folder; a stale record is removed. */
export function runningBroker(dataDir: string): BrokerRecord | undefined {
  const record = readRecord(dataDir);
  if (!record) return undefined;
  const cmdline = readProc(record.pid, 'cmdline')?.split('\0') ?? [];
  if (isRunning(record.pid, record.startTime) && cmdline.includes('kafka.Kafka') && cmdline.includes(join(dataDir, 'server.properties'))) {
    return record;
  }
  rmSync(pidFilePath(dataDir), { force: true });
  return undefined;
}

/** Whether `pid` is a live process (a zombie is not: it holds no port, and only its parent can reap it), and the same one when `startTime` is given. */
export function isRunning(pid: number, startTime?: string): boolean {
  try {
    process.kill(pid, 0);
  } catch (err) {
    // EPERM: it exists, under another user.
    if ((err as NodeJS.ErrnoException).code !== 'EPERM') return false;
  }
  const stat = procStat(pid);
  if (!stat) return startTime === undefined;
  return stat.state !== 'Z' && (startTime === undefined || stat.startTime === startTime);
}

export function processStartTime(pid: number): string | undefined {
  return procStat(pid)?.startTime;
}

function procStat(pid: number): { state: string; startTime: string } | undefined {
  const stat = readProc(pid, 'stat');
  if (!stat) return undefined;
  // The command name (field 2) is in parentheses and may hold spaces; the fields after it are plain.
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return { state: fields[0], startTime: fields[19] };
}

function readProc(pid: number, file: string): string | undefined {
  try {
    return readFileSync(`/proc/${pid}/${file}`, 'utf8');
  } catch {
    return undefined;
  }
}

function readRecord(dataDir: string): BrokerRecord | undefined {
  try {
    const r = JSON.parse(readFileSync(pidFilePath(dataDir), 'utf8')) as BrokerRecord;
    return Number.isInteger(r.pid) && r.pid > 0 && typeof r.startTime === 'string' ? r : undefined;
  } catch {
    return undefined;
  }
}

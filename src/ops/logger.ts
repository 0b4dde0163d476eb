/** pino, JSON lines on stdout. One logger for the process; modules take child loggers. */
import { pino, type Logger } from 'pino';

export function createLogger(level: string): Logger {
  return pino({ level, base: { service: 'sluice' }, timestamp: pino.stdTimeFunctions.isoTime });
}

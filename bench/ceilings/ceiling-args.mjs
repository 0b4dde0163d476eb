// Command line shared by the producer ceilings: --topic T [--records N] [--record-size BYTES] [--bootstrap HOST:PORT].
import { parseArgs } from 'node:util';

export function parseCeilingArgs(script, extraOptions = {}, extraUsage = '') {
  const { values: args } = parseArgs({
    options: {
      bootstrap: { type: 'string', default: process.env.KAFKA_BOOTSTRAP_SERVERS ?? '127.0.0.1:9092' },
      topic: { type: 'string' },
      records: { type: 'string', default: '500000' },
      'record-size': { type: 'string', default: '200' },
      ...extraOptions,
    },
  });
  if (!args.topic) {
    console.error(`usage: ${script} --topic T [--records N] [--record-size BYTES] [--bootstrap HOST:PORT]${extraUsage}`);
    process.exit(2);
  }
  const positiveInt = (name) => {
    const n = Number(args[name]);
    if (!Number.isInteger(n) || n <= 0) {
      console.error(`--${name} must be a positive integer, got ${args[name]}`);
      process.exit(2);
    }
    return n;
  };
  return { ...args, records: positiveInt('records'), recordSize: positiveInt('record-size') };
}

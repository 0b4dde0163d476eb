// CPU per record of the main thread's live fan-out (LiveBatchPublisher.publish, in-process, no sockets):
// D subscribers each on its own key (`key=dev-K`), batches of records keyed by random devices, each frame
// published to a counting hub. Prints CPU µs per record and per delivered frame.
//   node bench/fanout/router-cost.mjs [D=500] [records=200000] [batch=8] [dist=./dist]
// Compare D=500 with D=5000 (the goal: ≤ 1.3×); point dist at another build to compare versions.
import { pathToFileURL } from 'node:url';
import path from 'node:path';

const D = Number(process.argv[2] ?? 500);
const N = Number(process.argv[3] ?? 200_000);
const BATCH = Number(process.argv[4] ?? 8);
const dist = path.resolve(process.argv[5] ?? './dist');
const load = (p) => import(pathToFileURL(path.join(dist, p)).href);
let LiveTopics = null;
let LiveBatchPublisher = null;
try {
  ({ LiveTopics } = await load('consumer/live-topics.js'));
  ({ LiveBatchPublisher } = await load('consumer/live-batch-publisher.js'));
} catch {
  // a build from before the registry was split: its own onLiveBatch, channels and topic states
}
const { SubscriptionRegistry } = LiveTopics ? {} : await load('consumer/subscription-registry.js');
const { PositionVector } = await load('subscription/resume-token.js');
let TopicChannels = null;
try {
  ({ TopicChannels } = await load('consumer/channels.js'));
} catch {
  // a build from before the split: channels in a plain Map
}
let ResumeWindow = null;
try {
  ({ ResumeWindow } = await load('consumer/resume-window.js'));
} catch {
  // a build from before the resume window
}
const pino = (await import('pino')).default;

const PARTITIONS = 6;
let frames = 0;
const hub = {
  index: 0,
  port: {
    publish: (_c, f) => void (frames += f.length),
    publishValues() {},
    join() {},
    ready() {},
    subscribed() {},
    failed() {},
    deliver() {},
  },
};
const start = new Array(PARTITIONS).fill(0);
const log = pino({ level: 'silent' });
/** The topic's state as the live feed's start makes it, the channel of a request, and one live batch: per build. */
let state;
let channelOf;
let joinChannel;
let liveBatch;
if (LiveTopics) {
  const topics = new LiveTopics({});
  const publisher = new LiveBatchPublisher(topics, log, () => {});
  topics.started('t', start);
  state = topics.get('t');
  channelOf = (req) => topics.channelFor(req, state, null);
  joinChannel = (s, channel) => topics.joinChannel(s, channel);
  liveBatch = (b) => publisher.publish('t', b);
} else {
  const reg = new SubscriptionRegistry({
    topics: { ensure: () => ({ partitions: PARTITIONS }) },
    newReader: () => {
      throw new Error('no Kafka in this bench');
    },
    log,
    config: {
      metadataTimeoutMs: 1000,
      maxLiveTopics: 4,
      fanoutLingerMs: 0,
      maxReplays: 4,
      replayBufferBytes: 1 << 20,
      maxGroups: 1,
      groupIdPrefix: 'b-',
    },
  });
  // As the consumer pool's `started` makes it (with the resume window's default limits when the build has one).
  state = {
    position: new PositionVector(start.slice()),
    channels: TopicChannels ? new TopicChannels() : new Map(),
    ...(ResumeWindow ? { window: new ResumeWindow(start, reg.windowLimits) } : {}),
  };
  reg.topicStates.set('t', state);
  channelOf = (req) => reg.channelFor(req, state, null);
  joinChannel = (s, channel) => reg.joinChannel(s, channel);
  liveBatch = (b) => reg.onLiveBatch('t', b);
}
for (let i = 0; i < D; i++) {
  const req = {
    sub: i,
    topic: 't',
    from: { kind: 'latest' },
    key: `dev-${i}`,
    where: null,
    group: null,
    style: 'envelope',
    transport: 'websocket',
    beforeUpgrade: false,
  };
  joinChannel({ hub, req }, channelOf(req));
}
const offsets = new Array(PARTITIONS).fill(0);
const makeBatch = () => {
  const out = [];
  for (let j = 0; j < BATCH; j++) {
    const k = Math.floor(Math.random() * D);
    const p = k % PARTITIONS;
    out.push({
      topic: 't',
      partition: p,
      offset: offsets[p]++,
      timestamp: Date.now(),
      key: Buffer.from(`dev-${k}`),
      value: Buffer.from(`{"device":"dev-${k}","temp":${j}}`),
    });
  }
  return out;
};
const batches = Array.from({ length: Math.ceil(N / BATCH) }, makeBatch);
for (const b of batches.slice(0, 200)) liveBatch(b); // warm-up
frames = 0;
const t0 = process.cpuUsage();
for (const b of batches) liveBatch(b);
const used = process.cpuUsage(t0);
const cpuUs = used.user + used.system;
const records = batches.length * BATCH;
console.log(
  JSON.stringify({
    subscribers: D,
    records,
    batch: BATCH,
    frames,
    cpuUsPerRecord: +(cpuUs / records).toFixed(3),
    cpuUsPerFrame: +(cpuUs / frames).toFixed(3),
    dist,
  }),
);

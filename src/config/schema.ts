/**
 * Sluice's one configuration schema: every setting with its env var, type, default and documentation.
 * docs/configuration.md is generated from this table (`npm run docs:config`) and a test fails when
 * they drift. librdkafka's own properties live in `native-config/*.properties`, passed through verbatim.
 */

type Kind =
  | { type: 'int'; min: number; max: number }
  | { type: 'string'; pattern?: RegExp; patternHelp?: string }
  /** A file or folder: the loader makes it absolute (see `resolvePath` in load.ts). */
  | { type: 'path' }
  | { type: 'bool' }
  | { type: 'enum'; values: readonly string[] };

interface Setting<K extends Kind['type']> {
  env: string;
  kind: Extract<Kind, { type: K }>;
  doc: string;
  default: K extends 'int' ? number : K extends 'bool' ? boolean : string;
}

const int = (env: string, def: number, min: number, max: number, doc: string): Setting<'int'> => ({
  env,
  kind: { type: 'int', min, max },
  default: def,
  doc,
});
const str = (env: string, def: string, doc: string, pattern?: RegExp, patternHelp?: string): Setting<'string'> => ({
  env,
  kind: { type: 'string', pattern, patternHelp },
  default: def,
  doc,
});
const path = (env: string, def: string, doc: string): Setting<'path'> => ({ env, kind: { type: 'path' }, default: def, doc });
const bool = (env: string, def: boolean, doc: string): Setting<'bool'> => ({ env, kind: { type: 'bool' }, default: def, doc });
const oneOf = <V extends string>(env: string, def: V, values: readonly V[], doc: string): Setting<'enum'> => ({
  env,
  kind: { type: 'enum', values },
  default: def,
  doc,
});

const MiB = 1024 * 1024;

export const SETTINGS = {
  port: int('SLUICE_PORT', 8080, 0, 65535, 'HTTP/WebSocket port of the gateway (0 picks a free port, printed at start).'),
  host: str('SLUICE_HOST', '0.0.0.0', 'Address the gateway listens on.'),
  kafkaBootstrapServers: str(
    'KAFKA_BOOTSTRAP_SERVERS',
    '',
    'Kafka cluster to use (`host:port,…`). Empty: start the embedded single-node broker and use it.',
    /^$|^[^\s,]+:\d+(,[^\s,]+:\d+)*$/,
    'a comma-separated list of host:port',
  ),
  kafkaSecurityProtocol: oneOf(
    'KAFKA_SECURITY_PROTOCOL',
    '',
    ['PLAINTEXT', 'SSL', 'SASL_PLAINTEXT', 'SASL_SSL'] as const,
    'How Sluice connects to Kafka: `SASL_SSL` (TLS + user/password), `SSL` (TLS, optionally with a client certificate), `SASL_PLAINTEXT`, `PLAINTEXT`. Empty: as the properties files say (librdkafka default PLAINTEXT). Applies to the producer and the fan-out consumers.',
  ),
  kafkaSaslMechanism: oneOf(
    'KAFKA_SASL_MECHANISM',
    '',
    ['PLAIN', 'SCRAM-SHA-256', 'SCRAM-SHA-512'] as const,
    'SASL mechanism with `SASL_SSL`/`SASL_PLAINTEXT` (Confluent Cloud and most managed clusters: `PLAIN`; MSK and self-hosted: usually `SCRAM-SHA-512`).',
  ),
  kafkaSaslUsername: str('KAFKA_SASL_USERNAME', '', 'SASL user name (Confluent Cloud: the API key).'),
  kafkaSaslPassword: str(
    'KAFKA_SASL_PASSWORD',
    '',
    'SASL password (Confluent Cloud: the API secret). Never logged; prefer KAFKA_SASL_PASSWORD_FILE.',
  ),
  kafkaSaslPasswordFile: path(
    'KAFKA_SASL_PASSWORD_FILE',
    '',
    'File holding the SASL password (e.g. a mounted secret; one trailing newline is ignored). Not with KAFKA_SASL_PASSWORD.',
  ),
  kafkaSslCaFile: path(
    'KAFKA_SSL_CA_FILE',
    '',
    "PEM file of the CA certificate(s) that signed the brokers' certificates. Empty: the system CA store (enough for public clouds).",
  ),
  kafkaSslCertFile: path(
    'KAFKA_SSL_CERT_FILE',
    '',
    'PEM client certificate for mTLS (brokers with `ssl.client.auth=required`); with KAFKA_SSL_KEY_FILE.',
  ),
  kafkaSslKeyFile: path('KAFKA_SSL_KEY_FILE', '', 'PEM private key of KAFKA_SSL_CERT_FILE, plain or encrypted.'),
  kafkaSslKeyPassword: str('KAFKA_SSL_KEY_PASSWORD', '', 'Password of an encrypted KAFKA_SSL_KEY_FILE. Never logged.'),
  kafkaSslKeyPasswordFile: path(
    'KAFKA_SSL_KEY_PASSWORD_FILE',
    '',
    'File holding the password of KAFKA_SSL_KEY_FILE. Not with KAFKA_SSL_KEY_PASSWORD.',
  ),
  kafkaSecurityConfig: path(
    'KAFKA_SECURITY_CONFIG',
    '',
    'librdkafka properties file merged into both the producer and the consumer properties, for security options the settings above do not cover (OAUTHBEARER, PKCS#12 key stores, …); see `native-config/security.sasl-ssl.properties`. The KAFKA_SECURITY_*, KAFKA_SASL_* and KAFKA_SSL_* settings override its lines.',
  ),
  embeddedKafkaPort: int(
    'SLUICE_EMBEDDED_KAFKA_PORT',
    9092,
    1,
    65535,
    'Client port of the embedded broker (its controller uses the next port).',
  ),
  embeddedKafkaDir: path('SLUICE_EMBEDDED_KAFKA_DIR', '.kafka/data', 'Data folder of the embedded broker; kept across restarts.'),
  maxRecordsPerRequest: int(
    'SLUICE_MAX_RECORDS_PER_REQUEST',
    10_000,
    1,
    1_000_000,
    'Records one request may carry; more gets 413 TOO_MANY_RECORDS, nothing written.',
  ),
  ingressThreads: int(
    'SLUICE_INGRESS_THREADS',
    0,
    0,
    64,
    'Worker threads serving HTTP and WebSocket on the shared port (0: serve on the main thread, beside the Kafka clients).',
  ),
  maxBodyBytes: int(
    'SLUICE_MAX_BODY_BYTES',
    1 * MiB,
    1,
    256 * MiB,
    'Largest request body accepted; enforced while reading (413 before buffering more).',
  ),
  ackMode: oneOf(
    'SLUICE_ACK_MODE',
    'durable',
    ['durable', 'fire'] as const,
    '`durable`: answer 200 once Kafka acknowledged every record (acks=all). `fire`: answer 202 once queued. Per request: `?ack=all|none`.',
  ),
  maxTimestampAheadMs: int(
    'SLUICE_MAX_TIMESTAMP_AHEAD_MS',
    3_600_000,
    0,
    Number.MAX_SAFE_INTEGER,
    "Refuse (`422 TIMESTAMP_REFUSED`, before producing) an `X-Kafka-Timestamp` further ahead of the gateway's clock than this: Kafka 4 refuses records more than `message.timestamp.after.max.ms` (default 1 h) ahead, and refuses the whole batch they travel in, other requests' records too. Set it to the topics' limit; 0: no check (Kafka still refuses).",
  ),
  keyField: str(
    'SLUICE_KEY_FIELD',
    '',
    'Top-level JSON field used as record key when the request has no `key` parameter (e.g. `device_id`). Empty: no key.',
  ),
  defaultTopic: str('SLUICE_DEFAULT_TOPIC', 'test-topic', 'Topic of the seed-compatible `POST /send` route.'),
  createTopics: bool(
    'SLUICE_CREATE_TOPICS',
    false,
    'Create unknown topics through the Admin API when the cluster does not auto-create them.',
  ),
  createTopicPartitions: int('SLUICE_CREATE_TOPIC_PARTITIONS', 6, 1, 10000, 'Partitions of topics Sluice creates.'),
  createTopicReplicationFactor: int(
    'SLUICE_CREATE_TOPIC_REPLICATION_FACTOR',
    -1,
    -1,
    32,
    'Replication factor of topics Sluice creates (-1: broker default).',
  ),
  maxInflightRecords: int(
    'SLUICE_MAX_INFLIGHT_RECORDS',
    100_000,
    1,
    10_000_000,
    'Records queued but not yet acknowledged, across all requests. A request that would pass it gets 503 before anything is queued. Keep ≤ `queue.buffering.max.messages`.',
  ),
  maxInflightBytes: int(
    'SLUICE_MAX_INFLIGHT_BYTES',
    256 * MiB,
    1024,
    16 * 1024 * MiB,
    'Bytes of record values queued but not yet acknowledged; same rule as the record budget.',
  ),
  decodeOffloadBytes: int(
    'SLUICE_DECODE_OFFLOAD_BYTES',
    64 * 1024,
    0,
    256 * MiB,
    'Bodies that decode to at least this many bytes are decompressed and parsed on a piscina worker pool, off the event loop (measured on 2 cores for 200 KB NDJSON uploads: 0.99× the records/s of decoding inline, so no gain there, and 1.81× for lz4 bodies; docs/performance.md). 0: always inline.',
  ),
  decodeThreads: int('SLUICE_DECODE_THREADS', 1, 1, 64, 'Threads of the decode pool (when SLUICE_DECODE_OFFLOAD_BYTES > 0).'),
  maxReadingBytes: int(
    'SLUICE_MAX_READING_BYTES',
    256 * MiB,
    1024,
    16 * 1024 * MiB,
    'Bytes of request bodies being received at once, across all connections; a request that would pass it gets 503 OVERLOADED.',
  ),
  schemasDir: path(
    'SLUICE_SCHEMAS_DIR',
    '',
    'Folder of JSON Schemas (draft 2020-12) checked on produce: `<topic>.schema.json` for one topic, or a name with `*` for a pattern, e.g. `telemetry.*.schema.json` (the exact name wins, then the longest pattern). A record that fails gets 422 SCHEMA_VALIDATION_FAILED and nothing of its request is written. Compiled once at start-up (a file that does not compile stops it). Empty: no validation.',
  ),
  schemaRegistryUrl: str(
    'SLUICE_SCHEMA_REGISTRY_URL',
    '',
    'Schema Registry (Confluent REST API) whose subject `<topic>-value` (latest version, JSON Schema type) checks topics that SLUICE_SCHEMAS_DIR has no file for. Unreachable: a schema fetched before keeps being used; a topic never fetched gets 503 SCHEMA_REGISTRY_UNAVAILABLE, never an unchecked write. Empty: no registry.',
    /^$|^https?:\/\/\S+$/,
    'an http:// or https:// URL',
  ),
  schemaRegistryRefreshSeconds: int(
    'SLUICE_SCHEMA_REGISTRY_REFRESH_S',
    60,
    1,
    86_400,
    'How long a Schema Registry answer (a schema, or "no such subject") is used before it is fetched again.',
  ),
  idempotencyWindowSeconds: int(
    'SLUICE_IDEMPOTENCY_WINDOW_S',
    3600,
    0,
    7 * 24 * 3600,
    'How long a success answer to a request with an `Idempotency-Key` is kept: a retry with the same key and request within it gets that answer again and writes nothing. One store per instance (shared by its ingress threads), not shared between instances (see docs/security.md, "Idempotent retries"). 0: keys are not remembered (they still go to Kafka as the `idempotency-key` header).',
  ),
  idempotencyMaxKeys: int(
    'SLUICE_IDEMPOTENCY_MAX_KEYS',
    100_000,
    1,
    10_000_000,
    'Idempotency keys remembered at once (per instance); past it the oldest are forgotten first.',
  ),
  idempotencyMaxBytes: int(
    'SLUICE_IDEMPOTENCY_MAX_BYTES',
    64 * MiB,
    1024,
    16 * 1024 * MiB,
    'Memory for remembered idempotency keys and their answers (estimated, per instance); past it the oldest are forgotten first.',
  ),
  retryAfterSeconds: int(
    'SLUICE_RETRY_AFTER_S',
    1,
    1,
    3600,
    'Seconds in the `Retry-After` header of every HTTP error answer that a later retry can turn into a success: each error docs/api.md lists as "yes, after `Retry-After`" (the 503s: full queue, overload, no broker, topic not ready, shutdown…; and the 429s: rate and share limits).',
  ),
  metadataTimeoutMs: int(
    'SLUICE_METADATA_TIMEOUT_MS',
    5000,
    100,
    120_000,
    "How long a topic lookup may take before the request gets 503. It also bounds each Kafka call that starts a client: the producer's connect attempt, and a subscription's consumer connect (live, replay or group) and its watermark and offset-for-time lookups; past it the subscription ends with BROKER_UNAVAILABLE (retriable).",
  ),
  producerProfile: oneOf(
    'SLUICE_PRODUCER_PROFILE',
    'default',
    ['default', 'throughput', 'low-latency'] as const,
    'Producer tuning profile: `native-config/producer.properties` (default: linger 1 ms, lz4), `producer.throughput.properties` (linger 20 ms, zstd), `producer.low-latency.properties` (linger 0).',
  ),
  producerConfigFile: path(
    'SLUICE_PRODUCER_CONFIG',
    '',
    "librdkafka producer properties file, passed through verbatim; overrides the profile. Empty: the profile's file.",
  ),
  consumerConfigFile: path(
    'SLUICE_CONSUMER_CONFIG',
    'native-config/consumer.properties',
    'librdkafka consumer properties, passed through verbatim.',
  ),
  wsMaxBackpressureBytes: int(
    'SLUICE_WS_MAX_BACKPRESSURE_BYTES',
    1 * MiB,
    1024,
    1024 * MiB,
    'Bytes buffered for one subscriber (WebSocket or SSE) before it is closed as too slow (WebSocket close code 4008); it can resume with its last token. Bounds memory per subscriber.',
  ),
  maxReplays: int(
    'SLUICE_MAX_REPLAYS',
    16,
    0,
    10_000,
    'Subscriptions reading history (`from=earliest|<time>|<token>`) at once; each holds one Kafka consumer until it has caught up (a slot is taken before the upgrade and given back when the replay joins live or the client leaves). More are refused with 503 OVERLOADED before the upgrade (an error frame for a `/ws` subscribe message).',
  ),
  replayBufferBytes: int(
    'SLUICE_REPLAY_BUFFER_BYTES',
    16 * MiB,
    1024,
    4096 * MiB,
    'Live frames held for one replaying subscriber until its history is sent; past this it is closed as too slow (4008) and resumes from its token.',
  ),
  resumeWindowRecords: int(
    'SLUICE_RESUME_WINDOW_RECORDS',
    10_000,
    0,
    10_000_000,
    "Records of each followed topic kept in memory by its live feed (its resume window): a subscription whose `from=<token>` (or `from=<time>`, see docs/live.md) starts inside the window is served from memory, with no Kafka consumer and no SLUICE_MAX_REPLAYS slot, so a reconnect storm is not refused. Older starts replay from Kafka. The window starts empty when a topic's live feed starts and lives as long as the feed (idle grace included). 0: no window.",
  ),
  resumeWindowBytes: int(
    'SLUICE_RESUME_WINDOW_BYTES',
    8 * MiB,
    0,
    4096 * MiB,
    "Bytes of one topic's resume window (key + value + headers + 64 bytes per record); the oldest records go first. Memory bound: this × the topics followed live (bounded through SLUICE_MAX_LIVE_PARTITIONS).",
  ),
  resumeWindowMs: int(
    'SLUICE_RESUME_WINDOW_MS',
    60_000,
    0,
    86_400_000,
    'Age (since the live feed read them) past which records leave the resume window.',
  ),
  snapshotMaxKeys: int(
    'SLUICE_SNAPSHOT_MAX_KEYS',
    100_000,
    1,
    10_000_000,
    'Keys one `snapshot=` may hold (the latest record of each, read back over its span by a replay consumer, which takes a SLUICE_MAX_REPLAYS slot). More ends the subscription with SNAPSHOT_TOO_LARGE.',
  ),
  snapshotMaxBytes: int(
    'SLUICE_SNAPSHOT_MAX_BYTES',
    64 * MiB,
    1024,
    4096 * MiB,
    'Bytes of latest-record frames one `snapshot=` may hold while it reads its span; past it the subscription ends with SNAPSHOT_TOO_LARGE. Bounds memory per snapshot.',
  ),
  viewMaxGroups: int(
    'SLUICE_VIEW_MAX_GROUPS',
    10_000,
    1,
    1_000_000,
    "Groups (`by=`) one window of a windowed view may hold, and groups with a firing alert; more ends the view's subscriptions with VIEW_TOO_LARGE.",
  ),
  viewMaxOpenWindows: int(
    'SLUICE_VIEW_MAX_OPEN_WINDOWS',
    1000,
    1,
    1_000_000,
    "Windows of one view open at once (waiting for the watermark to pass end + grace); more ends the view's subscriptions with VIEW_TOO_LARGE.",
  ),
  maxViewsPerTopic: int(
    'SLUICE_MAX_VIEWS_PER_TOPIC',
    100,
    0,
    100_000,
    'Distinct windowed views (`window=` with different parameters) computed at once on one topic; subscribers of an equal view share one computation. One more is refused with 503 OVERLOADED.',
  ),
  fanoutLingerMs: int(
    'SLUICE_FANOUT_LINGER_MS',
    0,
    0,
    1000,
    'How long a live feed gathers records after the first of a batch before handing them to subscribers: one write per socket per batch instead of per record. Measured at 1,000 subscribers × 1,000 records/s: 5 ms cut gateway CPU by 44% but raised p99 latency (bench `fanout-1000-linger-5`). 0: hand each consumed batch over at once.',
  ),
  maxLivePartitions: int(
    'SLUICE_MAX_LIVE_PARTITIONS',
    0,
    0,
    10_000_000,
    "Partitions followed live at once, over every topic (all read by one shared Kafka consumer; a topic counts all its partitions while it has subscribers or is in its idle grace). A subscription to a topic that would pass it is refused with 503 OVERLOADED. 0: derived from memory — a quarter of the memory the process may use (its cgroup limit, else the machine's) divided by the consumer's `max.partition.fetch.bytes` (librdkafka default 1 MiB: what one fetch of one partition may hold), e.g. 6,144 partitions on 24 GiB. The derived value is logged at start-up.",
  ),
  liveIdleGraceMs: int(
    'SLUICE_LIVE_IDLE_GRACE_MS',
    10_000,
    0,
    3_600_000,
    'How long a topic stays followed live after its last subscriber leaves (dashboards reload and reconnect): its partitions stay assigned to the live consumer, counted against SLUICE_MAX_LIVE_PARTITIONS. The live consumer itself is closed when no topic is followed. 0: unassign at once.',
  ),
  maxKeysPerSubscription: int(
    'SLUICE_MAX_KEYS_PER_SUBSCRIPTION',
    100,
    1,
    1000,
    'Keys one subscription may name in `key=a,b,c` (or a subscribe message, or a signed grant). Each record is routed by its key to the subscriptions that name it, so the count only bounds the size of one subscription; more are refused with 400 INVALID_PARAMETER.',
  ),
  maxGroups: int(
    'SLUICE_MAX_GROUPS',
    64,
    0,
    10_000,
    'Consumer groups (`group=`) with members on this gateway at once (one Kafka consumer each); more are refused with OVERLOADED.',
  ),
  maxSubscriptionsPerConnection: int(
    'SLUICE_MAX_SUBSCRIPTIONS_PER_CONNECTION',
    32,
    1,
    100_000,
    'Subscriptions one WebSocket connection may hold at once (an SSE stream holds one). One more is refused with 429 CONNECTION_LIMIT (an error frame for a `/ws` subscribe message), so no connection can take every live partition (SLUICE_MAX_LIVE_PARTITIONS).',
  ),
  maxReplaysPerConnection: int(
    'SLUICE_MAX_REPLAYS_PER_CONNECTION',
    4,
    0,
    10_000,
    'Replays (`from=earliest|<time>|<token>`, `snapshot=`) one connection may have in progress at once, of SLUICE_MAX_REPLAYS; one more is refused with 429 CONNECTION_LIMIT.',
  ),
  maxGroupsPerConnection: int(
    'SLUICE_MAX_GROUPS_PER_CONNECTION',
    4,
    0,
    10_000,
    'Group memberships (`group=`) one connection may hold at once, of SLUICE_MAX_GROUPS; one more is refused with 429 CONNECTION_LIMIT.',
  ),
  maxTopicsPerClient: int(
    'SLUICE_MAX_TOPICS_PER_CLIENT',
    64,
    1,
    100_000,
    "Distinct topics one client subscribes to at once over all its connections (a client: an API key, a token's `sub`, or the client address when access is open or a token has no `sub`). Subscribers of one topic share its live feed, so this bounds the client's share of the followed topics (SLUICE_MAX_LIVE_PARTITIONS), not its sockets. One more topic is refused with 429 CLIENT_LIMIT.",
  ),
  maxReplaysPerClient: int(
    'SLUICE_MAX_REPLAYS_PER_CLIENT',
    8,
    0,
    10_000,
    'Replays one client (as for SLUICE_MAX_TOPICS_PER_CLIENT) may have in progress at once over all its connections, of SLUICE_MAX_REPLAYS; one more is refused with 429 CLIENT_LIMIT. An API key shared by many browsers shares this too: raise it, or give each user a token with its own `sub`.',
  ),
  groupIdPrefix: str(
    'SLUICE_GROUP_ID_PREFIX',
    'sluice-',
    'Prefix of the Kafka consumer group id for `group=<id>` subscriptions: group `g` uses `sluice-g` with open access, and `sluice-key:<key id>/g` or `sluice-token:<sub>/g` with API keys or tokens (groups are scoped per credential, see docs/security.md).',
  ),
  sseHeartbeatSeconds: int(
    'SLUICE_SSE_HEARTBEAT_S',
    15,
    1,
    3600,
    'Seconds between SSE comment lines on idle streams, so proxies do not close them.',
  ),
  wsIdleTimeoutSeconds: int(
    'SLUICE_WS_IDLE_TIMEOUT_S',
    120,
    0,
    960,
    'WebSocket idle timeout; pings are sent automatically. 0 disables, otherwise 8–960.',
  ),
  shutdownTimeoutMs: int(
    'SLUICE_SHUTDOWN_TIMEOUT_MS',
    25_000,
    100,
    600_000,
    'The whole shutdown budget, from SIGTERM/SIGINT/SIGHUP to exit: SLUICE_SHUTDOWN_DELAY_MS, then answering requests in progress, closing subscribers over SLUICE_SHUTDOWN_CLOSE_WINDOW_MS and flushing Kafka all fit in it. The default leaves 5 s of Kubernetes\' default 30 s grace period (see docs/operations.md, "Shutdown timing").',
  ),
  shutdownDelayMs: int(
    'SLUICE_SHUTDOWN_DELAY_MS',
    0,
    0,
    300_000,
    'After a shutdown signal, how long the gateway keeps serving with `/readyz` already answering 503, so that load balancers and Kubernetes endpoints stop sending before connections close. Part of SLUICE_SHUTDOWN_TIMEOUT_MS. 0: drain at once (a single instance, or no load balancer).',
  ),
  shutdownCloseWindowMs: int(
    'SLUICE_SHUTDOWN_CLOSE_WINDOW_MS',
    1_000,
    0,
    300_000,
    'At shutdown, WebSocket and SSE subscribers are closed at random moments spread over this window (not all at once), so their reconnects do not arrive on the other instances as one burst. Part of SLUICE_SHUTDOWN_TIMEOUT_MS. 0: all at once.',
  ),
  adminPort: int(
    'SLUICE_ADMIN_PORT',
    -1,
    -1,
    65535,
    'Port of the admin listener serving `/healthz`, `/readyz` and `/metrics` (then not served on SLUICE_PORT), plain HTTP on SLUICE_HOST. -1: no admin listener; those routes are served on SLUICE_PORT. 0 picks a free port.',
  ),
  metricsToken: str(
    'SLUICE_METRICS_TOKEN',
    '',
    '`GET /metrics` requires `Authorization: Bearer <token>` with this token (401 UNAUTHORIZED otherwise; never logged). Empty: open.',
  ),
  logLevel: oneOf('SLUICE_LOG_LEVEL', 'info', ['trace', 'debug', 'info', 'warn', 'error', 'fatal', 'silent'] as const, 'pino log level.'),
  tlsCertFile: path('SLUICE_TLS_CERT_FILE', '', 'PEM certificate (chain) for HTTPS and WSS; with SLUICE_TLS_KEY_FILE. Empty: plain HTTP.'),
  tlsKeyFile: path('SLUICE_TLS_KEY_FILE', '', 'PEM private key for SLUICE_TLS_CERT_FILE.'),
  tlsKeyPassphrase: str('SLUICE_TLS_KEY_PASSPHRASE', '', 'Passphrase of an encrypted SLUICE_TLS_KEY_FILE (never logged).'),
  corsOrigins: str(
    'SLUICE_CORS_ORIGINS',
    '',
    'Origins whose web pages may POST records and open WebSockets (`*` or a comma-separated list). Empty: no CORS headers, WebSocket origins unchecked.',
  ),
  apiKeysFile: path(
    'SLUICE_API_KEYS_FILE',
    '',
    'JSON file of hashed API keys with produce/subscribe topic patterns and rate limits (see docs/security.md, "API keys"). Empty: no keys required.',
  ),
  jwtSecretFile: path(
    'SLUICE_JWT_SECRET_FILE',
    '',
    'File holding the HS256 secret (at least 32 bytes; one trailing newline ignored) of subscription tokens: JWTs whose `sluice.sub` claim names the topics (and keys and filters) a WebSocket or SSE client may read (see docs/security.md, "Signed subscriptions"). Set: every subscription needs a token (or an API key, when SLUICE_API_KEYS_FILE is set). Empty: no tokens.',
  ),
  jwtPublicKeyFile: path(
    'SLUICE_JWT_PUBLIC_KEY_FILE',
    '',
    'PEM public key of subscription tokens signed with RS256 (an RSA key) or ES256 (a P-256 EC key), instead of SLUICE_JWT_SECRET_FILE\'s HS256 secret; tokens of any other algorithm are refused. Same claims and rules (see docs/security.md, "Signed subscriptions").',
  ),
  jwtJwksUrl: str(
    'SLUICE_JWT_JWKS_URL',
    '',
    'JWKS URL (an identity provider\'s `…/.well-known/jwks.json`) whose keys verify subscription tokens signed with RS256 or ES256, picked by the token\'s `kid`; keys may rotate without a restart. Only one of SLUICE_JWT_SECRET_FILE, SLUICE_JWT_PUBLIC_KEY_FILE and SLUICE_JWT_JWKS_URL may be set. The set is cached (fetched again after 10 min, and at once for an unknown `kid`); unreachable, the last set fetched still verifies the tokens whose key it holds and any other gets 503 TOKEN_KEYS_UNAVAILABLE, never an unchecked pass. Same claims and rules (see docs/security.md, "Signed subscriptions").',
    /^$|^https?:\/\/\S+$/,
    'an http:// or https:// URL',
  ),
  jwtJwksCooldownSeconds: int(
    'SLUICE_JWT_JWKS_COOLDOWN_S',
    30,
    0,
    3600,
    'After SLUICE_JWT_JWKS_URL was fetched, a token with a `kid` the set does not hold is refused (401 TOKEN_INVALID) for this long instead of fetching the set again: bounds the fetches that made-up `kid`s can cause. 0: fetch again for every unknown `kid`.',
  ),
  jwtAudience: str(
    'SLUICE_JWT_AUDIENCE',
    '',
    'Set: a subscription token is accepted only if its `aud` claim names this value (401 TOKEN_INVALID otherwise). Strongly recommended with SLUICE_JWT_JWKS_URL: an identity provider signs tokens for many services with the same keys, and without it a token minted for another service that carries `sluice.sub` is accepted. Empty: `aud` is not checked.',
  ),
  jwtIssuer: str(
    'SLUICE_JWT_ISSUER',
    '',
    'Set: a subscription token is accepted only if its `iss` claim is exactly this value (401 TOKEN_INVALID otherwise). Strongly recommended with SLUICE_JWT_JWKS_URL. Empty: `iss` is not checked.',
  ),
  jwtMaxLifetimeSeconds: int(
    'SLUICE_JWT_MAX_LIFETIME_S',
    0,
    0,
    366 * 24 * 3600,
    'Longest validity accepted for a subscription token: `exp` minus its `iat` (or minus now, without `iat`); a longer-lived token is refused with 401 TOKEN_INVALID, so a leaked token cannot be minted to last for years. 0: no limit.',
  ),
  allowUwsFallback: bool(
    'SLUICE_ALLOW_UWS_FALLBACK',
    false,
    'No effect: uWebSockets.js 20.57 has no pure-JS fallback, and Sluice refuses to start when its native binary does not load. Still accepted so that existing configurations start.',
  ),
} as const;

export type SettingName = keyof typeof SETTINGS;
type ValueOf<S> = S extends Setting<infer K> ? (K extends 'int' ? number : K extends 'bool' ? boolean : string) : never;
export type Config = {
  readonly [K in SettingName]: K extends 'ackMode'
    ? 'durable' | 'fire'
    : K extends 'producerProfile'
      ? 'default' | 'throughput' | 'low-latency'
      : K extends 'kafkaSecurityProtocol'
        ? '' | 'PLAINTEXT' | 'SSL' | 'SASL_PLAINTEXT' | 'SASL_SSL'
        : K extends 'kafkaSaslMechanism'
          ? '' | 'PLAIN' | 'SCRAM-SHA-256' | 'SCRAM-SHA-512'
          : K extends 'logLevel'
            ? 'trace' | 'debug' | 'info' | 'warn' | 'error' | 'fatal' | 'silent'
            : ValueOf<(typeof SETTINGS)[K]>;
};

/** Env vars that once existed under another name: say what to use instead. */
export const RENAMED: Readonly<Record<string, string>> = {
  SLUICE_BODY_LIMIT: 'SLUICE_MAX_BODY_BYTES',
  SLUICE_ACKS: 'SLUICE_ACK_MODE',
  KAFKA_BROKERS: 'KAFKA_BOOTSTRAP_SERVERS',
  // One shared live consumer replaced one per topic: the bound is on partitions, derived from memory.
  SLUICE_MAX_LIVE_TOPICS: 'SLUICE_MAX_LIVE_PARTITIONS',
};

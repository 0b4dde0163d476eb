# The embedded single-node broker (the default when KAFKA_BOOTSTRAP_SERVERS is unset, and what the tests
# use): Java, Maven, and Apache Kafka's jars from Maven Central (cached in .kafka/). A gateway pointed at a
# cluster needs none of it.
if [ "$SETUP_PART" = run ] && [ -n "${KAFKA_BOOTSTRAP_SERVERS:-}" ]; then
  echo "[setup] KAFKA_BOOTSTRAP_SERVERS is set: no Java or Kafka jars for the embedded broker" >&2
else
  apt_ensure openjdk-17-jre-headless maven
  node dist/embedded-broker/cli.js fetch-jars
fi

# Runs the embedded Kafka broker so that it ends with the process that started it, however that process ends.
# Usage: sh watchdog.sh <grace seconds> java <args…>, with stdin a pipe whose other end only the starting process holds.
#
# Node cannot set prctl(PR_SET_PDEATHSIG) without a native module, but the kernel closes a dead process's pipes
# whatever killed it (SIGKILL, the OOM killer, a crash): `read` then sees EOF and the broker gets SIGTERM, then
# SIGKILL once the grace period is over. Stdout carries one line, the JVM's pid, so the starting process signals
# the JVM itself (stop(), kill()); this shell exits with the JVM's status once the JVM has exited.
grace=$1
shift
# A background job's stdin is /dev/null in sh: the watcher below reads the pipe through fd 3 instead.
exec 3<&0
"$@" </dev/null >/dev/null 3<&- &
jvm=$!
echo "$jvm"
exec >/dev/null
# Set after the JVM started, which must not inherit an ignored SIGTERM (stop() sends it). From here on this shell
# and the watcher leave only once the JVM has gone: a Ctrl-C or SIGTERM to the whole process group reaches the
# gateway, which stops the broker in its own shutdown order.
trap '' INT TERM HUP
(
  read -r _ <&3
  kill -TERM "$jvm" 2>/dev/null
  waited=0
  while kill -0 "$jvm" 2>/dev/null && [ "$waited" -lt "$grace" ]; do
    sleep 1
    waited=$((waited + 1))
  done
  kill -KILL "$jvm" 2>/dev/null
) &
watcher=$!
exec 3<&-
wait "$jvm"
status=$?
# The JVM is reaped: stop the watcher before its kill could reach a process that reuses the pid.
kill -KILL "$watcher" 2>/dev/null
exit "$status"

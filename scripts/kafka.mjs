#!/usr/bin/env node
// A real single-node Apache Kafka broker (KRaft) for development, from the official jars
// (fetched with Maven on first use into .cache/kafka/<version>/lib).
//
//   node scripts/kafka.mjs start|stop|status      (npm run kafka:start / kafka:stop)
//
// Env: KAFKA_PORT (default 9092), KAFKA_DATA_DIR (default .cache/kafka/run-<port>),
//      KAFKA_HEAP_MB (default 512), KAFKA_START_TIMEOUT_MS (default 120000).

import { brokerStatus, isBrokerUp, startBroker, stopBroker } from './kafka-broker.mjs';

const usage = 'usage: node scripts/kafka.mjs start|stop|status   (env KAFKA_PORT, KAFKA_DATA_DIR)';

async function main() {
  const cmd = process.argv[2];
  const port = Number(process.env.KAFKA_PORT ?? 9092);
  if (!Number.isInteger(port) || port <= 0 || port > 65535) {
    console.error(`bad KAFKA_PORT: ${process.env.KAFKA_PORT}`);
    return 2;
  }
  const dataDir = process.env.KAFKA_DATA_DIR || undefined;

  switch (cmd) {
    case 'start': {
      if (await isBrokerUp(port)) {
        const st = await brokerStatus({ port, dataDir });
        console.log(`Kafka already answers on 127.0.0.1:${port}${st.pid ? ` (pid ${st.pid})` : ''}`);
        console.log(`bootstrap: 127.0.0.1:${port}`);
        if (st.pid) console.log(`log:       ${st.logFile}`);
        return 0;
      }
      const t0 = Date.now();
      const b = await startBroker({
        port,
        dataDir,
        ...(process.env.KAFKA_HEAP_MB ? { heapMb: Number(process.env.KAFKA_HEAP_MB) } : {}),
        ...(process.env.KAFKA_START_TIMEOUT_MS ? { timeoutMs: Number(process.env.KAFKA_START_TIMEOUT_MS) } : {}),
      });
      console.log(`Kafka started in ${((Date.now() - t0) / 1000).toFixed(1)} s (pid ${b.pid}, cluster ${b.clusterId})`);
      console.log(`bootstrap: ${b.bootstrap}`);
      console.log(`log:       ${b.logFile}`);
      console.log(`data:      ${b.dataDir}`);
      console.log(`stop with: KAFKA_PORT=${port} node scripts/kafka.mjs stop`);
      return 0;
    }
    case 'stop': {
      const res = await stopBroker({ port, dataDir });
      if (res.stopped) {
        console.log(`Kafka on 127.0.0.1:${port} stopped (pid ${res.pid})`);
        return 0;
      }
      if (await isBrokerUp(port)) {
        console.error(`a Kafka broker answers on 127.0.0.1:${port} but was not started from this data dir; not stopping it`);
        return 1;
      }
      console.log(`no Kafka broker running on 127.0.0.1:${port}`);
      return 0;
    }
    case 'status': {
      const st = await brokerStatus({ port, dataDir });
      if (st.answers) {
        console.log(`Kafka answers on ${st.bootstrap}${st.pid ? ` (pid ${st.pid})` : ' (not started from this data dir)'}`);
        if (st.pid) console.log(`log:       ${st.logFile}`);
        return 0;
      }
      if (st.running) {
        console.log(`Kafka process ${st.pid} is running for ${st.dataDir} but does not answer on ${st.bootstrap} (yet)`);
        console.log(`log:       ${st.logFile}`);
        return 1;
      }
      console.log(`no Kafka broker on ${st.bootstrap}`);
      return 1;
    }
    default:
      console.error(usage);
      return 2;
  }
}

main().then(
  (code) => {
    process.exitCode = code;
  },
  (err) => {
    console.error(err instanceof Error ? err.message : err);
    process.exitCode = 1;
  },
);

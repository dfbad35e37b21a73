#!/usr/bin/env node
// The ceiling of bench/hl7-ack.mjs, in its own process: an MLLP receiver that answers every frame with a CA at
// once — our framer, no parsing beyond MSH-10, no buffer, no fsync. What the transport and the senders can do.
//
//   node bench/hl7-echo.mjs --port P   (prints "listening" when ready)
import { createServer } from 'node:net';
import { parseArgs } from 'node:util';
import { MllpFramer, mllpFrame } from '../dist/inputs/hl7/mllp.js';

const { values: args } = parseArgs({ options: { port: { type: 'string' } } });
const server = createServer((socket) => {
  socket.setNoDelay(true);
  const framer = new MllpFramer({ maxFrameBytes: 1 << 20, keepBytes: 64 });
  socket.on('data', (chunk) => {
    for (const item of framer.push(chunk)) {
      if (item.kind !== 'frame') continue;
      const msh = item.payload.subarray(0, item.payload.indexOf(0x0d)).toString('utf8').split('|');
      socket.write(mllpFrame(`MSH|^~\\&|ECHO||||20260101000000||ACK^R01^ACK|1|P|2.6\rMSA|CA|${msh[9] ?? ''}`));
    }
  });
  socket.on('error', () => undefined);
});
server.listen(Number(args.port), '127.0.0.1', () => process.stdout.write('listening\n'));
process.on('SIGTERM', () => process.exit(0));

// buffer stats on a buffer with a known content: backlog per priority and topic, oldest pending age, retained
// events and their time span, file sizes; JSON and text.
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { describe, expect, inject, it } from 'vitest';
import { PRIORITY_OF_TYPE } from '../src/events/schema.js';
import type { BufferReport } from '../src/replay/buffer-stats.js';
import { CLI, writeTestConfig } from './support/gateway-process.js';
import { knownBuffer } from './support/replay-fixture.js';
import { uniqueName } from './support/wait.js';

const run = promisify(execFile);

describe('telemetry-gateway buffer stats', () => {
  const kafka = inject('kafkaBootstrap');
  const mqttUrl = inject('mqttUrl');

  it('reports the pending backlog, the retained events and the file size of a known buffer', async () => {
    const gatewayId = uniqueName('stats');
    const prefix = `${gatewayId}.`;
    const fixture = await knownBuffer(gatewayId);
    const { file } = writeTestConfig({ gatewayId, brokers: [kafka], mqttUrl, topicPrefix: prefix, bufferPath: fixture.path });

    const before = Date.now();
    const { stdout } = await run(process.execPath, [CLI, 'buffer', 'stats', '--config', file, '--json']);
    const report = JSON.parse(stdout) as BufferReport;
    expect(report.pending.total).toBe(12);
    const expectedByPriority = new Map<number, Record<string, number>>();
    for (const [type, n] of [['reading', 10], ['alarm', 1], ['device-status', 1]] as const) {
      const priority = PRIORITY_OF_TYPE[type];
      expectedByPriority.set(priority, { ...expectedByPriority.get(priority), [type]: n });
    }
    expect(report.pending.byPriority).toEqual(
      [...expectedByPriority.entries()]
        .sort(([a], [b]) => a - b)
        .map(([priority, types]) => ({ priority, types, count: Object.values(types).reduce((s, n) => s + n, 0) })),
    );
    expect(report.pending.byTopic).toEqual({ [`${prefix}readings`]: 10, [`${prefix}alarms`]: 1, [`${prefix}device-status`]: 1 });
    expect(report.pending.oldestReceivedAt).toBe(new Date(fixture.recentAt).toISOString());
    expect(report.pending.oldestAgeMs).toBeGreaterThanOrEqual(before - fixture.recentAt);
    expect(report.pending.oldestAgeMs).toBeLessThanOrEqual(Date.now() - fixture.recentAt);
    expect(report.retained).toEqual({
      count: 22,
      oldestReceivedAt: new Date(fixture.oldAt).toISOString(),
      newestReceivedAt: new Date(fixture.oldAt).toISOString(),
    });
    expect(report.files.db).toBeGreaterThan(0);
    expect(report.files.total).toBe(report.files.db + report.files.wal + report.files.shm);

    const text = (await run(process.execPath, [CLI, 'buffer', 'stats', '--config', file])).stdout;
    expect(text).toContain('pending: 12');
    expect(text).toContain(`topic ${prefix}readings: 10`);
    expect(text).toContain('oldest pending: 1h00m');
    expect(text).toContain('retained (delivered, kept for replay): 22');
  });

  it('names the file when the buffer does not exist', async () => {
    const gatewayId = uniqueName('stats-missing');
    const { file, dir } = writeTestConfig({ gatewayId, brokers: [kafka], mqttUrl, topicPrefix: 'x.' });
    const err = await run(process.execPath, [CLI, 'buffer', 'stats', '--config', file]).catch((e: { code: number; stderr: string }) => e);
    expect(err).toMatchObject({ code: 1 });
    expect((err as { stderr: string }).stderr).toContain(`GW_BUFFER_READ: cannot read the buffer ${dir}/buffer.db`);
  });
});

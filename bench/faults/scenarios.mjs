// The fault suite's scenarios, one file per family. To add a family: write bench/faults/<family>.mjs exporting
// `scenarios` (an array of { name, ci, description, run(ctx), aliases?, options? }: see run.mjs for ctx) and
// add one import and one spread below. `ci: true` runs in `npm test` (posttest); `--full` runs everything.
import { scenarios as gatewayProcess } from './gateway-process.mjs';
import { scenarios as kafkaOutage } from './kafka-outage.mjs';
import { scenarios as network } from './network.mjs';
import { scenarios as cluster } from './cluster.mjs';
import { scenarios as disk } from './disk.mjs';
import { scenarios as burst } from './burst.mjs';
import { scenarios as hl7 } from './hl7.mjs';

export const SCENARIOS = [...gatewayProcess, ...kafkaOutage, ...network, ...cluster, ...disk, ...burst, ...hl7];

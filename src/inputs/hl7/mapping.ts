/**
 * ORU^R01 (IHE PCD-01 observations) and ORU^R40 (PCD-04 alarms) → event drafts. Pure: a parsed message, the
 * compiled driver and the input's settings in, drafts and what could not be mapped out; nothing throws for bad
 * content (problems are reported per observation and end up in one dead letter with the raw message).
 *
 * - One `reading` per numeric OBX (OBX-2 NM, or SN without comparator); ST/TX/CWE/CE/CNE only where the driver
 *   maps the code with `type: string`. OBX without a value type (the MDS/VMD/channel headers of the PCD-01
 *   containment tree) carry no value and are skipped silently.
 * - `code` = the observation's reference id (OBX-3.2, e.g. MDC_PULS_OXIM_SAT_O2, as serial drivers write it),
 *   else OBX-3.1; `metric` from the driver's code table; `unit` from OBX-6 via the driver's unit table (MDC
 *   units → UCUM; OBX-6 already in UCUM passes). An unknown unit is kept verbatim and the reading's quality is
 *   lowered to `uncertain` (the number cannot be interpreted safely); the input counts and logs it.
 * - `quality` from OBX-11 (driver table: F/R/C good, P/S uncertain, X/W bad with value null, D/I/N skipped).
 * - `sourceTime` from OBX-14, else the OBR-7 of its group, else MSH-7, honouring the UTC offset; times without
 *   one are in the input's `timezone`.
 * - Device id: the input's template with {device} = OBX-18 (own, else inherited from the nearest enclosing OBX of
 *   the containment tree that has one, else the first in the message), else MSH-3.
 * - PID is read only when the template uses {patient}, which the config allows only with patientIdentifiers.
 */
import type { AlarmEvent, EventDraft, Quality, ReadingValue } from '../../events/schema.js';
import { sanitizeDeviceId } from '../../util/device-id.js';
import { wallFields, wallTimeToUtc } from '../../util/time-zone.js';
import type { CodeMappingT, Hl7DriverT } from './driver.js';
import type { MessageHeader } from './header.js';
import type { Hl7Message, Segment } from './parser.js';

export interface CompiledHl7Driver {
  driver: Hl7DriverT;
  /** Message type (ORU^R01) → what it carries. */
  messages: ReadonlyMap<string, 'observations' | 'alarms'>;
  codes: readonly { mapping: CodeMappingT; hierarchy: RegExp | undefined }[];
  units: ReadonlyMap<string, string>;
  versions: readonly string[];
}

export function compileHl7Driver(driver: Hl7DriverT): CompiledHl7Driver {
  return {
    driver,
    messages: new Map(Object.entries(driver.messages)),
    codes: driver.observations.codes.map((mapping) => ({
      mapping,
      hierarchy: mapping.hierarchy === undefined ? undefined : new RegExp(`^${mapping.hierarchy.split('.').map((l) => (l === '*' ? '[^.]+' : l)).join('\\.')}(\\..*)?$`),
    })),
    units: new Map(Object.entries(driver.units)),
    versions: driver.versions,
  };
}

export interface MappingOptions {
  deviceIdTemplate: string;
  timezone: string;
  /** ISO time of arrival (receivedAt of every draft). */
  receivedAt: string;
}

export interface MappingResult {
  drafts: EventDraft[];
  /** Observations that produced nothing on purpose (other value types, ignored codes, skipped statuses). */
  ignored: number;
  /** OBX-6 units the driver does not know (kept verbatim, quality uncertain). */
  unknownUnits: string[];
  /** Content problems, each naming the segment (`OBX 7 (MDC_X): …`); the caller dead-letters the message. */
  problems: string[];
  /** ERR locations (segment^sequence^field) of the problems, same order. */
  locations: string[];
}

interface Group {
  obr: Segment | undefined;
  obx: Segment[];
}

/** OBX-3 split: identifier, text (reference id), coding system. */
interface Coded {
  code: string;
  refid: string;
  system: string;
}

const NM = /^\s*[-+]?(\d+\.?\d*|\.\d+)\s*$/;
const STRING_TYPES = new Set(['ST', 'TX', 'FT']);
const CODED_TYPES = new Set(['CWE', 'CE', 'CNE', 'CF']);

export class ObservationMapper {
  readonly #driver: CompiledHl7Driver;
  readonly #options: MappingOptions;
  readonly #msg: Hl7Message;
  readonly #header: MessageHeader;
  readonly #result: MappingResult = { drafts: [], ignored: 0, unknownUnits: [], problems: [], locations: [] };
  /** OBX-18 equipment id by OBX segment index, after inheritance. */
  readonly #equipment = new Map<number, string>();
  #placeholders: Record<string, string> | undefined;

  constructor(driver: CompiledHl7Driver, options: MappingOptions, msg: Hl7Message, header: MessageHeader) {
    this.#driver = driver;
    this.#options = options;
    this.#msg = msg;
    this.#header = header;
  }

  map(kind: 'observations' | 'alarms'): MappingResult {
    const groups = this.#groups();
    this.#resolveEquipment(groups);
    if (groups.every((g) => g.obx.length === 0)) this.#problem('OBX', 'the message has no OBX segment (no observation to report)', 'OBX');
    for (const group of groups) {
      if (kind === 'observations') for (const obx of group.obx) this.#observation(obx, group);
      else if (group.obx.length > 0) this.#alarm(group);
    }
    return this.#result;
  }

  #groups(): Group[] {
    const groups: Group[] = [];
    let current: Group | undefined;
    for (const s of this.#msg.segments) {
      if (s.name === 'OBR') {
        current = { obr: s, obx: [] };
        groups.push(current);
      } else if (s.name === 'OBX') {
        if (!current) {
          current = { obr: undefined, obx: [] };
          groups.push(current);
        }
        current.obx.push(s);
      }
    }
    return groups;
  }

  /** OBX-18 of each OBX: its own, else that of the nearest enclosing OBX (by OBX-4 levels) before it, else the first. */
  #resolveEquipment(groups: Group[]): void {
    const msg = this.#msg;
    let first = '';
    for (const g of groups) for (const obx of g.obx) first ||= msg.text(obx, 18, 1);
    for (const g of groups) {
      const seen: { levels: string[]; equipment: string }[] = [];
      for (const obx of g.obx) {
        const own = msg.text(obx, 18, 1);
        const levels = msg.text(obx, 4).split('.');
        let equipment = own;
        if (equipment === '') {
          for (let i = seen.length - 1; i >= 0; i -= 1) {
            const candidate = seen[i] as { levels: string[]; equipment: string };
            if (encloses(candidate.levels, levels)) {
              equipment = candidate.equipment;
              break;
            }
          }
        }
        equipment ||= first;
        if (own !== '') seen.push({ levels, equipment: own });
        this.#equipment.set(obx.index, equipment);
      }
    }
  }

  #coded(obx: Segment, field: number): Coded {
    const msg = this.#msg;
    return { code: msg.text(obx, field, 1), refid: msg.text(obx, field, 2), system: msg.text(obx, field, 3) };
  }

  #lookup(id: Coded, hierarchy: string): CodeMappingT | undefined {
    for (const { mapping, hierarchy: pattern } of this.#driver.codes) {
      const codeMatches = mapping.code !== undefined && String(mapping.code) === id.code;
      const refidMatches = mapping.refid !== undefined && mapping.refid === id.refid;
      if (!codeMatches && !refidMatches) continue;
      if (pattern && !pattern.test(hierarchy)) continue;
      return mapping;
    }
    return undefined;
  }

  #problem(segment: string, text: string, location: string): void {
    this.#result.problems.push(`${segment}: ${text}`);
    this.#result.locations.push(location);
  }

  #observation(obx: Segment, group: Group): void {
    const msg = this.#msg;
    const valueType = msg.text(obx, 2);
    const setId = msg.text(obx, 1) || String(obx.index);
    const id = this.#coded(obx, 3);
    const hierarchy = msg.text(obx, 4);
    const label = `OBX ${setId} (${id.refid || id.code || 'no OBX-3'})`;
    const rawValue = msg.raw(obx, 5);
    if (valueType === '' && rawValue === '') return; // a containment-tree header (MDS, VMD, channel): no value
    const mapping = this.#lookup(id, hierarchy);
    const numeric = valueType === 'NM' || valueType === 'SN';
    if (!numeric && !(mapping?.type === 'string' && (STRING_TYPES.has(valueType) || CODED_TYPES.has(valueType)))) {
      this.#result.ignored += 1;
      return;
    }
    if (!mapping && this.#driver.driver.observations.unknownCodes === 'ignore') {
      this.#result.ignored += 1;
      return;
    }
    let quality = this.#quality(msg.text(obx, 11));
    if (quality === 'skip') {
      this.#result.ignored += 1;
      return;
    }
    let value: ReadingValue = null;
    const first = msg.repetitions(obx, 5)[0] ?? '';
    if (quality !== 'bad' && first !== '') {
      const parsed = numeric ? this.#number(valueType, first) : this.#string(valueType, first);
      if (parsed === undefined) {
        this.#problem(label, `value ${JSON.stringify(msg.decode(first).slice(0, 40))} is not a valid ${valueType}`, `OBX^${setId}^5`);
        return;
      }
      value = parsed;
    }
    if (value === null) quality = 'bad';
    const unit = this.#unit(obx);
    if (unit.unknown && quality === 'good') quality = 'uncertain';
    const draft: EventDraft = {
      type: 'reading',
      deviceId: this.#deviceId(obx),
      sourceTime: this.#time(obx, group, label),
      receivedAt: this.#options.receivedAt,
      metric: mapping?.metric ?? (id.refid || id.code || `obx-${setId}`),
      value,
      unit: unit.ucum,
      quality,
      code: id.refid || mapping?.refid || id.code,
      source: `MSH-10 ${this.#header.controlId}${hierarchy ? ` OBX-4 ${hierarchy}` : ''}`,
    };
    this.#result.drafts.push(draft);
  }

  #number(valueType: string, raw: string): number | undefined {
    const msg = this.#msg;
    let text = msg.decode(raw);
    if (valueType === 'SN') {
      // SN = comparator ^ num1 ^ separator/suffix ^ num2: only a plain number (no comparator, no range) is a value.
      const parts = msg.components(raw);
      if ((parts[0] ?? '') !== '' || (parts[2] ?? '') !== '') return undefined;
      text = parts[1] ?? '';
    }
    if (!NM.test(text)) return undefined;
    const n = Number(text);
    return Number.isFinite(n) ? n : undefined;
  }

  #string(valueType: string, raw: string): string | undefined {
    const msg = this.#msg;
    if (CODED_TYPES.has(valueType)) {
      const parts = msg.components(raw);
      return (parts[1] ?? '') || (parts[0] ?? '') || undefined;
    }
    return msg.decode(raw);
  }

  #quality(status: string): Quality | 'skip' {
    const observations = this.#driver.driver.observations;
    if (status === '') return observations.missingStatus;
    return observations.resultStatus[status] ?? 'uncertain';
  }

  #unit(obx: Segment): { ucum: string | null; unknown: boolean } {
    const u = this.#coded(obx, 6);
    if (u.code === '' && u.refid === '') return { ucum: null, unknown: false };
    if (u.system.toUpperCase() === 'UCUM') return { ucum: u.code || u.refid, unknown: false };
    const known = this.#driver.units.get(u.code) ?? this.#driver.units.get(u.refid);
    if (known !== undefined) return { ucum: known, unknown: false };
    const verbatim = u.code || u.refid;
    if (!this.#result.unknownUnits.includes(verbatim)) this.#result.unknownUnits.push(verbatim);
    return { ucum: verbatim, unknown: true };
  }

  /** OBX-14, else OBR-7, else MSH-7; a time that does not parse is reported and the next one used. */
  #time(obx: Segment | undefined, group: Group, label: string): string | null {
    const msg = this.#msg;
    const candidates: [string, string][] = [
      [msg.text(obx, 14, 1), `${label} OBX-14`],
      [msg.text(group.obr, 7, 1), 'OBR-7'],
      [this.#header.time, 'MSH-7'],
    ];
    for (const [text, where] of candidates) {
      if (text === '') continue;
      const iso = parseHl7Time(text, this.#options.timezone);
      if (iso !== undefined) return iso;
      const problem = `${where}: ${JSON.stringify(text.slice(0, 30))} is not an HL7 date/time (YYYYMMDDHHMMSS[.SSSS][+HHMM])`;
      if (!this.#result.problems.includes(problem)) {
        this.#result.problems.push(problem);
        this.#result.locations.push(where.startsWith('MSH') ? 'MSH^1^7' : where.startsWith('OBR') ? 'OBR^1^7' : `OBX^${msg.text(obx, 1)}^14`);
      }
    }
    return null;
  }

  #values(): Record<string, string> {
    if (this.#placeholders) return this.#placeholders;
    const msg = this.#msg;
    const pv1 = msg.segment('PV1');
    const location = pv1 ? msg.repetitions(pv1, 3)[0] ?? '' : '';
    const bed = location === '' ? '' : msg.components(location).filter((c) => c !== '').join('-');
    const values: Record<string, string> = {
      sender: this.#header.sender,
      facility: this.#header.facility,
      bed,
    };
    // Read only when the template names it (the config allows {patient} only with patientIdentifiers).
    if (this.#options.deviceIdTemplate.includes('{patient}')) values.patient = msg.text(msg.segment('PID'), 3, 1);
    this.#placeholders = values;
    return values;
  }

  #deviceId(obx: Segment | undefined): string {
    const equipment = obx ? (this.#equipment.get(obx.index) ?? '') : '';
    const hierarchy = obx ? this.#msg.text(obx, 4) : '';
    const values: Record<string, string> = {
      ...this.#values(),
      equipment,
      device: equipment || this.#header.sender,
      hierarchy,
      mds: hierarchy.split('.')[0] ?? '',
    };
    const id = sanitizeDeviceId(this.#options.deviceIdTemplate.replace(/\{([a-z]+)\}/g, (_, name: string) => values[name] ?? ''));
    // A template whose parts are all empty for this message: the sending application still names the source.
    return id.replace(/^[-_.:]+|[-_.:]+$/g, '') === '' ? sanitizeDeviceId(this.#header.sender || 'unknown-sender') : id;
  }

  /** One alarm per OBR group (PCD-04: all OBX under an OBR describe one alarm, as facets told apart by OBX-4). */
  #alarm(group: Group): void {
    const msg = this.#msg;
    const alarms = this.#driver.driver.alarms;
    const facet = (refid: string): Segment | undefined => group.obx.find((o) => this.#coded(o, 3).refid === refid);
    const event =
      group.obx.find((o) => this.#coded(o, 3).refid.startsWith('MDC_EVT') || msg.text(o, 8) !== '' || alarms.events[this.#coded(o, 3).refid] !== undefined) ??
      (group.obx[0] as Segment);
    const eventId = this.#coded(event, 3);
    const label = `OBX ${msg.text(event, 1) || event.index} (${eventId.refid || eventId.code || 'no OBX-3'})`;
    // The source of a physiological alarm: the numeric facet (the measurement that crossed its limit).
    const source = group.obx.find((o) => o !== event && (msg.text(o, 2) === 'NM' || msg.text(o, 2) === 'SN'));
    const sourceId = source ? this.#coded(source, 3) : undefined;
    const sourceMapping = source && sourceId ? this.#lookup(sourceId, msg.text(source, 4)) : undefined;
    const sourceMetric = sourceMapping?.metric ?? (sourceId ? sourceId.refid || sourceId.code : undefined);
    let sourceValue: number | undefined;
    if (source) {
      const raw = msg.repetitions(source, 5)[0] ?? '';
      sourceValue = raw === '' ? undefined : this.#number(msg.text(source, 2), raw);
    }
    const facetText = (refid: string): string => {
      const f = facet(refid);
      return f ? msg.text(f, 5).toLowerCase() : '';
    };
    const phase = facetText('MDC_ATTR_EVENT_PHASE');
    const alarmState = facetText('MDC_ATTR_ALARM_STATE');
    const cleared = ['end', 'reset', 'stop'].includes(phase) || alarmState === 'inactive';
    const flags = msg.repetitions(event, 8).map((f) => msg.decode(f));
    const priority = flags.find((f) => alarms.priorities[f] !== undefined);
    const technical = flags.includes('ST');
    const suffix = alarms.events[eventId.refid] ?? alarms.events[eventId.code];
    const eventName = eventId.refid || eventId.code || 'alarm';
    const name = suffix !== undefined ? (sourceMetric && !technical ? `${sourceMetric}-${suffix}` : suffix) : sourceMetric && !technical ? `${sourceMetric}-${eventName}` : eventName;
    const text = msg.text(event, 5, 0) || eventId.refid || eventName;
    const alarm: Omit<AlarmEvent, 'schemaVersion' | 'id' | 'gatewayId' | 'seq'> = {
      type: 'alarm',
      deviceId: this.#deviceId(event),
      sourceTime: this.#time(event, group, label),
      receivedAt: this.#options.receivedAt,
      alarm: name,
      state: cleared ? 'cleared' : 'active',
      severity: priority === undefined ? alarms.defaultSeverity : (alarms.priorities[priority] ?? alarms.defaultSeverity),
      message: `${text}${technical ? ' (technical alarm)' : ''}${phase ? ` [${phase}${alarmState ? `, ${alarmState}` : ''}]` : alarmState ? ` [${alarmState}]` : ''}`,
      ...(sourceMetric === undefined ? {} : { metric: sourceMetric }),
      ...(sourceValue === undefined ? {} : { value: sourceValue }),
    };
    this.#result.drafts.push(alarm);
  }
}

/** Whether containment-tree position `outer` (e.g. 1.0.0.0 or 1.13.0.0) encloses `inner` (1.13.1.4). */
function encloses(outer: readonly string[], inner: readonly string[]): boolean {
  let shared = 0;
  for (let i = 0; i < outer.length; i += 1) {
    const level = outer[i] as string;
    if (level === '0' || level === '') continue;
    if (inner[i] !== level) return false;
    shared += 1;
  }
  return shared > 0 || outer.every((l) => l === '0' || l === '');
}

const HL7_TIME = /^(\d{4})(\d{2})?(\d{2})?(\d{2})?(\d{2})?(\d{2})?(?:\.(\d{1,4}))?(?:([+-])(\d{2})(\d{2}))?$/;

/**
 * An HL7 DTM/TS (`YYYY[MM[DD[HH[MM[SS[.S[S[S[S]]]]]]]]][+/-ZZZZ]`) → ISO UTC with milliseconds. With an offset it
 * is exact; without one the time is read in `zone`. Undefined when it is no valid time.
 */
export function parseHl7Time(text: string, zone: string): string | undefined {
  const m = HL7_TIME.exec(text.trim());
  if (!m) return undefined;
  const [year, month = '01', day = '01', hour = '00', minute = '00', second = '00'] = m.slice(1, 7) as (string | undefined)[];
  const fraction = m[7] ?? '';
  const ms = fraction === '' ? 0 : Math.round(Number(`0.${fraction}`) * 1000);
  // A day the month lacks (31 February) is no valid time; HL7 seconds are 00-59 (no leap second).
  const wall = Number(second) > 59 ? undefined : wallFields(Number(year), Number(month), Number(day), Number(hour), Number(minute), Number(second), ms);
  if (wall === undefined) return undefined;
  let utc: number;
  if (m[8] !== undefined) {
    const offsetMinutes = (Number(m[9]) * 60 + Number(m[10])) * (m[8] === '-' ? -1 : 1);
    if (Number(m[9]) > 14 || Number(m[10]) > 59) return undefined;
    utc = wall - offsetMinutes * 60_000;
  } else {
    utc = wallTimeToUtc(wall, zone);
  }
  const iso = new Date(utc);
  return Number.isNaN(iso.getTime()) ? undefined : iso.toISOString();
}

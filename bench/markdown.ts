/** The results as markdown: one section per scenario, then the targets. */

import { COMPILE_AFTER } from '../src/copy.js'
import { BEFORE_COMMIT } from './before.js'
import { type ContenderName, PEERS } from './contenders.js'
import { BEFORE_VARIANT, HERD_VARIANTS } from './herd-variants.js'
import { median, type RaceResult, round, type Spread } from './measure.js'
import { bytes, duration, fixed, int, ratio, table } from './report.js'
import type { ClusterResult } from './scenarios/cluster.js'
import type { ExpireGroupResult } from './scenarios/expire-group.js'
import type { FleetResult } from './scenarios/fleet.js'
import type { HerdResult, HerdVariantResult } from './scenarios/herd.js'
import type { KeyUsage, MemoryResult } from './scenarios/memory.js'
import type { NearContenderName, NearResult } from './scenarios/near.js'
import type { NextResult } from './scenarios/next.js'
import type { ThroughputResult } from './scenarios/throughput.js'
import type { TracingContenderName, TracingResult } from './scenarios/tracing.js'

export interface Results {
  throughput?: ThroughputResult
  expireGroup?: ExpireGroupResult
  memory?: MemoryResult
  fleet?: FleetResult
  herd?: HerdResult
  near?: NearResult
  next?: NextResult
  cluster?: ClusterResult
  tracing?: TracingResult
}

/** Median over rounds of a's ops/s over b's in the same round. */
export function roundRatio(race: RaceResult, a: ContenderName, b: ContenderName): number {
  const ra = race.contenders.find((c) => c.name === a)?.rounds ?? []
  const rb = race.contenders.find((c) => c.name === b)?.rounds ?? []
  return median(ra.map((x, i) => x.opsPerSec / (rb[i]?.opsPerSec ?? Number.NaN)).filter(Number.isFinite))
}

function raceRows(races: readonly RaceResult[]): string[][] {
  return races.flatMap((race) =>
    race.contenders.map((c) => [
      race.name,
      `${race.concurrency}`,
      c.name,
      int(c.opsPerSec.median),
      `${int(c.opsPerSec.min)}–${int(c.opsPerSec.max)}`,
      c.name === 'plain' ? '1' : ratio(c.ratioToPlain),
      fixed(c.p50Us, 1),
      fixed(c.p99Us, 1),
      fixed(c.clientCpuUsPerOp, 1),
      c.serverUsPerOp === undefined ? 'n/a' : fixed(c.serverUsPerOp, 1),
    ]),
  )
}

const RACE_HEADERS = [
  'scenario',
  'conc.',
  'contender',
  'ops/s median',
  'ops/s min–max',
  'ratio to plain, median (min–max)',
  'p50 µs',
  'p99 µs',
  'client CPU µs/op',
  'Redis CPU µs/op',
]

export function throughputSection(t: ThroughputResult): string {
  const gets = t.races.filter((r) => r.name.startsWith('get hit'))
  const rest = t.races.filter((r) => !r.name.startsWith('get hit'))
  const naRows = rest
    .filter((r) => r.name.startsWith('getMany'))
    .flatMap((r) =>
      PEERS.filter((peer) => !r.contenders.some((c) => c.name === peer)).map((peer) => [
        r.name,
        `${r.concurrency}`,
        peer,
        ...RACE_HEADERS.slice(3).map(() => 'n/a'),
      ]),
    )
  const vsBento = gets
    .filter((r) => !r.name.includes(' 0 groups'))
    .map((r) => [r.name, `${r.concurrency}`, `${fixed(roundRatio(r, 'group-cache', 'bentocache'), 1)}x`])
  return [
    '## 1. get hit, 1 KiB JSON value',
    '',
    'Plain reads the same values without groups. Ratio: contender / plain in the same round, median over rounds.',
    'Client CPU: this Node process (process.cpuUsage) per op; Redis CPU: the redis-server process (INFO cpu) per op, own server only.',
    '',
    table(RACE_HEADERS, raceRows(gets), [1, 3, 4, 5, 6, 7, 8, 9]),
    '',
    'group-cache ops/s over BentoCache ops/s (tagged get), median of per-round ratios:',
    '',
    table(['scenario', 'conc.', 'group-cache / bentocache'], vsBento, [1, 2]),
    '',
    '## 2. set, wrap on a hit, getMany',
    '',
    'wrap: group-cache `wrap`, BentoCache `getOrSet`, async-cache-dedupe defined function (distinct keys in flight;',
    `calls answered by its in-process dedupe while timed: ${t.acdDedupesDuringWrap}), plain GET + parse.`,
    'getMany: group-cache `getMany` vs plain MGET + parse; BentoCache 1.6 and async-cache-dedupe 3.4 have no batch read (n/a).',
    '',
    table(RACE_HEADERS, [...raceRows(rest), ...naRows], [1, 3, 4, 5, 6, 7, 8, 9]),
  ].join('\n')
}

export function expireGroupSection(e: ExpireGroupResult): string {
  const rows = e.contenders.flatMap((c) =>
    c.sizes.map((s) => [
      c.name,
      int(s.size),
      `${fixed(s.populateS, 1)} s (${int(s.populateRate)}/s)`,
      duration(s.firstMs),
      `${duration(s.medianMs)} (${s.samplesMs.length})`,
      `${duration(Math.min(...s.samplesMs))}–${duration(Math.max(...s.samplesMs))}`,
      s.controlMs.length > 0 ? duration(median(s.controlMs)) : 'n/a',
      s.pairRatio === undefined ? 'n/a' : `${fixed(s.pairRatio)}x`,
    ]),
  )
  const stops = e.contenders.map((c) =>
    c.stopped
      ? `- ${c.name}: stopped at ${int(c.stopped.size)} members: ${c.stopped.reason}.`
      : `- ${c.name}: ran every size, no invalidation over ${e.slowMs / 1000} s.`,
  )
  const gc = e.contenders.find((c) => c.name === 'group-cache')
  const one = gc?.sizes.find((s) => s.size === 1)
  const biggest = gc?.sizes.at(-1)
  const gcLines =
    one && biggest && biggest.size > 1
      ? [
          '',
          `group-cache, ${int(biggest.size)} members vs 1 member: median ${duration(biggest.medianMs)} vs ${duration(one.medianMs)} = ` +
            `${fixed(biggest.medianMs / one.medianMs)}x across sizes; timed in alternating pairs with a 1-member group ` +
            `in the same state: ${fixed(biggest.pairRatio ?? Number.NaN)}x (median of per-pair ratios; target ≤ 1.2x).`,
        ]
      : []
  return [
    '## 3. expireGroup latency against group size',
    '',
    'Members written through each library (256 calls in flight). "first": the first call, members live. group-cache and',
    'BentoCache leave members in place (a version, a timestamp), so further calls are timed too, in pairs alternating with',
    'the invalidation of a 1-member control group; async-cache-dedupe deletes its members, so each sample repopulates',
    '(up to 1,000 members; one sample above). Every invalidation is checked: sampled members miss afterwards.',
    '',
    table(
      [
        'contender',
        'members',
        'populate',
        'first call',
        'median (samples)',
        'min–max',
        '1-member control',
        'group / control',
      ],
      rows,
      [1, 3, 4, 5, 6, 7],
    ),
    '',
    ...stops,
    ...gcLines,
  ].join('\n')
}

const usageText = (u: KeyUsage) =>
  u.bytes === null ? 'none' : `${bytes(u.bytes)} ${u.encoding}${u.size === null ? '' : ` (${u.size})`}`

export function memorySection(m: MemoryResult): string {
  const rows = m.rows.map((r) => [
    r.contender,
    r.label,
    bytes(r.perEntryBytes),
    `${fixed(r.ratioToPlain)}x`,
    r.entryKeys.map(usageText).join(' + '),
    r.groupKeys.length === 0 ? '–' : r.groupKeys.map(usageText).join(', '),
  ])
  const gc0 = m.rows.find((r) => r.contender === 'group-cache' && r.label === '0 groups')
  const gc3 = m.rows.find((r) => r.contender === 'group-cache' && r.label === '3 groups')
  const plain = m.rows.find((r) => r.contender === 'plain')
  const entryBytes = (r: typeof gc0) => r?.entryKeys[0]?.bytes ?? Number.NaN
  const length = (r: typeof gc0) => r?.entryKeys[0]?.length ?? Number.NaN
  const lines = [
    '## 4. memory per entry',
    '',
    `INFO used_memory delta over ${int(m.entries)} entries of the same 1 KiB JSON value, divided by the entries; groups are`,
    'drawn from a pool of 100 (so group keys are shared), except in the "one of them per entry" row. MEMORY USAGE (SAMPLES 0)',
    "of entry 0's keys and of its groups' keys (encoding, and members of a hash or set in parentheses). Peers write with a 1 h",
    'TTL (async-cache-dedupe requires one, BentoCache defaults to 30 min); plain and group-cache without.',
    '',
    table(['contender', 'groups', 'bytes/entry', 'vs plain', 'MEMORY USAGE of the entry', 'group keys'], rows, [2, 3]),
    '',
    `- An entry is one string: the value, and before it the snapshot (a version per group) and the group names. Entry 0's`,
    `  is ${bytes(length(gc0) - length(plain))} longer than the plain value with 0 groups and ${bytes(length(gc3) - length(plain))} with 3, which the allocator's size`,
    `  classes absorb here: ${bytes(entryBytes(gc0))} with 0 groups, ${bytes(entryBytes(gc3))} with 3, against ${bytes(entryBytes(plain))} for the plain key.`,
    `  A group version key costs ${bytes(gc3?.groupKeys[0]?.bytes ?? Number.NaN)} once per group (shared by all its entries).`,
  ]
  const acd = m.rows.find((r) => r.contender === 'async-cache-dedupe')
  const reference = acd?.groupKeys.find((k) => k.bytes !== null && (k.size ?? 0) > 0)
  if (reference?.bytes && reference.size) {
    lines.push(
      `- async-cache-dedupe keeps a set per reference (\`${reference.key}\`: ${int(reference.size)} members, ` +
        `~${bytes(reference.bytes / reference.size)} per member) and a set of references per key (\`k:<key>\`).`,
    )
  }
  if (m.rows.some((r) => r.contender === 'bentocache')) {
    lines.push(
      "- BentoCache stores tags in the entry's JSON; a tag key exists only once the tag was invalidated (none here).",
    )
  }
  return lines.join('\n')
}

export function fleetSection(f: FleetResult): string {
  const rows = f.contenders.map((c) => [
    c.name,
    c.invalidation,
    int(c.opsPerSec.median),
    `${int(c.opsPerSec.min)}–${int(c.opsPerSec.max)}`,
    `${fixed(c.ratioToGroupCache)}x`,
    `${fixed(c.hitRate * 100, 1)}%`,
    c.nearHitShare === undefined ? '–' : `${fixed(c.nearHitShare * 100, 1)}%`,
  ])
  const outOfSync = f.contenders.flatMap((c) =>
    c.rounds.some((r) => r.nearOutOfSync > 0)
      ? [
          `- ${c.name}: a near cache was out of sync at the end of ${c.rounds.filter((r) => r.nearOutOfSync > 0).length} ` +
            `of ${c.rounds.length} rounds.`,
        ]
      : [],
  )
  return [
    '## 5. fleet',
    '',
    `${f.processes} processes (child_process.fork with tsx), ${f.concurrencyPerProcess} calls in flight each, ${f.rounds} round(s) of ` +
      `${f.roundMs / 1000} s per contender (rotated order): 90% wrap / 9% set / 1% invalidation of one of ${f.groups} groups,`,
    `over ${int(f.keys)} keys with 3 groups each. Plain has no groups: it is a read-through (GET, on a miss SET) whose 1% is`,
    'a DEL of one key. Hit rate: share of wrap calls whose function did not run. Each group invalidation hits ~3% of the keys',
    '(every key is in 3 of the 100 groups), so at 1% of the ops most entries are invalidated before they are read again:',
    'the workload, not the cache, caps the hit rate of the three grouped caches.',
    `The near rows are group-cache with \`nearCache: { maxEntries: ${f.nearMaxEntries}, consistency: 'strict' }\` (values` +
      " copied; frozen: `values: 'frozen'`),",
    'a near cache in each process, on a namespace of their own, in the same rotation. Near hits: share of the wrap calls',
    "the processes' near caches served (their `nearCacheStats().hits` over the wraps), median over rounds; vs group-cache:",
    'ops/s over group-cache without a near cache in the same round, median over rounds. A process holds a key only once',
    'it read it from Redis (then one more MGET + PTTL, tracked), and a write or an invalidation of one of its groups drops',
    'it; with the keys drawn uniformly, a process comes back to a key far less often than that happens here.',
    '',
    table(
      ['contender', 'the 1%', 'ops/s median', 'ops/s min–max', 'vs group-cache', 'wrap hit rate', 'near hits'],
      rows,
      [2, 3, 4, 5, 6],
    ),
    ...(outOfSync.length > 0 ? ['', ...outOfSync] : []),
  ].join('\n')
}

const perCall = (x: number): string => (Number.isFinite(x) ? fixed(x, 1) : 'n/a')

export function herdSection(h: HerdResult): string {
  const fill = `${h.fillMs} ms`
  // Rows in HERD_VARIANTS order, those not measured in their place.
  const order = (name: string) => HERD_VARIANTS.indexOf(name as (typeof HERD_VARIANTS)[number])
  const inOrder = (rows: string[][]) => rows.sort((a, b) => order(a[0] as string) - order(b[0] as string))
  /** A row of `columns` cells for a variant not measured (its reason is in the text). */
  const notMeasured = (columns: number, description: boolean) =>
    h.notMeasured.map((x) => {
      const row = [x.name, ...(description ? [x.description] : []), 'not measured']
      return [...row, ...Array.from({ length: columns - row.length }, () => '–')]
    })
  const main = h.variants.map((v) => [
    v.name,
    v.description,
    int(v.functionCalls),
    fixed(v.callsPerKeyInvalidation),
    int(v.kinds.waiter.calls),
    duration(v.kinds.waiter.p50Ms),
    duration(v.kinds.waiter.p99Ms),
    perCall(v.kinds.waiter.commandsPerCall),
    int(v.kinds.stale.calls),
    duration(v.kinds.stale.p50Ms),
    duration(v.kinds.stale.p90Ms),
    Number.isFinite(v.staleP90ToFill) ? `${fixed(v.staleP90ToFill, 3)}x` : 'n/a',
    perCall(v.kinds.stale.commandsPerCall),
  ])
  const rest = h.variants.map((v: HerdVariantResult) => [
    v.name,
    int(v.wraps),
    int(v.kinds.hit.calls),
    duration(v.kinds.hit.p50Ms),
    perCall(v.kinds.hit.commandsPerCall),
    int(v.kinds.filler.calls),
    duration(v.kinds.filler.p50Ms),
    perCall(v.kinds.filler.commandsPerCall),
    `${int(v.redis.sentByWorkers)} (${fixed(v.redis.sentPerWrap)})`,
    `${int(v.redis.ranByRedis)} (${fixed(v.redis.ranPerWrap)})`,
    v.maxStaleness === 0 ? '–' : `${v.maxStaleness}`,
    duration(v.writerMedianMs),
  ])
  const runS = ((h.invalidations + 1) * h.periodMs) / 1000
  const skipped = h.notMeasured.find((x) => x.name === BEFORE_VARIANT)
  // Keys a process's callers reach after an invalidation before all of them wait on fills (one draw each).
  const reached = h.keys * (1 - (1 - 1 / h.keys) ** h.concurrencyPerProcess)
  const beforeNote = [
    `- Before and after: ${BEFORE_VARIANT} is the library at commit ${h.before?.commit ?? BEFORE_COMMIT},`,
    '  the last before the fleet-wide fill lease: its src/ and lua/, written from git into `.bench-before/` and imported as',
    '  source, run like group-cache (no grace, which it did not have; its defaults, so a 30 s lease). Callers in one',
    '  process share a fill, but each process fills on its own: at most one function call per process per (key,',
    `  invalidation), ${h.processes} here. Somewhat fewer in practice: after an invalidation each caller misses on the key it`,
    `  drew and waits ${fill} for a fill, so the ${h.concurrencyPerProcess} callers of a process reach about ${fixed(reached, 1)} of the ${h.keys} keys`,
    `  (${h.keys} x (1 - (1 - 1/${h.keys})^${h.concurrencyPerProcess})) before all of them wait, and by the time they read the others another`,
    `  process has stored them: about ${fixed((h.processes * reached) / h.keys)} per (key, invalidation), an estimate. group-cache is the same run with`,
    '  the fill lease: one fill per key for the fleet.',
    ...(skipped ? [`  Not measured in this run: ${skipped.reason}.`] : []),
  ]
  return [
    '## 6. herd: hot keys under invalidation',
    '',
    `${h.processes} processes (child_process.fork with tsx), ${h.concurrencyPerProcess} callers in each calling wrap in a loop, each`,
    `call on one of ${h.keys} hot keys drawn at random, all in group \`users\` (and each in one of its own). The function "reads`,
    `the database": it sleeps ${fill}, then reads the row. A writer (the parent process) moves every row every ${h.periodMs / 1000} s`,
    `(every process acknowledges the new rows), then calls expireGroup('users') (BentoCache: deleteByTag): ${h.invalidations}`,
    `invalidations per variant over ${runS} s of callers, after a ${h.warmupMs / 1000} s warm-up; the variants run one after the`,
    `other, each on an emptied Redis. group-cache grace has \`grace: ${h.grace}\`; BentoCache's grace counts from the write, so`,
    'it is 6 h there (its TTL is 1 h), and its stampede protection is a lock per key in each process. One run per variant.',
    '',
    '- Function calls per (key, invalidation): calls of the function in all processes during the timed run, over',
    `  ${h.keys} keys x the invalidations. 1.00 is one fill per key for the whole fleet.`,
    '- Each wrap call is dated by its epoch: the invalidations whose expireGroup had resolved when it started (one monotonic',
    '  clock for all processes). Grace reader: it returned a row older than its epoch (the previous value). Filler: it',
    '  returned the row its own function produced. Waiting caller: any other call that started after an invalidation and',
    "  before Redis acknowledged the first store of a fresh row of its key (seen through group-cache's own `set`, which its",
    "  fills store through, and BentoCache's SET of the entry), i.e. while no fresh value existed yet: it waited for a",
    "  fill, in its process or another's. Hit: the rest. Without grace, waiting callers are the herd; with grace, they are",
    '  the few calls that started just before the refreshed value landed and read it.',
    '- Commands per call: the Redis commands each process sent in the async context of calls of that kind',
    '  (AsyncLocalStorage around each wrap, counted on its connection), background work they started included: a refresh',
    '  within grace counts to the grace reader that started it, a wait shared by callers of one process to the first.',
    '  "Redis ran": INFO commandstats over the timed run, all clients, INFO itself left out; it counts the commands the',
    '  scripts call too, so it exceeds what was sent.',
    ...beforeNote,
    '',
    table(
      [
        'variant',
        'setup',
        'function calls',
        'per (key, invalidation)',
        'waiting callers',
        'waiting p50',
        'waiting p99',
        'cmds / waiting caller',
        'grace readers',
        'grace p50',
        'grace p90',
        `grace p90 / ${fill}`,
        'cmds / grace reader',
      ],
      inOrder([...main, ...notMeasured(13, true)]),
      [2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12],
    ),
    '',
    table(
      [
        'variant',
        'wrap calls',
        'hits',
        'hit p50',
        'cmds / hit',
        'fillers',
        'filler p50',
        'cmds / filler',
        'commands sent (per wrap)',
        'Redis ran (per wrap)',
        'stale by (invalidations)',
        'writer: update + expire, median',
      ],
      inOrder([...rest, ...notMeasured(12, false)]),
      [1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11],
    ),
  ].join('\n')
}

const NEAR_DESCRIPTIONS: Record<NearContenderName, string> = {
  plain: 'ioredis GET + JSON.parse',
  'group-cache': 'get, no near cache',
  'near strict': "get, nearCache 'strict'",
  'near eventual': "get, nearCache 'eventual'",
  'near strict frozen': "get, nearCache 'strict', values 'frozen'",
  'near eventual frozen': "get, nearCache 'eventual', values 'frozen'",
}

/** The near scenario's ratio to plain (median of per-round ratios) of a contender at a concurrency. */
function nearRatio(n: NearResult | undefined, name: NearContenderName, concurrency: number): number | undefined {
  const race = n?.races.find((r) => r.concurrency === concurrency)
  return race?.contenders.find((c) => c.name === name)?.ratioToPlain.median
}

function nearCommands(n: NearResult | undefined, name: NearContenderName, concurrency: number): number | undefined {
  const race = n?.races.find((r) => r.concurrency === concurrency)
  return race?.contenders.find((c) => c.name === name)?.commandsPerGet
}

/** The near cache's targets (also in the Targets section). */
function nearTargets(n: NearResult | undefined, add: AddTarget): void {
  add("near 'strict', c=64: ≥ 3x plain GET + JSON.parse", nearRatio(n, 'near strict', 64), (x) => x >= 3)
  add("near 'strict', c=64: ≥ 5x plain (the aim)", nearRatio(n, 'near strict', 64), (x) => x >= 5)
  add("near 'strict', c=1: ≥ 0.95x plain", nearRatio(n, 'near strict', 1), (x) => x >= 0.95)
  add("near 'eventual', c=64: ≥ 20x plain", nearRatio(n, 'near eventual', 64), (x) => x >= 20)
  add("near 'strict', values 'frozen', c=64: ≥ 3x plain", nearRatio(n, 'near strict frozen', 64), (x) => x >= 3)
  add(
    "near 'strict', values 'frozen', c=64: ≥ 5x plain (the aim)",
    nearRatio(n, 'near strict frozen', 64),
    (x) => x >= 5,
  )
  add("near 'strict', values 'frozen', c=1: ≥ 0.95x plain", nearRatio(n, 'near strict frozen', 1), (x) => x >= 0.95)
  add("near 'eventual', values 'frozen', c=64: ≥ 20x plain", nearRatio(n, 'near eventual frozen', 64), (x) => x >= 20)
  add("near 'strict', c=64: ≤ 0.25 Redis commands per get", nearCommands(n, 'near strict', 64), (x) => x <= 0.25, '', 3)
}

const spreadRow = (name: string, x: Spread): string[] => [name, int(x.median), `${int(x.min)}–${int(x.max)}`]

export function nearSection(n: NearResult): string {
  const rows = n.races.flatMap((race) =>
    race.contenders.map((c) => [
      `${race.concurrency}`,
      c.name,
      NEAR_DESCRIPTIONS[c.name],
      int(c.opsPerSec.median),
      `${int(c.opsPerSec.min)}–${int(c.opsPerSec.max)}`,
      c.name === 'plain' ? '1' : ratio(c.ratioToPlain),
      fixed(c.p50Us, 1),
      fixed(c.p99Us, 1),
      fixed(c.clientCpuUsPerOp, 2),
      c.serverUsPerOp === undefined ? 'n/a' : fixed(c.serverUsPerOp, 2),
      c.commandsPerGet === undefined ? 'n/a' : fixed(c.commandsPerGet, 3),
      c.nearHitShare === undefined ? '–' : `${fixed(c.nearHitShare * 100, 1)}%`,
    ]),
  )
  const byCommand = n.races
    .filter((race) => race.concurrency === 64)
    .flatMap((race) =>
      race.contenders
        .filter((c) => c.name.startsWith('near') && c.commandsPerGet !== undefined)
        .map((c) => {
          const list = Object.entries(c.byCommand)
            .sort((a, b) => b[1] - a[1])
            .map(([command, calls]) => `${command} ${int(calls)}`)
          return `- ${c.name}, c=64: ${int(c.gets)} gets, Redis ran ${list.length === 0 ? 'nothing' : list.join(', ')}.`
        }),
    )
  const list: Target[] = []
  nearTargets(n, addTo(list))
  const s = n.staleness
  const all = s.windowsMs.flat().length
  const c = n.copy
  const plain64 =
    n.races.find((r) => r.concurrency === 64)?.contenders.find((x) => x.name === 'plain')?.opsPerSec.median ??
    Number.NaN
  return [
    "## 7. near cache: a hot key's get",
    '',
    `One key, the same ${n.valueBytes} B JSON value as the other scenarios, stored under ${n.groups.length} groups; plain stores it`,
    `without groups. N loops each awaiting one get after another; warm-up, then ${n.settings.rounds} rounds of ${n.settings.roundMs} ms`,
    'per contender, order rotated every round. Each near cache was in sync and held the key before timing; "near hits" is',
    'the share of the timed gets it served from memory (its `hits`). Ratio: contender / plain in the same round, median',
    '(min–max) over rounds. Redis cmds/get: every command the redis-server counted (INFO commandstats, INFO itself left',
    "out) during the contender's timed part, over its gets; own server only. Client CPU: this Node process per get.",
    n.library === null
      ? 'The library: dist/ as built by `npm run bench` (not a git checkout: its source is not known).'
      : n.library.uncommitted.length === 0
        ? `The library: dist/ as built by \`npm run bench\` from commit ${n.library.commit} (src/ and lua/ as committed).`
        : `The library: dist/ as built by \`npm run bench\` from the working tree: commit ${n.library.commit} with uncommitted ` +
          `changes to ${n.library.uncommitted.join(', ')}.`,
    '',
    table(
      [
        'conc.',
        'contender',
        'what',
        'ops/s median',
        'ops/s min–max',
        'ratio to plain, median (min–max)',
        'p50 µs',
        'p99 µs',
        'client CPU µs/op',
        'Redis CPU µs/op',
        'Redis cmds/get',
        'near hits',
      ],
      rows,
      [0, 3, 4, 5, 6, 7, 8, 9, 10, 11],
    ),
    '',
    ...byCommand,
    '',
    table(
      ['target', 'measured', 'met'],
      list.map((t) => [t.target, t.measured, t.met === undefined ? '–' : t.met ? 'yes' : '**no**']),
      [1],
    ),
    '',
    "### 'eventual': the staleness window",
    '',
    `${s.processes} processes (child_process.fork with tsx), each with an eventual near cache holding the key; a cache in the`,
    `parent (no near cache) ran expireGroup ${s.invalidations} times, ${s.periodMs} ms apart, on one of the key's groups in turn,`,
    'storing the value again before each and waiting until every process held it and was watching. Window: from',
    'expireGroup resolving in the parent to the process finding the key gone (`nearCacheStats().held` checked every',
    `${s.pollMs} ms: Atomics.wait, then one event-loop turn), both read on CLOCK_MONOTONIC (process.hrtime), one clock for`,
    "every process of the machine. A process that had dropped the key before the parent read expireGroup's reply counts 0.",
    'The watchers are otherwise idle; a busy event loop adds its own lag to the window.',
    '',
    table(
      [
        'processes',
        'invalidations',
        'windows',
        'p50',
        'p99',
        'max',
        'dropped before expireGroup resolved',
        'not dropped in 2 s',
        'expireGroup median',
      ],
      [
        [
          `${s.processes}`,
          int(s.invalidations),
          int(all),
          duration(s.p50Ms),
          duration(s.p99Ms),
          duration(s.maxMs),
          `${int(s.droppedBeforeResolve)} (${fixed((s.droppedBeforeResolve / Math.max(1, all)) * 100, 1)}%)`,
          int(s.notDropped),
          duration(s.expireMedianMs),
        ],
      ],
      [0, 1, 2, 3, 4, 5, 6, 7, 8],
    ),
    '',
    '### The copy on each hit',
    '',
    `With \`values: 'copied'\` no two callers share one object: with the JSON serializer a hit hands out a copy of the value decoded once (walked at first, then by a function compiled for the value's shape once the entry was copied ${COMPILE_AFTER} times), with another a value decoded anew. In one`,
    `process, ${int(c.iterations)} calls per round, ${c.rounds} interleaved rounds, on the ${int(c.textBytes)} B value; in the same`,
    "rounds, the eventual near cache's get of the held key, awaited one after another:",
    '',
    table(
      ['call', 'ns per call, median', 'min–max'],
      [
        spreadRow('JSON.parse of the text (decoding anew)', c.parseNs),
        spreadRow('structuredClone of the parsed value', c.cloneNs),
        spreadRow("jsonCopy of the parsed value (a 'copied' hit's first copies)", c.copyNs),
        spreadRow("compiled copy of the parsed value (a 'copied' hit's copies after that)", c.compiledNs),
        spreadRow("near 'eventual' get, a hit (c=1)", c.hitNs),
      ],
      [1, 2],
    ),
    '',
    `structuredClone / JSON.parse: ${ratio(c.cloneToParse)}; jsonCopy / JSON.parse: ${ratio(c.copyToParse)}; compiled copy / JSON.parse: ${ratio(c.compiledToParse)}; JSON.parse / the eventual hit: ${ratio(c.parseToHit)}`,
    '(medians of per-round ratios). JSON.parse alone caps hits at ' +
      `${int(1e9 / c.parseNs.median)} per second on one core: ${fixed(1e9 / c.parseNs.median / plain64)}x plain's median at c=64.`,
  ].join('\n')
}

export interface Target {
  target: string
  measured: string
  met: boolean | undefined
}

type AddTarget = (
  target: string,
  value: number | undefined,
  ok: (x: number) => boolean,
  unit?: string,
  digits?: number,
) => void

const addTo =
  (out: Target[]): AddTarget =>
  (target, value, ok, unit = 'x', digits = 2) =>
    out.push({
      target,
      measured: value === undefined ? 'not run' : `${fixed(value, digits)}${unit}`,
      met: value === undefined ? undefined : ok(value),
    })

export function targets(r: Results): Target[] {
  const out: Target[] = []
  const race = (name: string, concurrency: number) =>
    r.throughput?.races.find((x) => x.name === name && x.concurrency === concurrency)
  const vsPlain = (name: string, concurrency: number) =>
    race(name, concurrency)?.contenders.find((c) => c.name === 'group-cache')?.ratioToPlain?.median
  const add = addTo(out)
  add('get hit, 3 groups, c=64: ≥ 0.90x plain', vsPlain('get hit, 3 groups', 64), (x) => x >= 0.9)
  add('get hit, 3 groups, c=1: ≥ 0.95x plain', vsPlain('get hit, 3 groups', 1), (x) => x >= 0.95)
  add('set, 3 groups, c=64: ≥ 0.75x plain', vsPlain('set, 3 groups', 64), (x) => x >= 0.75)
  for (const c of [1, 64]) {
    const g = race('get hit, 3 groups', c)
    add(`get hit, 3 groups, c=${c}: ≥ 10x BentoCache`, g && roundRatio(g, 'group-cache', 'bentocache'), (x) => x >= 10)
  }
  const gc = r.expireGroup?.contenders.find((c) => c.name === 'group-cache')
  const one = gc?.sizes.find((s) => s.size === 1)
  const million = gc?.sizes.find((s) => s.size === 1_000_000)
  add('expireGroup, 1M members: ≤ 1.2x 1 member (alternating pairs)', million?.pairRatio, (x) => x <= 1.2)
  add(
    'expireGroup, 1M members: ≤ 1.2x 1 member (medians across sizes)',
    million && one ? round(million.medianMs / one.medianMs, 3) : undefined,
    (x) => x <= 1.2,
  )
  const mem = r.memory?.rows.find((x) => x.contender === 'group-cache' && x.label === '3 groups')
  add('memory, 3 groups: ≤ 1.5x plain SET', mem?.ratioToPlain, (x) => x <= 1.5)
  const herd = (name: string) => r.herd?.variants.find((v) => v.name === name)
  const processes = r.herd?.processes ?? 4
  for (const name of ['group-cache', 'group-cache grace']) {
    add(
      `herd, ${processes} processes, ${name}: ≤ 1.1 function calls per (key, invalidation)`,
      herd(name)?.callsPerKeyInvalidation,
      (x) => x <= 1.1,
      '',
    )
  }
  add(
    "herd, group-cache grace: grace readers' p90 < 0.3x the function's time",
    herd('group-cache grace')?.staleP90ToFill,
    (x) => x < 0.3,
  )
  nearTargets(r.near, add)
  return out
}

export function nextSection(n: NextResult): string {
  return [
    '## 8. Next.js: revalidateTag against the entries under the tag',
    '',
    'The incremental cache handler (redis-group-cache/next): pages stored as Next stores them (a get that misses, then a set naming the tag in `x-next-cache-tags`), one ~1 KiB APP_PAGE value each; then `revalidateTag([tag], { expire: 0 })` timed, ' +
      `${n.pairs} times, each beside one of a 1-entry tag; a member misses afterwards. Bytes per entry: Redis used_memory after populating, less before, over the entries.`,
    '',
    table(
      [
        'entries under the tag',
        'revalidateTag median ms',
        '1-entry tag median ms',
        'ratio',
        'bytes per entry',
        'value bytes as stored',
        'populate s',
      ],
      n.sizes.map((s) => [
        int(s.size),
        fixed(s.medianMs, 3),
        fixed(s.controlMedianMs, 3),
        fixed(s.medianMs / s.controlMedianMs, 2),
        // one entry's share of used_memory is the allocator's noise
        s.size >= 1000 ? int(s.bytesPerEntry) : '–',
        int(s.valueBytes),
        fixed(s.populateS, 1),
      ]),
      [0, 1, 2, 3, 4, 5, 6],
    ),
    '',
    `Not measured: ${n.notRun}`,
  ].join('\n')
}

export function clusterSection(c: ClusterResult): string {
  const trips = (x: number) => fixed(x, 1)
  return [
    '## 9. A Redis Cluster of 3 masters, under both shardings, against one server',
    '',
    `Round trips: each master (and the single server) behind a proxy delaying every chunk ${c.delayMs} ms each way; one call at a time, ` +
      `the median of ${c.samples} calls over the median PING (${fixed(c.pingMs.single, 1)} ms to the server, ${fixed(c.pingMs.cluster, 1)} ms to a master). ` +
      'Commands sent at once count as one round trip.',
    '',
    table(
      ['call', 'single server', "Cluster, 'namespace'", "Cluster, 'key'"],
      c.roundTrips.map((row) => [row.call, trips(row.single), trips(row.namespace), trips(row.key)]),
      [1, 2, 3],
    ),
    '',
    `Load: ${c.processes} client processes x ${c.concurrencyPerProcess} calls in flight, the fleet's mix (90% wrap / 9% set / 1% expireGroup, 3 groups of 100 per key) over ` +
      `${int(c.keys)} keys, ${c.rounds} rounds of ${duration(c.roundMs)} per target, targets rotated. Redis CPU per node: CPU seconds over wall seconds ` +
      '(1.00 is one core), median over rounds; keys: what the target left on each node. Clients and servers share this machine: the per-node CPU says where the work went.',
    '',
    table(
      ['target', 'ops/s (median, min-max)', 'vs single server', 'Redis CPU per node', 'keys per node', 'errors'],
      c.load.map((t) => [
        t.name,
        `${int(t.opsPerSec.median)} (${int(t.opsPerSec.min)}-${int(t.opsPerSec.max)})`,
        `${fixed(t.ratioToSingle, 2)}x`,
        t.nodes.map((n) => fixed(n.cpu, 2)).join(' / '),
        t.nodes.map((n) => int(n.keys)).join(' / '),
        int(t.errors + t.wrong),
      ]),
      [1, 2],
    ),
  ].join('\n')
}

export function targetsSection(list: readonly Target[]): string {
  return [
    '## Targets',
    '',
    table(
      ['target', 'measured', 'met'],
      list.map((t) => [t.target, t.measured, t.met === undefined ? '–' : t.met ? 'yes' : '**no**']),
      [1],
    ),
  ].join('\n')
}

const TRACING_DESCRIPTIONS: Record<TracingContenderName, string> = {
  plain: 'ioredis GET + JSON.parse',
  redis: 'get from Redis, no subscriber',
  'redis traced': 'get from Redis, a subscriber on every channel',
  near: 'get from an eventual near cache, no subscriber',
  'near traced': 'get from an eventual near cache, a subscriber on every channel',
}

export function tracingSection(t: TracingResult): string {
  const c = t.counters
  return [
    '## 10. What observing the hit path costs: tracing channels and counters',
    '',
    `One hot key (${t.rounds} rounds of ${t.roundMs} ms per contender, order rotated every round). "Traced": a subscriber on`,
    "every `redis-group-cache:<operation>` tracing channel, for that contender's loop alone, summing the contexts' hits",
    'and misses on asyncEnd as a metrics exporter would ("hits seen per get": 1 when it saw every get, each a hit). Ratios',
    'within a round, median (min–max) over rounds. Untraced, a call costs one `hasSubscribers` check.',
    '',
    table(
      [
        'conc.',
        'contender',
        'what',
        'ops/s median',
        'ratio to plain',
        'traced / untraced',
        'p50 µs',
        'p99 µs',
        'client CPU µs/get',
        'hits seen per get',
      ],
      t.races.flatMap((race) =>
        race.contenders.map((x) => [
          `${race.concurrency}`,
          x.name,
          TRACING_DESCRIPTIONS[x.name],
          int(x.opsPerSec.median),
          x.name === 'plain' ? '1' : ratio(x.ratioToPlain),
          x.ratioToUntraced ? ratio(x.ratioToUntraced) : '–',
          fixed(x.p50Us, 1),
          fixed(x.p99Us, 1),
          fixed(x.clientCpuUsPerOp, 2),
          x.seenHitsPerGet === undefined ? '–' : fixed(x.seenHitsPerGet, 3),
        ]),
      ),
      [0, 3, 6, 7, 8, 9],
    ),
    '',
    `The counters, timed first, before anything subscribed in the process, in rounds of their own (${int(c.iterations)} calls`,
    'each, beside a near-cache loop of the same round): a counted hit (`Counters.hit`) takes',
    `${fixed(c.hitNs.median, 2)} ns (${fixed(c.hitNs.min, 2)}–${fixed(c.hitNs.max, 2)}), a \`hasSubscribers\` check of a channel without`,
    `subscribers ${fixed(c.checkNs.median, 2)} ns (${fixed(c.checkNs.min, 2)}–${fixed(c.checkNs.max, 2)}); an eventual near-cache hit`,
    `(c=1) took ${int(c.nearHitNs.median)} ns. Both together: ${fixed(c.shareOfNearHit.median * 100, 2)}% of a near-cache hit`,
    `(${fixed(c.shareOfNearHit.min * 100, 2)}–${fixed(c.shareOfNearHit.max * 100, 2)}%), the cheapest hit there is.`,
  ].join('\n')
}

/**
 * redis-group-cache against plain Redis and two peers (BentoCache, async-cache-dedupe):
 *
 *   npm run bench                  the full suite (~15-25 min)
 *   npm run bench -- --quick       a smoke run (< 60 s): fails only when something breaks
 *   npm run bench -- --only=throughput,memory,fleet,expire-group,herd,near,next,cluster,tracing
 *   REDIS_URL=redis://... npm run bench   against that server (default: own redis-server on a free port)
 *
 * Writes bench/results/<date>.json (raw per-round numbers, machine), <date>.md (the tables) and
 * expire-group.svg (the `-quick` variants with --quick), and prints the tables.
 */
import { writeFileSync } from 'node:fs'
import os from 'node:os'
import { expireGroupChart } from './chart.js'
import { CONTENDERS, type Contender, type ContenderName, createContender } from './contenders.js'
import { VALUE_BYTES } from './data.js'
import {
  clusterSection,
  expireGroupSection,
  fleetSection,
  herdSection,
  memorySection,
  nearSection,
  nextSection,
  type Results,
  targets,
  targetsSection,
  throughputSection,
  tracingSection,
} from './markdown.js'
import { writeResults } from './report.js'
import { clusterScenario } from './scenarios/cluster.js'
import { expireGroupScenario } from './scenarios/expire-group.js'
import { fleetScenario } from './scenarios/fleet.js'
import { herdScenario } from './scenarios/herd.js'
import { memoryScenario } from './scenarios/memory.js'
import { nearScenario } from './scenarios/near.js'
import { nextScenario } from './scenarios/next.js'
import { throughput } from './scenarios/throughput.js'
import { tracingScenario } from './scenarios/tracing.js'
import { infoField, startServer } from './server.js'
import { type Context, settingsFor } from './settings.js'

const SCENARIOS = [
  'throughput',
  'memory',
  'fleet',
  'expire-group',
  'herd',
  'near',
  'next',
  'cluster',
  'tracing',
] as const
type Scenario = (typeof SCENARIOS)[number]

const quick = process.argv.includes('--quick')
const onlyArg = process.argv.find((arg) => arg.startsWith('--only='))
const only = onlyArg ? (onlyArg.slice('--only='.length).split(',') as Scenario[]) : [...SCENARIOS]
for (const name of only) if (!SCENARIOS.includes(name)) throw new Error(`--only: unknown scenario ${name}`)

const settings = settingsFor(quick)
const server = await startServer()
const contenders = Object.fromEntries(CONTENDERS.map((name) => [name, createContender(name, server.url)])) as Record<
  ContenderName,
  Contender
>
const ctx: Context = { server, settings, contenders, log: (text) => process.stderr.write(text) }
const allPatterns = CONTENDERS.flatMap((name) => contenders[name].patterns)
const started = Date.now()
const loadBefore = os.loadavg()

try {
  await server.reset(allPatterns)
  const results: Results = {}
  if (only.includes('throughput')) results.throughput = await throughput(ctx)
  await server.reset(allPatterns)
  if (only.includes('memory')) results.memory = await memoryScenario(ctx)
  if (only.includes('fleet')) results.fleet = await fleetScenario(ctx)
  if (only.includes('expire-group')) results.expireGroup = await expireGroupScenario(ctx)
  if (only.includes('herd')) results.herd = await herdScenario(ctx)
  if (only.includes('near')) results.near = await nearScenario(ctx)
  if (only.includes('next')) results.next = await nextScenario(ctx)
  if (only.includes('cluster')) results.cluster = await clusterScenario(ctx)
  if (only.includes('tracing')) results.tracing = await tracingScenario(ctx)

  const redisVersion = infoField(await server.admin.info('server'), 'redis_version') ?? 'unknown'
  const machine = {
    cpu: os.cpus()[0]?.model ?? 'unknown',
    cores: os.cpus().length,
    memoryGiB: Math.round(os.totalmem() / 2 ** 30),
    os: `${os.type()} ${os.release()} ${os.arch()}`,
    loadavgBefore: loadBefore.map((x) => Number(x.toFixed(2))),
    loadavgAfter: os.loadavg().map((x) => Number(x.toFixed(2))),
    node: process.version,
    redis: redisVersion,
    redisServer: server.own ? 'own redis-server (--save "" --appendonly no)' : 'REDIS_URL',
  }
  const durationS = Math.round((Date.now() - started) / 1000)
  const list = targets(results)
  const date = new Date().toISOString().slice(0, 10)
  const header = [
    `# redis-group-cache vs plain Redis, BentoCache, async-cache-dedupe (${date}${quick ? ', --quick' : ''})`,
    '',
    `${machine.cpu} x${machine.cores}, ${machine.memoryGiB} GiB, node ${machine.node}, redis ${machine.redis} (${machine.redisServer}); ` +
      `load average ${machine.loadavgBefore.join(' ')} before, ${machine.loadavgAfter.join(' ')} after; ${durationS} s in all.`,
    `A shared, noisy VM: read ratios, not absolute numbers. Each contender has its own connection; values are ${VALUE_BYTES} B of JSON.`,
    `Scenarios 1-2: warm-up, then ${settings.race.rounds} rounds of ${settings.race.roundMs} ms per contender, order rotated every round, over ${settings.race.keys} keys.`,
  ].join('\n')
  const sections = [
    header,
    results.throughput && throughputSection(results.throughput),
    results.expireGroup && expireGroupSection(results.expireGroup),
    results.memory && memorySection(results.memory),
    results.fleet && fleetSection(results.fleet),
    results.herd && herdSection(results.herd),
    results.near && nearSection(results.near),
    results.next && nextSection(results.next),
    results.cluster && clusterSection(results.cluster),
    results.tracing && tracingSection(results.tracing),
    targetsSection(list),
  ]
  const markdown = `${sections.filter((section) => typeof section === 'string').join('\n\n')}\n`
  // A partial run (--only) never overwrites the full run's files.
  const base = `${date}${onlyArg ? `-${only.join('-')}` : ''}${quick ? '-quick' : ''}`
  const files = writeResults(
    base,
    { date: new Date().toISOString(), quick, durationS, machine, settings, results, targets: list },
    markdown,
  )
  if (results.expireGroup) {
    const svg = expireGroupChart(
      results.expireGroup.contenders.map((c) => ({
        name: c.name,
        points: c.sizes.map((s) => ({ size: s.size, ms: s.medianMs })),
        note: c.stopped ? `stopped at ${c.stopped.size.toLocaleString('en-US')} members` : undefined,
      })),
      'expireGroup latency against group size',
      `median of the timed invalidations per size; ${machine.cpu} x${machine.cores}, redis ${machine.redis}, node ${machine.node}`,
    )
    const chart = new URL(`./results/${quick ? 'expire-group-quick' : 'expire-group'}.svg`, import.meta.url)
    writeFileSync(chart, svg)
    process.stderr.write(`wrote ${chart.pathname}\n`)
  }
  process.stdout.write(markdown)
  process.stderr.write(`wrote ${files.json}\nwrote ${files.md}\n`)
} finally {
  await server.reset(allPatterns).catch((error: Error) => process.stderr.write(`clean-up: ${error.message}\n`))
  for (const c of Object.values(contenders)) await c.close()
  await server.stop()
}

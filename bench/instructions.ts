/**
 * What each call costs Redis, in CPU instructions: callgrind (valgrind) counts them in a
 * redis-server of its own, however busy the machine is: a script's row moves by 1-3% from run
 * to run, a plain command's by a few hundred instructions. Each figure is the difference between a run of 1,500 calls and one of 500, over 1,000.
 *
 * With them, what a near-cache get costs Redis (src/near.ts): a strict hit, its share of one PING
 * on the near cache's subscribed connection (one per batch of the reads waiting at that moment)
 * and, at most every 100 ms, a ROLE on its tracked connection; an eventual hit, nothing; holding
 * an entry, the MGET of the entry and its groups' versions and the PTTL that `offer` sends on the
 * tracked connection (client tracking on, redirected to the subscribed one), as it does.
 *
 *   npm run bench:instructions      (needs valgrind and redis-server on PATH; about 7 minutes)
 *   npm run bench:instructions -- --only=set    the rows whose name holds 'set'
 */
import { spawn } from 'node:child_process'
import { createHash } from 'node:crypto'
import { once } from 'node:events'
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { setTimeout as sleep } from 'node:timers/promises'
import { Redis } from 'ioredis'
import { allScripts } from '../src/commands.js'
import { GroupCache } from '../src/index.js'
import type { Sharding } from '../src/keys.js'
import { freePort } from '../test/support/redis-server.js'
import { VALUE_BYTES, valueFor } from './data.js'
import {
  FLOOR_HEAD,
  FLOOR_MISS,
  FLOOR_MISS_CHECKED,
  FLOOR_MISS_CHECKED_LUA,
  FLOOR_MISS_LUA,
  FLOOR_MISS_WORK,
  FLOOR_MISS_WORK_LUA,
  FLOOR_SET,
  FLOOR_SET_LUA,
  FLOOR_TOKEN_SET,
  FLOOR_TOKEN_SET_CHECKED,
  FLOOR_TOKEN_SET_CHECKED_LUA,
  FLOOR_TOKEN_SET_LUA,
  FLOOR_TOKEN_SET_WORK,
  FLOOR_TOKEN_SET_WORK_LUA,
} from './floors.js'
import { table } from './report.js'

/** What a call may use beside `redis`: connections of its own, closed before the server stops. */
interface Session {
  open(): Redis
}

type Call = (redis: Redis, i: number, session: Session) => Promise<unknown>

/** Instructions the server spends on `calls` runs of `call` (after `setup`), whole run. */
async function count(setup: (redis: Redis) => Promise<void>, call: Call, calls: number): Promise<number> {
  const dir = mkdtempSync(join(tmpdir(), 'rgc-callgrind-'))
  try {
    const port = await freePort()
    const server = spawn(
      'valgrind',
      // its own empty dir: a dump.rdb where the bench runs would be loaded, and its keys counted
      [
        '--tool=callgrind',
        `--callgrind-out-file=${join(dir, 'out')}`,
        'redis-server',
        '--port',
        `${port}`,
        '--dir',
        dir,
        '--save',
        '',
      ],
      { stdio: 'ignore' },
    )
    server.once('error', (error) => {
      throw new Error(`valgrind: ${error.message} (apt-get install valgrind)`)
    })
    const redis = new Redis(`redis://127.0.0.1:${port}`, { retryStrategy: () => 100 })
    redis.on('error', () => {})
    for (let tries = 0; ; tries++) {
      try {
        await redis.ping()
        break
      } catch (error) {
        if (tries > 150) throw error
        await sleep(200)
      }
    }
    const opened: Redis[] = []
    const session: Session = {
      open() {
        const connection = redis.duplicate()
        connection.on('error', () => {})
        opened.push(connection)
        return connection
      },
    }
    await setup(redis)
    for (let i = 0; i < calls; i++) await call(redis, i, session)
    for (const connection of opened) connection.disconnect()
    const exited = once(server, 'exit')
    await redis.shutdown('NOSAVE').catch(() => {})
    await exited
    redis.disconnect()
    const out = readFileSync(join(dir, readdirSync(dir).find((file) => file.startsWith('out')) as string), 'utf8')
    const total = /^(?:summary|totals): (\d+)/m.exec(out)?.[1]
    if (total === undefined) throw new Error('callgrind wrote no total')
    return Number(total)
  } finally {
    rmSync(dir, { recursive: true, force: true })
  }
}

const RUNS = [1500, 500] as const

async function perCall(setup: (redis: Redis) => Promise<void>, call: Call): Promise<number> {
  return ((await count(setup, call, RUNS[0])) - (await count(setup, call, RUNS[1]))) / 1000
}

const ns = 'rgc:{bench}:'
const groups = ['user_1', 'bucket_1', 'all'].map((group) => `${ns}g:${group}`)
/** Groups only sets with a TTL name: their versions have TTLs, which each set lengthens. */
const ttlGroups = ['user_2', 'bucket_2', 'some'].map((group) => `${ns}g:${group}`)
const json = JSON.stringify(valueFor(0))
const source = (name: string) => allScripts.find((script) => script.name === name)?.source as string
const key = (i: number) => `k${i % 100}`

/** A key's entry, generation and fill lease: the set script's first KEYS (lua/set.lua). */
const entryKeys = (name: string) => [`${ns}e:${name}`, `${ns}t:${name}`, `${ns}l:${name}`]

/** 100 entries of the cache (3 groups each) and 100 plain keys of the same value. */
async function setup(redis: Redis): Promise<void> {
  for (let i = 0; i < 100; i++) {
    await redis.eval(source('set'), 6, ...entryKeys(key(i)), ...groups, json, '', 30000, 0, '')
    await redis.set(`plain:${key(i)}`, json)
  }
}

/** 1,500 entries of the cache (3 groups each), `n${i}`: one per call, so that each is read once. */
async function setupMany(redis: Redis): Promise<void> {
  for (let i = 0; i < RUNS[0]; i++) {
    await redis.eval(source('set'), 6, ...entryKeys(`n${i}`), ...groups, json, '', 30000, 0, '')
  }
}

/** Lease (ms) of the fill rows: a token must stay younger than it through a whole run under valgrind. */
const FILL_LEASE = 600_000

/**
 * A fill's tokens: a read (miss) of `f${i}` per call, made in the setup, so that each call's set
 * stores with the token of its own read, as a fill does, and releases the lease that read took.
 */
function fillTokens(): { setup: (redis: Redis) => Promise<void>; args: (i: number) => (string | number)[] } {
  const tokens: string[][] = []
  return {
    async setup(redis) {
      tokens.length = 0
      for (let i = 0; i < RUNS[0]; i++) {
        const reply = (await redis.eval(
          source('read'),
          6,
          ...entryKeys(`f${i}`),
          ...groups,
          FILL_LEASE,
          'bench',
          0,
        )) as (string | number)[]
        const [status, , leased, , seconds, micros, generation, ...versions] = reply.map(String)
        if (status !== '0' || leased !== '1') throw new Error(`fill setup: read of f${i} was not a leased miss`)
        tokens.push([`${seconds},${micros},${generation},bench`, ...versions])
      }
    },
    args: (i) => [json, '', FILL_LEASE, 0, ...(tokens[i] as string[])],
  }
}
const fill = fillTokens()

/**
 * The near cache's two connections, as src/near.ts opens them (in each run's first call, which
 * both runs make: it cancels out): `feed` subscribed to the invalidation channel, `tracked` with
 * client tracking on (default mode), redirected to `feed`.
 */
function nearConnections(): (i: number, session: Session) => Promise<{ feed: Redis; tracked: Redis }> {
  let connections: Promise<{ feed: Redis; tracked: Redis }> | undefined
  return (i, session) => {
    if (i === 0 || connections === undefined) {
      connections = (async () => {
        const feed = session.open()
        const tracked = session.open()
        const id = String(await feed.client('ID'))
        await feed.subscribe('__redis__:invalidate')
        await tracked.client('TRACKING', 'ON', 'REDIRECT', id)
        return { feed, tracked }
      })()
    }
    return connections
  }
}

/** What `offer` sends on `tracked`, together: the entry and its groups' versions, and the entry's TTL. */
const offer = (entry: (i: number) => string): Call => {
  const near = nearConnections()
  return async (_redis, i, session) => {
    const { tracked } = await near(i, session)
    const [[found]] = await Promise.all([tracked.mget(entry(i), ...groups), tracked.pttl(entry(i))])
    if (found == null) throw new Error(`offer: ${entry(i)} is not stored`)
  }
}

/** EVALSHA, as the cache calls scripts: EVAL would hash the whole source on every call. */
const script = (text: string, keys: (i: number) => string[], args: (i: number) => (string | number)[] = () => []) => {
  const sha = createHash('sha1').update(text).digest('hex')
  return async (redis: Redis, i: number) => {
    if (i === 0) await redis.script('LOAD', text)
    return redis.evalsha(sha, keys(i).length, ...keys(i), ...args(i))
  }
}

const pingOnFeed = nearConnections()
const roleOnTracked = nearConnections()
const NEAR_PING = "PING on the near cache's subscribed connection (a strict hit's sync point)"
const NEAR_ROLE = "ROLE on the near cache's tracked connection (a strict sync point, at most every 100 ms)"
const OFFER_TRACKED = 'MGET of the entry and its 3 group versions + PTTL, tracked (near offer; keys tracked already)'
const OFFER_FRESH = 'MGET of the entry and its 3 group versions + PTTL, tracked (near offer; a new entry key each)'

/**
 * A GroupCache of each sharding on the run's server, as an application calls it: what it sends
 * for a get or a set, whole (under 'key' a get is a GET of the entry and one per group, or the
 * peek script first without a hint, and a set is a stamp script per group, then the store script).
 * One per run, made in its first call (both runs make it: it cancels out), the 100 keys set then.
 */
function cacheOf(sharding: Sharding, hints = 10_000): (i: number, session: Session) => Promise<GroupCache> {
  let cache: Promise<GroupCache> | undefined
  return (i, session) => {
    if (i === 0 || cache === undefined) {
      cache = (async () => {
        const made = new GroupCache({ redis: session.open(), namespace: `bench-${sharding}`, sharding, hints })
        for (let n = 0; n < 100; n++) await made.set(key(n), valueFor(0), { groups: CACHE_GROUPS })
        return made
      })()
    }
    return cache
  }
}
const CACHE_GROUPS = ['user_1', 'bucket_1', 'all']
const cacheRows = (sharding: Sharding): [string, Call][] => {
  const hinted = cacheOf(sharding)
  const unhinted = cacheOf(sharding, 0)
  const writer = cacheOf(sharding)
  return [
    [
      `GroupCache get, sharding '${sharding}', groups known to the process (a hit)`,
      async (_redis, i, session) => (await hinted(i, session)).get(key(i)),
    ],
    [
      `GroupCache get, sharding '${sharding}', groups not known (a hit; hints: 0)`,
      async (_redis, i, session) => (await unhinted(i, session)).get(key(i)),
    ],
    [
      `GroupCache set, sharding '${sharding}', 3 groups`,
      async (_redis, i, session) => (await writer(i, session)).set(key(i), valueFor(0), { groups: CACHE_GROUPS }),
    ],
  ]
}

/** [name, call, setup (default: 100 entries and 100 plain keys)] */
const rows: [string, Call, ((redis: Redis) => Promise<void>)?][] = [
  ['GET of the plain value', (redis, i) => redis.get(`plain:${key(i)}`)],
  [
    'MGET of the entry and its 3 group versions (a hinted get)',
    (redis, i) => redis.mgetBuffer(`${ns}e:${key(i)}`, ...groups),
  ],
  [
    'EVALSHA of a script that only GETs the plain value',
    script("return redis.call('GET', KEYS[1])", (i) => [`plain:${key(i)}`]),
  ],
  ['get script, 3 groups (a first read)', script(source('get'), (i) => [`${ns}e:${key(i)}`])],
  ['SET of the plain value', (redis, i) => redis.set(`plain:${key(i)}`, json)],
  [
    'EVALSHA of a script that only SETs the plain value',
    script(
      "return redis.call('SET', KEYS[1], ARGV[1])",
      (i) => [`plain:${key(i)}`],
      () => [json],
    ),
  ],
  [
    'set script, 3 groups, no TTL',
    script(
      source('set'),
      (i) => [`${ns}e:${key(i)}`, `${ns}t:${key(i)}`, `${ns}l:${key(i)}`, ...groups],
      () => [json, '', 30000, 0, ''],
    ),
  ],
  [
    'set script, 3 groups, TTL 60 s (groups whose versions have TTLs)',
    script(
      source('set'),
      (i) => [`${ns}e:t${i}`, `${ns}t:t${i}`, `${ns}l:t${i}`, ...ttlGroups],
      () => [json, 60000, 30000, 0, ''],
    ),
  ],
  [
    'read script, 3 groups, a hit',
    script(
      source('read'),
      (i) => [...entryKeys(key(i)), ...groups],
      () => [30000, 'bench', 0],
    ),
  ],
  [
    "read script, 3 groups, a miss (takes the fill lease, makes the key's generation)",
    script(
      source('read'),
      (i) => [...entryKeys(`m${i}`), ...groups],
      () => [30000, 'bench', 0],
    ),
  ],
  [
    "set script, 3 groups, with the read's token (a fill's store: checks it, releases the lease)",
    script(source('set'), (i) => [...entryKeys(`f${i}`), ...groups], fill.args),
    fill.setup,
  ],
  [
    FLOOR_SET,
    script(
      FLOOR_SET_LUA,
      (i) => [`${ns}e:${key(i)}`, `${ns}t:${key(i)}`, `${ns}l:${key(i)}`, ...groups],
      () => [json, FLOOR_HEAD],
    ),
  ],
  [
    FLOOR_MISS,
    script(
      FLOOR_MISS_LUA,
      (i) => [...entryKeys(`m${i}`), ...groups],
      () => [30000, 'bench'],
    ),
  ],
  [
    FLOOR_TOKEN_SET,
    script(
      FLOOR_TOKEN_SET_LUA,
      (i) => [...entryKeys(`f${i}`), ...groups],
      () => [json, FLOOR_HEAD, 'bench'],
    ),
    fill.setup,
  ],
  [
    FLOOR_MISS_WORK,
    script(
      FLOOR_MISS_WORK_LUA,
      (i) => [...entryKeys(`m${i}`), ...groups],
      () => [30000, 'bench', 0],
    ),
  ],
  [
    FLOOR_MISS_CHECKED,
    script(
      FLOOR_MISS_CHECKED_LUA,
      (i) => [...entryKeys(`m${i}`), ...groups],
      () => [30000, 'bench', 0],
    ),
  ],
  [
    FLOOR_TOKEN_SET_WORK,
    script(FLOOR_TOKEN_SET_WORK_LUA, (i) => [...entryKeys(`f${i}`), ...groups], fill.args),
    fill.setup,
  ],
  [
    FLOOR_TOKEN_SET_CHECKED,
    script(FLOOR_TOKEN_SET_CHECKED_LUA, (i) => [...entryKeys(`f${i}`), ...groups], fill.args),
    fill.setup,
  ],
  [
    'release script (a fill that will not store)',
    script(
      source('release'),
      (i) => [`${ns}l:f${i}`],
      () => ['bench', 0],
    ),
    fill.setup,
  ],
  [
    'delete script, 1 key',
    script(
      source('delete'),
      (i) => [`${ns}e:${key(i)}`, `${ns}t:${key(i)}`],
      () => [30000],
    ),
  ],
  [
    'expire-groups script, 3 groups',
    script(
      source('expire-groups'),
      () => groups,
      () => [0],
    ),
  ],
  [
    'expire-groups script, 1 group',
    script(
      source('expire-groups'),
      () => [groups[2] as string],
      () => [0],
    ),
  ],
  ['PING', (redis) => redis.ping()],
  [NEAR_PING, async (_redis, i, session) => (await pingOnFeed(i, session)).feed.ping()],
  [NEAR_ROLE, async (_redis, i, session) => (await roleOnTracked(i, session)).tracked.call('ROLE')],
  [OFFER_TRACKED, offer((i) => `${ns}e:${key(i)}`)],
  [OFFER_FRESH, offer((i) => `${ns}e:n${i}`), setupMany],
  ...cacheRows('namespace'),
  ...cacheRows('key'),
]

// --only=<text>: the rows whose name holds it (to iterate on one script), and no near-cache table
const onlyArg = process.argv.find((arg) => arg.startsWith('--only='))?.slice('--only='.length)
const chosen = onlyArg === undefined ? rows : rows.filter(([name]) => name.includes(onlyArg))
process.stderr.write(`callgrind: ${chosen.length} calls, 2 runs each\n`)
const measured = new Map<string, number>()
for (const [name, call, own] of chosen) {
  process.stderr.write(`  ${name}\n`)
  measured.set(name, Math.round(await perCall(own ?? setup, call)))
}
const text = (x: number) => x.toLocaleString('en-US')
const of = (name: string) => measured.get(name) ?? Number.NaN
const ping = of(NEAR_PING)
const role = of(NEAR_ROLE)
const held = of(OFFER_TRACKED)
const fresh = of(OFFER_FRESH)
// A near-cache get, from the rows above: what src/near.ts sends for it.
const near = [
  ["near 'eventual' hit", '0 (sends nothing)'],
  ["near 'strict' hit, alone at its sync point", `${text(ping)} (+ ${text(role)} once per 100 ms)`],
  ["near 'strict' hit, one of n reads sharing its sync point", `${text(ping)} / n (+ ${text(role)} once per 100 ms)`],
  [
    'holding an entry: one near offer (per entry read from Redis while it is not held)',
    `${text(held)} (its keys tracked already) to ${text(fresh)} (its entry key not yet)`,
  ],
]
process.stdout.write(
  [
    `Redis CPU instructions per call (callgrind), ${VALUE_BYTES} B JSON value`,
    '',
    table(
      ['call', 'instructions'],
      [...measured].map(([name, x]) => [name, text(x)]),
      [1],
    ),
    '',
    ...(onlyArg === undefined
      ? [
          'A near-cache get (src/near.ts), from the rows above:',
          '',
          table(['near-cache get', 'Redis instructions'], near, [1]),
          '',
        ]
      : []),
  ].join('\n'),
)

/**
 * What each call costs Redis, in CPU instructions: callgrind (valgrind) counts them in a
 * redis-server of its own: within about 1% from run to run, however busy the machine
 * is. Each figure is the difference between a run of 1,500 calls and one of 500, over 1,000.
 *
 *   npm run bench:instructions      (needs valgrind and redis-server on PATH; about 3 minutes)
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
import { freePort } from '../test/support/redis-server.js'
import { VALUE_BYTES, valueFor } from './data.js'
import { table } from './report.js'

type Call = (redis: Redis, i: number) => Promise<unknown>

/** Instructions the server spends on `calls` runs of `call` (after `setup`), whole run. */
async function count(setup: (redis: Redis) => Promise<void>, call: Call, calls: number): Promise<number> {
  const dir = mkdtempSync(join(tmpdir(), 'rgc-callgrind-'))
  try {
    const port = await freePort()
    const server = spawn(
      'valgrind',
      ['--tool=callgrind', `--callgrind-out-file=${join(dir, 'out')}`, 'redis-server', '--port', `${port}`],
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
    await setup(redis)
    for (let i = 0; i < calls; i++) await call(redis, i)
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

async function perCall(setup: (redis: Redis) => Promise<void>, call: Call): Promise<number> {
  return ((await count(setup, call, 1500)) - (await count(setup, call, 500))) / 1000
}

const ns = 'rgc:{bench}:'
const groups = ['user_1', 'bucket_1', 'all'].map((group) => `${ns}g:${group}`)
const json = JSON.stringify(valueFor(0))
const source = (name: string) => allScripts.find((script) => script.name === name)?.source as string
const key = (i: number) => `k${i % 100}`

/** 100 entries of the cache (3 groups each) and 100 plain keys of the same value. */
async function setup(redis: Redis): Promise<void> {
  for (let i = 0; i < 100; i++) {
    await redis.eval(source('set'), 5, `${ns}e:${key(i)}`, `${ns}t:${key(i)}`, ...groups, json, '', 30000, '')
    await redis.set(`plain:${key(i)}`, json)
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

const rows: [string, Call][] = [
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
    'expire-groups script, 1 group',
    script(
      source('expire-groups'),
      () => [groups[2] as string],
      () => [0],
    ),
  ],
]

process.stderr.write(`callgrind: ${rows.length} calls, 2 runs each\n`)
const measured: string[][] = []
for (const [name, call] of rows) {
  process.stderr.write(`  ${name}\n`)
  measured.push([name, Math.round(await perCall(setup, call)).toLocaleString('en-US')])
}
process.stdout.write(
  `Redis CPU instructions per call (callgrind), ${VALUE_BYTES} B JSON value\n\n${table(['call', 'instructions'], measured, [1])}\n`,
)

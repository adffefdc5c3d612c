import { once } from 'node:events'
import { createInterface } from 'node:readline/promises'
import { Command, CommanderError, Option, InvalidArgumentError as OptionError } from 'commander'
import { Cluster, Redis } from 'ioredis'
import { GroupCache } from '../cache.js'
import { isRedisUrl } from '../connection.js'
import { GroupCacheError } from '../errors.js'
import { Keys, type Sharding } from '../keys.js'
import { describe, inspect } from './inspect.js'
import { scanNamespace } from './scan.js'

/**
 * `redis-group-cache`: the operator's command. Each subcommand opens one connection (a server, or
 * a Cluster from a seed node), does its one job through the library (or, for `inspect` and
 * `stats`, by reading the namespace's keys), prints what it did, and exits:
 * 0 done, 1 Redis failed or refused (a message on stderr, within --timeout), 2 bad usage.
 */

interface Global {
  url?: string
  namespace: string
  prefix: string
  cluster?: boolean
  sharding: Sharding
  timeout: number
  json?: boolean
}

/** What a subcommand writes and how it ends: the process's streams, or a test's. */
export interface Io {
  out(text: string): void
  err(text: string): void
  /** whether stdin and stderr are a terminal (confirmations, progress) */
  readonly terminal: boolean
  /** asks a yes/no question on the terminal */
  confirm(question: string): Promise<boolean>
  readonly env: NodeJS.ProcessEnv
}

/** A failure of Redis (exit 1), as opposed to bad usage (exit 2). */
class Failed extends Error {}

const ms = (text: string) => {
  const n = Number(text)
  if (!Number.isInteger(n) || n <= 0) throw new OptionError('must be a positive whole number of ms')
  return n
}

interface Opened {
  client: Redis | Cluster
  cache: GroupCache
  keys: Keys
  /** the connection's last error event */
  reached: { lastError?: Error }
}

function open(global: Global, io: Io): Opened {
  const reached: Opened['reached'] = {}
  const url = global.url ?? io.env.REDIS_URL
  if (url === undefined || url === '') {
    throw new CommanderError(2, 'usage', 'no Redis to reach: pass --url redis://host:port, or set REDIS_URL')
  }
  if (!isRedisUrl(url)) throw new CommanderError(2, 'usage', `--url must be a redis:// or rediss:// URL (got ${url})`)
  const options = { maxRetriesPerRequest: 0, connectTimeout: global.timeout, enableOfflineQueue: true }
  const client: Redis | Cluster = global.cluster
    ? new Cluster([url], { redisOptions: options, clusterRetryStrategy: () => null })
    : new Redis(url, { ...options, retryStrategy: () => null })
  // the connection's own failure (refused, unknown host) says more than a call's "Connection is closed."
  client.on('error', (error: Error) => {
    reached.lastError = error
  })
  const cache = new GroupCache({
    redis: client,
    namespace: global.namespace,
    prefix: global.prefix,
    sharding: global.sharding,
    timeout: global.timeout,
  })
  cache.on('error', () => {})
  return { client, cache, keys: new Keys(global.prefix, global.namespace, global.sharding), reached }
}

/** Runs `job` with the connection, then closes it; a failure of Redis becomes Failed. */
async function using<T>(global: Global, io: Io, job: (opened: Opened) => Promise<T>): Promise<T> {
  const opened = open(global, io)
  // never a hang: whatever Redis does, the command ends within its timeout and a margin
  let timer: NodeJS.Timeout | undefined
  const late = new Promise<never>((_, reject) => {
    timer = setTimeout(
      () => reject(new Failed(`Redis did not answer within ${global.timeout} ms`)),
      global.timeout * 2 + 500,
    )
  })
  try {
    if (opened.client instanceof Cluster && opened.client.status !== 'ready') {
      await Promise.race([once(opened.client, 'ready'), late])
    }
    return await Promise.race([job(opened), late])
  } catch (error) {
    if (error instanceof CommanderError || error instanceof Failed) throw error
    // a bad key, group or name: refused before anything was sent
    if (error instanceof GroupCacheError && error.code === 'E_INVALID_ARGUMENT') {
      throw new CommanderError(2, 'usage', error.message)
    }
    const cause = opened.reached.lastError
    const message = (error as Error)?.message ?? String(error)
    throw new Failed(cause && cause.message !== message ? `${message} (${cause.message})` : message)
  } finally {
    clearTimeout(timer)
    opened.client.disconnect()
  }
}

/** The program, its output going to `io`. `parseAsync` it with the arguments (after the node and script). */
export function program(io: Io): Command {
  const root = new Command('redis-group-cache')
    .description('Purge, inspect and count the keys of a redis-group-cache namespace.')
    .option('--url <url>', 'redis:// URL of the server (with --cluster: of a node); default $REDIS_URL')
    .option('--namespace <name>', 'the cache namespace', 'default')
    .option('--prefix <prefix>', 'the first part of every key', 'rgc')
    .option('--cluster', 'the URL is a node of a Redis Cluster')
    .addOption(
      new Option('--sharding <mode>', 'the cache option sharding').choices(['namespace', 'key']).default('namespace'),
    )
    .option('--timeout <ms>', 'ms before a Redis call counts as failed', ms, 5000)
    .option('--json', 'print JSON')
    .configureOutput({ writeOut: io.out, writeErr: io.err })
    .exitOverride()
    .showHelpAfterError()
  const global = () => root.opts<Global>()
  const print = (json: unknown, text: string) => io.out(`${global().json ? JSON.stringify(json, null, 2) : text}\n`)

  root
    .command('expire')
    .description('expire groups: every value in them is invalidated, in one atomic call')
    .argument('<group...>')
    .option('--hard', 'never served stale within grace afterwards')
    .action(async (groups: string[], options: { hard?: boolean }) => {
      await using(global(), io, ({ cache }) => cache.expireGroups(groups, { hard: options.hard === true }))
      print(
        { expired: groups, hard: options.hard === true },
        `expired ${groups.length} group${groups.length === 1 ? '' : 's'}: ${groups.join(' ')}${options.hard ? ' (hard)' : ''}`,
      )
    })

  root
    .command('delete')
    .description("delete keys' values (fills in flight are refused)")
    .argument('<key...>')
    .action(async (keys: string[]) => {
      const removed = await using(global(), io, ({ cache }) => cache.deleteMany(keys))
      print(
        { deleted: keys, live: removed },
        `deleted ${keys.length} key${keys.length === 1 ? '' : 's'}, ${removed} of them live`,
      )
    })

  root
    .command('inspect')
    .description('show whether a key is live or stale, its groups with their versions, TTL and size')
    .argument('<key>')
    .action(async (key: string) => {
      const inspection = await using(global(), io, ({ client, keys }) => inspect(client, keys, key))
      print(inspection, describe(inspection))
    })

  root
    .command('stats')
    .description("count the namespace's entries, groups and generations, and their memory (SCAN, on every master)")
    .action(async () => {
      const progress = io.terminal
        ? (seen: number) => io.err(`\rscanned ${seen.toLocaleString('en-US')} keys`)
        : undefined
      const stats = await using(global(), io, ({ client, keys }) => scanNamespace(client, keys, progress))
      if (progress) io.err('\n')
      const kinds = ['entries', 'groups', 'generations', 'leases', 'records'] as const
      const text = kinds.map((kind) => `${kind}: ${stats[kind]} (${stats.bytes[kind]} bytes)`).join('\n')
      print(stats, `${text}\ntotal: ${stats.bytes.total} bytes on ${stats.nodes} node${stats.nodes === 1 ? '' : 's'}`)
    })

  root
    .command('clear')
    .description('delete every key of the namespace, and only those (asks first on a terminal)')
    .option('--yes', 'do not ask')
    .action(async (options: { yes?: boolean }) => {
      const { namespace } = global()
      if (!options.yes) {
        if (!io.terminal) throw new CommanderError(2, 'usage', 'clear deletes every key of the namespace: pass --yes')
        if (!(await io.confirm(`Delete every key of namespace ${namespace}? [y/N] `))) {
          io.err('nothing deleted\n')
          return
        }
      }
      const deleted = await using(global(), io, ({ cache }) => cache.clear())
      print({ namespace, deleted }, `deleted ${deleted} key${deleted === 1 ? '' : 's'} of namespace ${namespace}`)
    })
  return root
}

/** Runs the command with `argv` (without node and the script); resolves its exit code. */
export async function run(argv: readonly string[], io: Io): Promise<number> {
  const command = program(io)
  try {
    await command.parseAsync([...argv], { from: 'user' })
    return 0
  } catch (error) {
    if (error instanceof Failed) {
      io.err(`redis-group-cache: ${error.message}\n`)
      return 1
    }
    if (error instanceof CommanderError) {
      // --help and --version end with code 0; every other is bad usage
      if (error.exitCode === 0) return 0
      if (error.code === 'usage') io.err(`redis-group-cache: ${error.message}\n${command.helpInformation()}`)
      return 2
    }
    io.err(`redis-group-cache: ${(error as Error)?.message ?? String(error)}\n`)
    return 2
  }
}

/** The process's own streams. */
export function processIo(): Io {
  return {
    out: (text) => process.stdout.write(text),
    err: (text) => process.stderr.write(text),
    terminal: process.stdin.isTTY === true && process.stderr.isTTY === true,
    async confirm(question) {
      const reader = createInterface({ input: process.stdin, output: process.stderr })
      try {
        return /^y(es)?$/i.test((await reader.question(question)).trim())
      } finally {
        reader.close()
      }
    },
    env: process.env,
  }
}

/**
 * One process of the herd (scenario 6), forked by scenarios/herd.ts with tsx. On `start` it opens
 * one variant (bench/herd-variants.ts) on a connection of its own and runs `concurrency` callers,
 * each calling `wrap` in a loop on a hot key drawn at random; the function reads "the database":
 * it sleeps `fillMs`, then reads the key's row, whose version the parent's writer moves (`update`,
 * acknowledged by every process before it invalidates). After `warmupMs` (every key filled) each
 * call is recorded: when it started and ended, the key, the row's version, whether the row is the
 * one its own function produced, and the Redis commands sent in its async context
 * (AsyncLocalStorage), background work it started included (a refresh within grace).
 *
 * It also records when Redis acknowledged each store of a row this process made (a fill's, a
 * refresh's; see OnStored).
 *
 * Times are CLOCK_MONOTONIC (process.hrtime), one clock for every process of the machine, so that
 * on `stop` the parent's invalidation times date each call: its epoch is the number of
 * invalidations whose expireGroup had resolved when it started. The worker answers, per (epoch,
 * key), its first store after that invalidation of a row at least that new (a fresh row); the
 * parent takes the earliest over the fleet and sends it back with `classify`, and each call is:
 * - `stale`: it returned a row older than its epoch (a grace reader, the previous value);
 * - `filler`: it returned the row its own function produced;
 * - `waiter`: else, it started after an invalidation and before the fresh row of its key was
 *   stored (no fresh value existed yet when it started: it waited for a fill);
 * - `hit`: the rest.
 */
import { AsyncLocalStorage } from 'node:async_hooks'
import { once } from 'node:events'
import { setTimeout as sleep } from 'node:timers/promises'
import { Redis } from 'ioredis'
import { isValueFor, valueFor } from './data.js'
import {
  clock,
  countCommands,
  HERD_GROUP,
  type HerdVariant,
  type HerdVariantName,
  KINDS,
  type Kind,
  openVariant,
  type Row,
} from './herd-variants.js'

export interface StartCommand {
  type: 'start'
  variant: HerdVariantName
  concurrency: number
  keys: number
  fillMs: number
  /** ms, for `group-cache grace` */
  grace: number
  warmupMs: number
}

export type HerdCommand =
  | StartCommand
  /** The writer moved every row to this version (the parent invalidates once all processes answered). */
  | { type: 'update'; version: number }
  /** Ends the callers. `invalidatedAt[n - 1]`: when invalidation n resolved (monotonic ms). */
  | { type: 'stop'; invalidatedAt: number[] }
  /** `storedAt[epoch][key]`: the fleet's first store of a fresh row (monotonic ms; Infinity: none). */
  | { type: 'classify'; storedAt: number[][] }
  | { type: 'exit' }

export interface KindCounts {
  /** ms, each call's latency */
  latencies: Float64Array
  /** Redis commands sent in these calls' async contexts */
  commands: number
}

export interface HerdCounts {
  /** Function calls (fills and refreshes) begun while recording. */
  functionCalls: number
  wraps: number
  kinds: Record<Kind, KindCounts>
  /** Commands sent while recording outside any wrap call. */
  commandsOutside: number
  /** Most invalidations a stale row was behind. */
  maxStaleness: number
  /** Rows of another key. */
  wrong: number
  swallowedErrors: string[]
  seconds: number
}

export type HerdReply =
  | { type: 'ready' }
  | { type: 'warm' }
  | { type: 'updated' }
  | { type: 'stopped'; storedAt: number[][] }
  | { type: 'result'; counts: HerdCounts }
  | { type: 'error'; message: string }

class Run {
  /** The version every row of the database is at. */
  private version = 0
  private recording = false
  private stopping = false
  /** One entry per recorded call, by its index. */
  private readonly starts: number[] = []
  private readonly latencies: number[] = []
  private readonly keys: number[] = []
  private readonly versions: number[] = []
  private readonly own: boolean[] = []
  private readonly commands: number[] = []
  /** Stores of rows this process made: key index, row version, when Redis acknowledged it. */
  private readonly stores: { key: number; version: number; at: number }[] = []
  private epochs: number[] = []
  private commandsOutside = 0
  private functionCalls = 0
  private wrong = 0
  private errorsBefore = 0
  private started = 0
  private seconds = 0
  /** The index of the recorded wrap call whose async context this is; -1: a call not recorded. */
  private readonly calls = new AsyncLocalStorage<number>()
  private readonly groups: string[][]
  private loops: Promise<void> | undefined

  private constructor(
    private readonly command: StartCommand,
    private readonly redis: Redis,
    private readonly variant: HerdVariant,
  ) {
    this.groups = Array.from({ length: command.keys }, (_, i) => [HERD_GROUP, `user_${i}`])
    countCommands(redis, () => this.onCommand())
  }

  static async start(url: string, command: StartCommand): Promise<Run> {
    const redis = new Redis(url)
    if (redis.status !== 'ready') await once(redis, 'ready')
    let run: Run | undefined
    const onStored = (key: string, version: number) =>
      run?.stores.push({ key: Number(key.slice('h:'.length)), version, at: clock() })
    run = new Run(command, redis, await openVariant(command.variant, redis, command.grace, onStored))
    run.loops = Promise.all(Array.from({ length: command.concurrency }, () => run.loop())).then(() => {})
    await sleep(command.warmupMs)
    run.recording = true
    run.errorsBefore = run.variant.swallowedErrors().length
    run.started = clock()
    return run
  }

  update(version: number): void {
    this.version = version
  }

  /** Ends the callers, dates each call, and answers when this process first stored a fresh row of each (epoch, key). */
  async stop(invalidatedAt: readonly number[]): Promise<number[][]> {
    this.stopping = true
    await this.loops
    this.recording = false
    this.seconds = (clock() - this.started) / 1000
    const epochAt = (at: number) => invalidatedAt.filter((t) => t < at).length
    this.epochs = this.starts.map(epochAt)
    const storedAt = Array.from({ length: invalidatedAt.length + 1 }, () =>
      Array.from({ length: this.command.keys }, () => Number.POSITIVE_INFINITY),
    )
    for (const store of this.stores) {
      // Fresh for every epoch from the one it was stored in up to its row's version.
      for (let epoch = 1; epoch <= Math.min(store.version, epochAt(store.at)); epoch++) {
        const row = storedAt[epoch] as number[]
        row[store.key] = Math.min(row[store.key] as number, store.at)
      }
    }
    return storedAt
  }

  async classify(storedAt: readonly (readonly number[])[]): Promise<HerdCounts> {
    const latencies = Object.fromEntries(KINDS.map((kind) => [kind, [] as number[]])) as Record<Kind, number[]>
    const commands = Object.fromEntries(KINDS.map((kind) => [kind, 0])) as Record<Kind, number>
    let maxStaleness = 0
    this.epochs.forEach((epoch, c) => {
      const version = this.versions[c] as number
      const start = this.starts[c] as number
      const stored = storedAt[epoch]?.[this.keys[c] as number] ?? Number.POSITIVE_INFINITY
      let kind: Kind
      if (version < epoch) kind = 'stale'
      else if (this.own[c]) kind = 'filler'
      else if (epoch > 0 && start < stored) kind = 'waiter'
      else kind = 'hit'
      if (kind === 'stale') maxStaleness = Math.max(maxStaleness, epoch - version)
      latencies[kind].push(this.latencies[c] as number)
      commands[kind] += this.commands[c] as number
    })
    const counts: HerdCounts = {
      functionCalls: this.functionCalls,
      wraps: this.starts.length,
      kinds: Object.fromEntries(
        KINDS.map((kind) => [kind, { latencies: Float64Array.from(latencies[kind]), commands: commands[kind] }]),
      ) as Record<Kind, KindCounts>,
      commandsOutside: this.commandsOutside,
      maxStaleness,
      wrong: this.wrong,
      swallowedErrors: this.variant.swallowedErrors().slice(this.errorsBefore),
      seconds: this.seconds,
    }
    await this.variant.close()
    this.redis.disconnect()
    return counts
  }

  private onCommand(): void {
    const call = this.calls.getStore()
    if (call === undefined) {
      if (this.recording) this.commandsOutside++
    } else if (call >= 0) {
      this.commands[call] = (this.commands[call] as number) + 1
    }
  }

  /** The database: the row of key `i` at the version it is at now. */
  private async read(i: number): Promise<Row> {
    await sleep(this.command.fillMs)
    return { ...valueFor(i), version: this.version }
  }

  /**
   * A caller: a key drawn at random for each call, as independent requests would (callers that
   * went through the keys in turn would fall into step, since a fill releases all its waiters at
   * once, and leave keys unread for a while).
   */
  private async loop(): Promise<void> {
    while (!this.stopping) await this.call(Math.floor(Math.random() * this.command.keys))
  }

  private async call(i: number): Promise<void> {
    const t0 = clock()
    const index = this.recording ? this.starts.length : -1
    if (index >= 0) {
      this.starts.push(t0)
      this.latencies.push(Number.NaN)
      this.keys.push(i)
      this.versions.push(-1)
      this.own.push(false)
      this.commands.push(0)
    }
    let produced: Row | undefined
    const load = async () => {
      if (this.recording) this.functionCalls++
      produced = await this.read(i)
      return produced
    }
    const row = await this.calls.run(index, () => this.variant.wrap(`h:${i}`, this.groups[i] as string[], load))
    if (index < 0) return
    this.latencies[index] = clock() - t0
    this.versions[index] = row.version
    this.own[index] = row === produced
    if (!isValueFor(row, i)) this.wrong++
  }
}

const url = process.argv[2]
const send = (reply: HerdReply) => process.send?.(reply)
if (!url || !process.send) throw new Error('herd-worker is forked by scenarios/herd.ts with the Redis URL')
let run: Run | undefined
const fail = (error: unknown) => send({ type: 'error', message: `${(error as Error)?.stack ?? error}` })
process.on('message', (command: HerdCommand) => {
  if (command.type === 'exit') process.exit(0)
  if (command.type === 'start') {
    Run.start(url, command).then((started) => {
      run = started
      send({ type: 'warm' })
    }, fail)
    return
  }
  const current = run
  if (!current) return fail(new Error(`${command.type} without a run`))
  switch (command.type) {
    case 'update':
      current.update(command.version)
      send({ type: 'updated' })
      return
    case 'stop':
      current.stop(command.invalidatedAt).then((storedAt) => send({ type: 'stopped', storedAt }), fail)
      return
    case 'classify':
      run = undefined
      current.classify(command.storedAt).then((counts) => send({ type: 'result', counts }), fail)
      return
  }
})
send({ type: 'ready' })

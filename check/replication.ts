/**
 * A primary with one replica, for the failover modes (check/faults.ts) and check/wait-cost.ts.
 *
 * The workers reach "the current primary" through a TCP proxy in the coordinator (one address
 * that survives a failover). A failover SIGKILLs the primary while the workers write, promotes
 * the replica (`REPLICAOF NO ONE`), points the proxy at it and drops the proxied connections (so
 * that ioredis reconnects to the new primary); `addReplica` later starts a fresh replica of it.
 *
 * What a failover loses is measured, not guessed: a tap (the coordinator's own connection to the
 * primary, speaking the replication protocol as a replica that acknowledges nothing) receives the
 * primary's replication stream. The commands of that stream past the offset the promoted replica
 * reached are what the old primary applied and the new one never got.
 *
 * `linkDelay` puts the replica that many ms away: its link goes through a delaying proxy, and a
 * failover cuts it together with the primary, so what was on the wire is lost too.
 */
import { once } from 'node:events'
import { connect, createServer, type Server, type Socket } from 'node:net'
import { setTimeout as sleep } from 'node:timers/promises'
import { Redis } from 'ioredis'
import type { Keys } from '../src/keys.js'
import { type RedisServer, startRedisServer } from '../test/support/redis-server.js'
import type { LostEffect } from './history.js'

/** Every server of the pair can become a primary: diskless full syncs that start at once. */
const REPLICATION_ARGS = ['--repl-diskless-sync', 'yes', '--repl-diskless-sync-delay', '0']

/**
 * A TCP proxy to one port at a time. New connections wait while it is held (during a failover).
 * With a `delay`, every chunk is passed on `delay` ms later, in order (a link that long).
 */
export class TcpProxy {
  private server: Server | undefined
  private target: number
  private held = false
  private waiting: Socket[] = []
  private readonly open = new Set<Socket>()
  port = 0

  constructor(
    target: number,
    private readonly delay = 0,
  ) {
    this.target = target
  }

  get url(): string {
    return `redis://127.0.0.1:${this.port}`
  }

  async listen(): Promise<void> {
    const server = createServer((client) => {
      client.setNoDelay(true)
      client.on('error', () => {})
      this.open.add(client)
      client.on('close', () => this.open.delete(client))
      if (this.held) this.waiting.push(client)
      else this.connect(client)
    })
    server.listen(0, '127.0.0.1')
    await once(server, 'listening')
    const address = server.address()
    if (address === null || typeof address === 'string') throw new Error('the proxy has no port')
    this.port = address.port
    this.server = server
  }

  private connect(client: Socket): void {
    if (client.destroyed) return
    const upstream = connect(this.target, '127.0.0.1')
    upstream.setNoDelay(true)
    upstream.on('error', () => {})
    this.open.add(upstream)
    upstream.on('close', () => this.open.delete(upstream))
    this.forward(client, upstream)
    this.forward(upstream, client)
  }

  /**
   * `from` to `to`, and `from` ending ends `to` once what was read is written: replies a killed
   * primary sent before it died still reach the client.
   */
  private forward(from: Socket, to: Socket): void {
    from.on('close', () => {
      if (this.delay === 0) to.end()
      else setTimeout(() => to.end(), this.delay)
    })
    if (this.delay === 0) {
      from.pipe(to, { end: false })
      return
    }
    from.on('data', (chunk: Buffer) => {
      setTimeout(() => {
        if (!to.destroyed) to.write(chunk)
      }, this.delay)
    })
  }

  /** New connections wait until `release`. */
  hold(): void {
    this.held = true
  }

  /** Points new connections (and the waiting ones) at `target`. */
  release(target: number): void {
    this.target = target
    this.held = false
    for (const client of this.waiting.splice(0)) this.connect(client)
  }

  /** Destroys every proxied connection, and what a delay still held for them. */
  drop(): void {
    for (const socket of this.open) if (!this.waiting.includes(socket)) socket.destroy()
  }

  async close(): Promise<void> {
    for (const socket of this.open) socket.destroy()
    const server = this.server
    this.server = undefined
    if (server) await new Promise<void>((resolve) => server.close(() => resolve()))
  }
}

/** One command of a replication stream and the stream offset just after it. */
export interface StreamCommand {
  args: string[]
  end: number
}

/**
 * Splits RESP arrays of bulk strings (the replication stream after the snapshot) into commands.
 * Returns the commands and the number of bytes they took; an incomplete tail is left.
 */
export function parseCommands(data: Buffer, offset: number): { commands: StreamCommand[]; used: number } {
  const commands: StreamCommand[] = []
  let at = 0
  const line = (from: number): [string, number] | undefined => {
    const cr = data.indexOf('\r\n', from, 'latin1')
    return cr < 0 ? undefined : [data.toString('latin1', from, cr), cr + 2]
  }
  for (;;) {
    const head = line(at)
    if (!head) break
    const [text, afterHead] = head
    if (!text.startsWith('*')) throw new Error(`replication stream: expected an array at ${offset + at}: ${text}`)
    const count = Number(text.slice(1))
    const args: string[] = []
    let cursor = afterHead
    let complete = true
    for (let i = 0; i < count; i++) {
      const bulk = line(cursor)
      if (!bulk) {
        complete = false
        break
      }
      if (!bulk[0].startsWith('$')) throw new Error(`replication stream: expected a bulk string at ${offset + cursor}`)
      const length = Number(bulk[0].slice(1))
      if (bulk[1] + length + 2 > data.length) {
        complete = false
        break
      }
      // values can be large: the name and keys are all the analysis needs
      args.push(data.toString('utf8', bulk[1], bulk[1] + Math.min(length, 200)))
      cursor = bulk[1] + length + 2
    }
    if (!complete) break
    at = cursor
    commands.push({ args, end: offset + at })
  }
  return { commands, used: at }
}

/**
 * The coordinator's view of a primary's replication stream. It keeps the last `keep` bytes of
 * the stream after the snapshot, with their offsets, and parses them only when asked.
 */
export class StreamTap {
  private readonly socket: Socket
  private pending = Buffer.alloc(0)
  private phase: 'handshake' | 'snapshot-header' | 'snapshot' | 'stream' = 'handshake'
  private eofMark: Buffer | undefined
  private acking: NodeJS.Timeout | undefined
  private snapshotLeft = 0
  /** stream bytes kept, oldest first, and the offset of the first */
  private chunks: Buffer[] = []
  private kept = 0
  private firstOffset = 0
  /** offset just after the last byte received */
  offset = -1
  readonly synced: Promise<void>
  readonly closed: Promise<void>

  constructor(
    port: number,
    private readonly keep = 32 * 1024 * 1024,
  ) {
    this.socket = connect(port, '127.0.0.1')
    this.socket.on('error', () => {})
    this.closed = new Promise((resolve) => this.socket.once('close', () => resolve()))
    let synced: () => void = () => {}
    let failed: (error: Error) => void = () => {}
    this.synced = new Promise((resolve, reject) => {
      synced = resolve
      failed = reject
    })
    this.synced.catch(() => {})
    this.socket.on('close', () => {
      clearInterval(this.acking)
      failed(new Error('the primary closed the tap before the snapshot'))
    })
    this.socket.on('data', (chunk: Buffer) => {
      try {
        this.receive(chunk, synced)
      } catch (error) {
        failed(error as Error)
        this.socket.destroy()
      }
    })
    // PSYNC only once REPLCONF is answered: the primary refuses it with a reply pending
    this.socket.write('*5\r\n$8\r\nREPLCONF\r\n$4\r\ncapa\r\n$3\r\neof\r\n$4\r\ncapa\r\n$6\r\npsync2\r\n')
  }

  private receive(chunk: Buffer, synced: () => void): void {
    if (this.phase === 'stream') {
      this.store(chunk)
      return
    }
    this.pending = Buffer.concat([this.pending, chunk])
    for (;;) {
      if (this.phase === 'snapshot') {
        if (!this.skipSnapshot()) return
        this.startStream()
        synced()
        return
      }
      // the primary sends bare newlines to keep the link alive while it prepares the snapshot
      while (this.pending[0] === 0x0a) this.pending = this.pending.subarray(1)
      const cr = this.pending.indexOf('\r\n')
      if (cr < 0) return
      const text = this.pending.toString('latin1', 0, cr)
      this.pending = this.pending.subarray(cr + 2)
      if (this.phase === 'handshake') {
        if (text === '+OK') {
          this.socket.write('*3\r\n$5\r\nPSYNC\r\n$1\r\n?\r\n$2\r\n-1\r\n')
          continue
        }
        const match = /^\+FULLRESYNC \S+ (\d+)$/.exec(text)
        if (!match) throw new Error(`tap: unexpected reply ${text}`)
        this.offset = Number(match[1])
        this.firstOffset = this.offset
        this.phase = 'snapshot-header'
      } else if (text.startsWith('$EOF:')) {
        this.eofMark = Buffer.from(text.slice(5), 'latin1')
        this.phase = 'snapshot'
      } else if (text.startsWith('$')) {
        this.snapshotLeft = Number(text.slice(1))
        this.phase = 'snapshot'
      } else {
        throw new Error(`tap: unexpected snapshot header ${text}`)
      }
    }
  }

  private startStream(): void {
    this.phase = 'stream'
    // The primary streams to a replica once it acknowledges the snapshot, if the ACK comes after
    // it saw the snapshot end (else from the next ACK). Offset 0: the tap never counts towards a
    // WAIT. Often, so that the stream starts soon and the primary never times the tap out.
    const ack = () => this.socket.write('*3\r\n$8\r\nREPLCONF\r\n$3\r\nACK\r\n$1\r\n0\r\n')
    ack()
    this.acking = setInterval(ack, 50)
    this.acking.unref()
    const rest = this.pending
    this.pending = Buffer.alloc(0)
    if (rest.length > 0) this.store(rest)
  }

  /** Drops the snapshot from `pending`; true once all of it went by. */
  private skipSnapshot(): boolean {
    if (this.eofMark) {
      const at = this.pending.indexOf(this.eofMark)
      if (at < 0) {
        // keep a tail that may hold the start of the mark
        this.pending = this.pending.subarray(Math.max(0, this.pending.length - this.eofMark.length))
        return false
      }
      this.pending = this.pending.subarray(at + this.eofMark.length)
      return true
    }
    const skip = Math.min(this.snapshotLeft, this.pending.length)
    this.snapshotLeft -= skip
    this.pending = this.pending.subarray(skip)
    return this.snapshotLeft === 0
  }

  private store(chunk: Buffer): void {
    this.chunks.push(chunk)
    this.kept += chunk.length
    this.offset += chunk.length
    while (this.kept - (this.chunks[0]?.length ?? 0) >= this.keep) {
      const dropped = this.chunks.shift() as Buffer
      this.kept -= dropped.length
      this.firstOffset += dropped.length
    }
  }

  /** The commands after stream offset `from` (a command boundary), or undefined if no longer kept. */
  commandsAfter(from: number): StreamCommand[] | undefined {
    if (from < this.firstOffset) return undefined
    const all = Buffer.concat(this.chunks)
    return parseCommands(all.subarray(from - this.firstOffset), from).commands
  }

  close(): void {
    this.socket.destroy()
  }
}

/**
 * Groups a lost stream tail into script calls (MULTI ... EXEC: Redis replicates a script's
 * effects) and keeps those that touched the versions or generations of the namespace of `keys`.
 */
export function lostEffects(commands: readonly StreamCommand[], keys: Keys): LostEffect[] {
  const effects: LostEffect[] = []
  let block: string[][] | undefined
  const close = (calls: string[][]) => {
    const effect: LostEffect = { groups: [] }
    let reads = false
    for (const [name, key] of calls) {
      const split = key === undefined ? undefined : keys.split(key)
      if (split === undefined) continue
      const { kind, name: rest } = split
      const command = name?.toUpperCase()
      if (kind === 'g' && command === 'INCR') effect.groups.push(rest)
      else if (kind === 'g' && command === 'SET') reads = true
      else if (kind === 't' && command === 'INCR') effect.deleted = rest
      else if (kind === 't' && command === 'SET') effect.created = rest
    }
    // a read's miss creates group versions too; a delete never does
    if (reads) effect.created = undefined
    if (effect.groups.length > 0 || effect.deleted !== undefined || effect.created !== undefined) effects.push(effect)
  }
  for (const { args } of commands) {
    const name = args[0]?.toUpperCase()
    if (name === 'MULTI') block = []
    else if (name === 'EXEC') {
      if (block) close(block)
      block = undefined
    } else if (block) block.push(args)
    else close([args])
  }
  return effects
}

/** One failover: when, and what the old primary had applied that the promoted replica never got. */
export interface Failover {
  /** process.hrtime.bigint() once the primary was dead */
  killedAt: bigint
  /** when the proxy started passing connections to the new primary */
  switchedAt: bigint
  /** stream bytes the old primary sent (to the tap) past the promoted replica's offset */
  lostBytes: number
  /** commands in those bytes (undefined: the tap no longer kept them) */
  lostCommands: number | undefined
  lost: LostEffect[]
}

/** What a fault that kills a primary tells of it, before the kill and once a replica took over. */
export interface KillWatch {
  /** Just before the kill of the primary listening on `port`. */
  before(port: number): Promise<void>
  /** Once the replica at `url` was promoted in its place. */
  promoted(url: string): Promise<void>
}

/**
 * What a kill -9 of a primary loses, where the failover is another's to make (a Cluster's, the
 * Sentinels'): a tap on the primary's stream from just before the kill, and the offset its
 * promoted replica had reached (INFO's second_repl_offset - 1: where the replica's own history
 * began). The tap never counts towards a WAIT (it acknowledges offset 0), nor is it promoted.
 */
export class KillTap implements KillWatch {
  private tap: StreamTap | undefined
  private killedAt: bigint | undefined
  /** What was lost, once `promoted` resolved. */
  failover: Failover | undefined

  constructor(private readonly keys: Keys) {}

  async before(port: number): Promise<void> {
    // A diskless sync waits repl-diskless-sync-delay (5 s by default) for more replicas first.
    const admin = new Redis(port, '127.0.0.1', { maxRetriesPerRequest: 1 })
    admin.on('error', () => {})
    try {
      await admin.config('SET', 'repl-diskless-sync-delay', '0')
    } finally {
      admin.disconnect()
    }
    const tap = new StreamTap(port)
    this.tap = tap
    await Promise.race([
      tap.synced,
      sleep(5000).then(() => Promise.reject(new Error('the tap did not sync with the primary'))),
    ])
    // the stream flows from the tap's first ACK after the snapshot (see StreamTap)
    await sleep(150)
    // the kill follows as soon as this resolves: this is its time
    this.killedAt = process.hrtime.bigint()
  }

  async promoted(url: string): Promise<void> {
    const switchedAt = process.hrtime.bigint()
    const { tap, killedAt } = this
    if (tap === undefined || killedAt === undefined) throw new Error('KillTap: promoted before a kill')
    const admin = new Redis(url, { maxRetriesPerRequest: 1 })
    admin.on('error', () => {})
    try {
      const reached = Number(await infoField(admin, 'second_repl_offset')) - 1
      // the tap reads what the dead primary had written until its socket ends
      await Promise.race([tap.closed, sleep(2000)])
      const commands = reached >= 0 ? tap.commandsAfter(reached) : undefined
      this.failover = {
        killedAt,
        switchedAt,
        lostBytes: Math.max(0, tap.offset - reached),
        lostCommands: commands?.length,
        lost: lostEffects(commands ?? [], this.keys),
      }
    } finally {
      admin.disconnect()
      tap.close()
    }
  }
}

async function infoField(client: Redis, field: string): Promise<string | undefined> {
  const text = await client.info('replication')
  return new RegExp(`^${field}:(.*)$`, 'm').exec(text)?.[1]?.trim()
}

/**
 * Waits until the replica is in sync and receives the stream. After a diskless sync a replica
 * says its link is up, but the primary streams to it only from its next ACK (up to 1 s later):
 * until then it falls behind. So: until it reached the primary's offset of when the link was up.
 */
async function waitForLink(replica: Redis, primary: Redis, deadline = Date.now() + 10_000): Promise<void> {
  const due = () => {
    if (Date.now() > deadline) throw new Error('the replica did not finish its sync with the primary')
    return sleep(10)
  }
  while ((await infoField(replica, 'master_link_status')) !== 'up') await due()
  const target = Number(await infoField(primary, 'master_repl_offset'))
  while (Number(await infoField(replica, 'slave_repl_offset')) < target) await due()
}

interface Node {
  server: RedisServer
  admin: Redis
  /** a replica's link to its primary, when it goes through a delaying proxy */
  link?: TcpProxy
}

async function startNode(args: readonly string[], primary?: { port: number; delay: number }): Promise<Node> {
  let link: TcpProxy | undefined
  let replicaof: string[] = []
  if (primary) {
    if (primary.delay > 0) {
      link = new TcpProxy(primary.port, primary.delay)
      await link.listen()
    }
    replicaof = ['--replicaof', '127.0.0.1', String(link?.port ?? primary.port)]
  }
  const server = await startRedisServer([...REPLICATION_ARGS, ...args, ...replicaof])
  const admin = new Redis(server.url, { maxRetriesPerRequest: 1, connectionName: 'checker-replication' })
  admin.on('error', () => {})
  return { server, admin, link }
}

export interface ReplicatedOptions {
  /** extra redis-server arguments for every server of the pair */
  args?: readonly string[]
  /**
   * ms each way on the replica's link to its primary (through a proxy in this process); 0: a
   * direct link. A failover cuts the link with the primary, so what was on it is lost.
   */
  linkDelay?: number
}

/** A primary and one replica behind a proxy; `failover` promotes the replica. */
export class ReplicatedServer {
  private primary: Node
  private replica: Node | undefined
  /**
   * Taps the current primary while it has a replica. Not before: a WAIT from a connection that
   * wrote nothing counts every replica online, the tap too.
   */
  private tap: StreamTap | undefined
  readonly proxy: TcpProxy
  readonly failovers: Failover[] = []
  private readonly args: readonly string[]
  readonly linkDelay: number

  private constructor(options: ReplicatedOptions, primary: Node, proxy: TcpProxy) {
    this.args = options.args ?? []
    this.linkDelay = options.linkDelay ?? 0
    this.primary = primary
    this.proxy = proxy
  }

  static async start(options: ReplicatedOptions = {}): Promise<ReplicatedServer> {
    const primary = await startNode(options.args ?? [])
    const made = new ReplicatedServer(options, primary, new TcpProxy(primary.server.port))
    try {
      await made.proxy.listen()
      await made.addReplica()
    } catch (error) {
      await made.stop()
      throw error
    }
    return made
  }

  /** The address of the current primary, through the proxy. */
  get url(): string {
    return this.proxy.url
  }

  /** The current primary's own address (no proxy). */
  get primaryUrl(): string {
    return this.primary.server.url
  }

  get hasReplica(): boolean {
    return this.replica !== undefined
  }

  /**
   * SIGKILLs the primary (and cuts the replica's link to it), promotes the replica, points the
   * proxy at it and drops every proxied connection. New connections wait in the proxy meanwhile.
   * The pair then has no replica until `addReplica`. `keys`: the namespace whose lost
   * invalidations to pick out of the lost stream.
   */
  async failover(keys: Keys): Promise<Failover> {
    const old = this.primary
    const replica = this.replica
    const tap = this.tap
    if (!replica || !tap) throw new Error('failover: there is no replica to promote')
    this.proxy.hold()
    replica.link?.drop()
    await old.server.kill()
    const killedAt = process.hrtime.bigint()
    await replica.admin.call('REPLICAOF', 'NO', 'ONE')
    const reached = Number(await infoField(replica.admin, 'master_repl_offset'))
    this.proxy.release(replica.server.port)
    this.proxy.drop()
    const switchedAt = process.hrtime.bigint()
    await replica.link?.close()
    replica.link = undefined
    // the tap reads what the dead primary had written until its socket ends
    await Promise.race([tap.closed, sleep(2000)])
    const commands = tap.commandsAfter(reached)
    const failover: Failover = {
      killedAt,
      switchedAt,
      lostBytes: Math.max(0, tap.offset - reached),
      lostCommands: commands?.length,
      lost: lostEffects(commands ?? [], keys),
    }
    this.failovers.push(failover)
    tap.close()
    this.tap = undefined
    old.admin.disconnect()
    this.primary = replica
    this.replica = undefined
    return failover
  }

  /** Starts a fresh replica of the current primary and waits until it is in sync; taps the primary. */
  async addReplica(): Promise<void> {
    if (this.replica) return
    this.replica = await startNode(this.args, { port: this.primary.server.port, delay: this.linkDelay })
    await waitForLink(this.replica.admin, this.primary.admin)
    this.tap = new StreamTap(this.primary.server.port)
    await this.tap.synced
  }

  async stop(): Promise<void> {
    this.tap?.close()
    await this.proxy.close()
    for (const node of [this.primary, this.replica]) {
      if (!node) continue
      node.admin.disconnect()
      await node.link?.close()
      await node.server.stop()
    }
  }
}

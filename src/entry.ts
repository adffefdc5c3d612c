/**
 * The entry format, read on the client (the scripts write it: lua/include/common.lua):
 *
 *   <version 1>,...,<version n>;<bytes>:<group 1>...<bytes>:<group n><value>
 *
 * An entry stored with grace opens with a header, `~<grace ms>,<fresh until>~`: the Redis time its
 * TTL ends, or nothing without a TTL. Only a script, which knows Redis's clock, can tell whether
 * an entry with a `fresh until` is live; the MGET check reads past a header without one.
 *
 * A reader that knows an entry's groups fetches the entry and the groups' current versions with
 * one MGET, no script, and checks here that the entry holds exactly those groups and that each
 * snapshot version is still current. One plain command reads the entry and the versions at one
 * instant, so the check is as atomic as the script's.
 */

/** The groups part of an entry for `groups`, in their order: what a live entry's header holds. */
export function groupsPart(groups: readonly string[]): Buffer {
  let part = ''
  for (const group of groups) part += `${Buffer.byteLength(group)}:${group}`
  return Buffer.from(part)
}

const COMMA = 44
const SEMICOLON = 59
const TILDE = 126

/**
 * The offset of the value in `entry` if it is live, else -1: the entry's snapshot must hold
 * exactly the expected groups (`part`, from `groupsPart`), and each snapshot version must be the
 * current one, `reply[at[i]]` for the i-th group. -1 says nothing more: the entry may be stale,
 * or hold other groups, and a script must settle it. Bytes are compared in a loop: the fields are
 * a few bytes long, shorter than a call into Buffer.compare costs.
 */
export function liveAt(entry: Buffer, reply: readonly (Buffer | null)[], at: readonly number[], part: Buffer): number {
  // Versions are digits, so a version followed by the expected separator is exactly that field,
  // and a ';' after the n-th says the snapshot has n versions.
  let pos = 0
  if (entry[0] === TILDE) {
    // `~<grace>,~`: a TTL's end would need Redis's clock, so only a header without one is read past.
    pos = entry.indexOf(TILDE, 1)
    if (pos < 0 || entry[pos - 1] !== COMMA) return -1
    pos++
  }
  const start = pos
  for (let i = 0; i < at.length; i++) {
    const version = reply[at[i] as number]
    if (version == null || !bytesAt(entry, pos, version)) return -1
    pos += version.length
    if (entry[pos] !== (i === at.length - 1 ? SEMICOLON : COMMA)) return -1
    pos++
  }
  if (at.length === 0) {
    if (entry[start] !== SEMICOLON) return -1
    pos = start + 1
  }
  // n length-prefixed names are self-delimiting: a prefix match of all n is an exact match.
  return bytesAt(entry, pos, part) ? pos + part.length : -1
}

function bytesAt(buffer: Buffer, at: number, bytes: Buffer): boolean {
  if (at + bytes.length > buffer.length) return false
  for (let i = 0; i < bytes.length; i++) if (buffer[at + i] !== bytes[i]) return false
  return true
}

export interface DecodedEntry {
  versions: string[]
  groups: string[]
  value: string
  /** ms it may be served stale; 0 without a header */
  grace: number
  /** Whether its header holds a TTL's end: only a script can tell if it is live. */
  timed: boolean
  /** That end, in Redis seconds (of the entry's node's clock); undefined without one. */
  fresh: number | undefined
}

/** An entry's snapshot, groups and value: what a script's read returns is decoded here. */
export function decodeEntry(entry: string): DecodedEntry {
  let grace = 0
  let timed = false
  let fresh: number | undefined
  let start = 0
  if (entry.startsWith('~')) {
    const close = entry.indexOf('~', 1)
    const header = /^(\d+),([\d.]*)$/.exec(close < 0 ? '' : entry.slice(1, close))
    if (header === null) throw new Error('not an entry: a bad grace header')
    grace = Number(header[1])
    timed = header[2] !== ''
    if (timed) fresh = Number(header[2])
    start = close + 1
  }
  const semi = entry.indexOf(';', start)
  if (semi < 0) throw new Error('not an entry: no snapshot')
  const versions = semi === start ? [] : entry.slice(start, semi).split(',')
  const groups: string[] = []
  let pos = semi + 1
  for (let n = 0; n < versions.length; n++) {
    const colon = entry.indexOf(':', pos)
    let bytes = colon < 0 ? Number.NaN : Number(entry.slice(pos, colon))
    if (!Number.isSafeInteger(bytes)) throw new Error('not an entry: a group without its length')
    // The length is in UTF-8 bytes; walk the UTF-16 string until that many bytes are covered.
    let end = colon + 1
    while (bytes > 0 && end < entry.length) {
      const code = entry.charCodeAt(end)
      const pair = code >= 0xd800 && code < 0xdc00
      bytes -= pair ? 4 : code < 0x80 ? 1 : code < 0x800 ? 2 : 3
      end += pair ? 2 : 1
    }
    groups.push(entry.slice(colon + 1, end))
    pos = end
  }
  return { versions, groups, value: entry.slice(pos), grace, timed, fresh }
}

/**
 * Whether an entry held under `held` answers a read that asked for `asked`: it has every group
 * asked for (it may have more), as lua/include/common.lua's `covers`.
 */
export function covers(held: readonly string[], asked: readonly string[]): boolean {
  for (const group of asked) if (!held.includes(group)) return false
  return true
}

/**
 * How a namespace's keys are laid out over Redis Cluster slots (the `sharding` option):
 * - `'namespace'`: `<prefix>:{<ns>}:<kind>:<name>`. Every key shares the hash tag `{ns}`, so the
 *   whole namespace lives in one slot and every operation is one script on one node.
 * - `'key'`: `<prefix>:<<ns>>:<kind>{:<name>}`. Each key's hash tag is its own name, so an entry,
 *   its generation and its lease share the key's slot, each group's version and record the
 *   group's slot, and a namespace spreads over every master (src/spread.ts).
 * The prefix and namespace hold no braces or angle brackets, so `{` or `<` after the prefix says
 * which layout a key is of, and the two never collide, whatever braces a key or group name holds
 * (lua/include/common.lua reads both). In the 'key' layout the tag starts with `:`, so it is never
 * empty (a name starting with `}`), and it ends at the name's first `}`: the same prefix of the
 * name for every kind, so the kinds of one name share a slot.
 */
export type Sharding = 'namespace' | 'key'

/**
 * Every Redis key of a namespace, built in one place. The one-letter kinds keep an entry (`e`),
 * a key generation (`t`), a key's fill lease (`l`), a group version (`g`) and the record of its
 * last soft move (`p`, written by lua/expire-groups.lua) of the same name apart.
 */
export class Keys {
  private readonly base: string
  /** What goes after the kind letter (the 'key' layout's tag opens there), and at the end. */
  private readonly open: string
  private readonly close: string

  constructor(
    prefix: string,
    namespace: string,
    readonly sharding: Sharding = 'namespace',
  ) {
    const spread = sharding === 'key'
    this.base = spread ? `${prefix}:<${namespace}>:` : `${prefix}:{${namespace}}:`
    this.open = spread ? '{:' : ':'
    this.close = spread ? '}' : ''
  }

  /** Whether the keys of one call may live on different slots (the 'key' layout). */
  get spread(): boolean {
    return this.sharding === 'key'
  }

  private key(kind: string, name: string): string {
    return `${this.base}${kind}${this.open}${name}${this.close}`
  }

  /** The string holding a key's value and its groups' versions at write time. */
  entry(key: string): string {
    return this.key('e', key)
  }

  /**
   * The key's generation: created by a miss, moved by delete, so that fills begun before a
   * delete are refused. Lives `lease` ms.
   */
  generation(key: string): string {
    return this.key('t', key)
  }

  /** Who is filling the key (one fill per key across the fleet): taken by a miss, released by its set. */
  lease(key: string): string {
    return this.key('l', key)
  }

  /** A group's current version, moved by expireGroup. */
  group(group: string): string {
    return this.key('g', group)
  }

  /**
   * What a Redis key of this namespace is, from its name: an entry's key or a group (the kinds
   * the near cache watches), else undefined.
   */
  parse(name: string): { kind: 'entry' | 'group'; name: string } | undefined {
    const split = this.split(name)
    if (split?.kind === 'e') return { kind: 'entry', name: split.name }
    if (split?.kind === 'g') return { kind: 'group', name: split.name }
    return undefined
  }

  /** A key of this namespace as its kind letter and name, else undefined. */
  split(name: string): { kind: string; name: string } | undefined {
    const { base, open, close } = this
    if (!name.startsWith(base) || !name.startsWith(open, base.length + 1) || !name.endsWith(close)) return undefined
    const rest = name.slice(base.length + 1 + open.length, name.length - close.length)
    return rest === '' ? undefined : { kind: name.charAt(base.length), name: rest }
  }

  /** A key of the namespace no one writes: its slot is the namespace's (the near cache reads it on a Cluster). */
  get probe(): string {
    return `${this.base}probe`
  }

  /** A pattern matching every key of the namespace (for ACLs, SCAN and tests). */
  get pattern(): string {
    return `${this.base}*`
  }
}

/**
 * Every Redis key of a namespace, built in one place. All share the hash tag `{ns}` so that
 * every key one script touches lives in one Redis Cluster slot; the prefix and namespace hold
 * no braces, so `{ns}` is always the first tag, whatever braces a key or group name holds.
 * The one-letter kinds keep an entry (`e`), a key generation (`t`), a key's fill lease (`l`), a
 * group version (`g`) and the record of its last soft move (`p`, written by lua/expire-groups.lua)
 * of the same name apart.
 */
export class Keys {
  /** `<prefix>:{ns}:g:`: a group's version key is this plus the group name. */
  private readonly groupPrefix: string
  private readonly base: string

  constructor(prefix: string, namespace: string) {
    this.base = `${prefix}:{${namespace}}:`
    this.groupPrefix = `${this.base}g:`
  }

  /** The hash holding a key's value and its groups' versions at write time. */
  entry(key: string): string {
    return `${this.base}e:${key}`
  }

  /**
   * The key's generation: created by a miss, moved by delete, so that fills begun before a
   * delete are refused. Lives `lease` ms.
   */
  generation(key: string): string {
    return `${this.base}t:${key}`
  }

  /** Who is filling the key (one fill per key across the fleet): taken by a miss, released by its set. */
  lease(key: string): string {
    return `${this.base}l:${key}`
  }

  /** A group's current version, moved by expireGroup. */
  group(group: string): string {
    return this.groupPrefix + group
  }

  /**
   * What a Redis key of this namespace is, from its name: an entry's key or a group (the kinds
   * the near cache watches), else undefined.
   */
  parse(name: string): { kind: 'entry' | 'group'; name: string } | undefined {
    if (!name.startsWith(this.base) || name.charCodeAt(this.base.length + 1) !== 58 /* : */) return undefined
    const kind = name[this.base.length]
    const rest = name.slice(this.base.length + 2)
    if (kind === 'e') return { kind: 'entry', name: rest }
    if (kind === 'g') return { kind: 'group', name: rest }
    return undefined
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

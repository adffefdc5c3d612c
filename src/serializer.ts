/** Turns values into the strings stored in Redis and back. */
export interface Serializer {
  /** Encode a value; throw (or return a non-string) for a value that cannot be stored. */
  serialize(value: unknown): string
  /** Decode what `serialize` produced. */
  deserialize(text: string): unknown
}

/**
 * What JSON would silently change, refused at `set` rather than found changed at `get`: the raw
 * value beside the one JSON.stringify would write (`this[key]` is the value before its toJSON).
 */
function strict(this: unknown, key: string, value: unknown): unknown {
  const raw = (this as Record<string, unknown>)[key]
  const refuse = (what: string, becomes: string) => {
    throw new TypeError(`${what} would read back as ${becomes}${key === '' ? '' : ` (at ${JSON.stringify(key)})`}`)
  }
  if (raw !== null && typeof raw === 'object') {
    if (raw instanceof Date) refuse('a Date', 'a string')
    if (raw instanceof Map || raw instanceof Set) refuse(`a ${raw.constructor.name}`, '{}')
    if (raw instanceof RegExp) refuse('a RegExp', '{}')
    if (ArrayBuffer.isView(raw)) refuse(`a ${raw.constructor.name}`, 'a plain object')
  } else if (typeof raw === 'number') {
    if (!Number.isFinite(raw)) refuse(String(raw), 'null')
  } else if (typeof raw === 'function' || typeof raw === 'symbol') {
    refuse(`a ${typeof raw}`, Array.isArray(this) ? 'null' : 'nothing')
  } else if (raw === undefined && Array.isArray(this)) {
    refuse('undefined in an array', 'null')
  }
  return value
}

/** Past this depth a value is left to `strict`, which also tells a cycle (JSON.stringify throws). */
const PLAIN_DEPTH = 64

/**
 * Whether JSON.stringify writes `value` as it is, with nothing for `strict` to refuse: null,
 * booleans, strings, finite numbers, and arrays and plain objects (of Object.prototype, without
 * toJSON) of them, an object's undefined fields aside (JSON drops them, and so does strict). Such a
 * value is stringified without the replacer, whose call per field made a 1 KiB value's JSON
 * several times dearer than JSON.stringify's own; any other value is left to it, so what is
 * refused, and every error, stays the same.
 */
function isPlainJson(value: unknown, depth: number): boolean {
  if (value === null) return true
  switch (typeof value) {
    case 'string':
    case 'boolean':
      return true
    case 'number':
      return Number.isFinite(value)
    case 'object': {
      if (depth === PLAIN_DEPTH) return false
      const proto = Object.getPrototypeOf(value)
      if (typeof (value as { toJSON?: unknown }).toJSON === 'function') return false
      if (proto === Array.prototype) {
        const list = value as unknown[]
        for (let i = 0; i < list.length; i++) {
          if (!isPlainJson(list[i], depth + 1)) return false
        }
        return true
      }
      if (proto !== Object.prototype) return false
      for (const key in value) {
        const field = (value as Record<string, unknown>)[key]
        if (field !== undefined && !isPlainJson(field, depth + 1)) return false
      }
      return true
    }
    default:
      return false
  }
}

/**
 * JSON, the default: `null`, booleans, finite numbers, strings, arrays and plain objects
 * round-trip. What JSON would silently change is refused with a `SerializationError` before
 * anything is written: a Date (it would read back as a string), a Map, Set or RegExp (`{}`), a
 * typed array or Buffer, NaN and Infinity (`null`), a function or symbol, `undefined` in an array;
 * BigInt and cyclic values too. An object field that is `undefined` is dropped, as JSON does (it
 * reads back absent), and a class instance reads back as a plain object of its fields. Store a
 * Date as `date.toISOString()`, or pass a serializer of your own.
 */
export const jsonSerializer: Serializer = {
  serialize: (value) => (isPlainJson(value, 0) ? JSON.stringify(value) : JSON.stringify(value, strict)),
  deserialize: (text) => JSON.parse(text),
}

import type { Serializer } from '../serializer.js'

/**
 * What the Next.js handlers store: JSON, with what Next's cache values hold beside plain data
 * written so that it reads back as it was. A `Buffer` (an APP_PAGE's `rscData`, an APP_ROUTE's
 * `body`, an IMAGE's `buffer`, a 'use cache' entry's bytes) is stored as base64 and reads back as
 * a Buffer; a `Map` (an APP_PAGE's `segmentData`) keeps its entries and reads back as a Map. An
 * object field that is `undefined` is dropped, as JSON does. Anything else JSON would change (a
 * function, a symbol, a BigInt, NaN) is refused: the cache reports a SerializationError and
 * stores nothing.
 */

/** The key that marks an encoded Buffer or Map, or a plain object that had this key itself. */
const TAG = '$rgc'

export const nextSerializer: Serializer = {
  serialize: (value) => JSON.stringify(encode(value, '')),
  deserialize: (text) => decode(JSON.parse(text)),
}

function encode(value: unknown, at: string): unknown {
  if (value === null || typeof value === 'string' || typeof value === 'boolean') return value
  if (typeof value === 'number') {
    if (!Number.isFinite(value)) throw new TypeError(`${value} would read back as null${where(at)}`)
    return value
  }
  if (typeof value === 'undefined') return undefined
  if (typeof value !== 'object') throw new TypeError(`a ${typeof value} cannot be stored${where(at)}`)
  if (value instanceof Uint8Array)
    return { [TAG]: 'b', d: Buffer.from(value.buffer, value.byteOffset, value.byteLength).toString('base64') }
  if (value instanceof Map)
    return { [TAG]: 'm', d: [...value].map(([k, v], i) => [encode(k, `${at}[${i}]`), encode(v, `${at}[${i}]`)]) }
  if (Array.isArray(value)) return value.map((item, i) => (item === undefined ? null : encode(item, `${at}[${i}]`)))
  const prototype = Object.getPrototypeOf(value)
  if (prototype !== Object.prototype && prototype !== null)
    throw new TypeError(`a ${(value as object).constructor?.name ?? 'class instance'} cannot be stored${where(at)}`)
  const out: Record<string, unknown> = {}
  for (const [key, inner] of Object.entries(value)) {
    const encoded = encode(inner, `${at}.${key}`)
    if (encoded !== undefined) out[key] = encoded
  }
  return TAG in out ? { [TAG]: 'o', d: out } : out
}

function decode(value: unknown): unknown {
  if (value === null || typeof value !== 'object') return value
  if (Array.isArray(value)) return value.map(decode)
  const object = value as Record<string, unknown>
  const tag = object[TAG]
  if (tag === 'b') return Buffer.from(object.d as string, 'base64')
  if (tag === 'm') return new Map((object.d as [unknown, unknown][]).map(([k, v]) => [decode(k), decode(v)]))
  const fields = tag === 'o' ? (object.d as Record<string, unknown>) : object
  const out: Record<string, unknown> = {}
  for (const [key, inner] of Object.entries(fields)) {
    // an own "__proto__" key stays an own key, as JSON.parse made it
    if (key === '__proto__')
      Object.defineProperty(out, key, { value: decode(inner), enumerable: true, writable: true, configurable: true })
    else out[key] = decode(inner)
  }
  return out
}

function where(at: string): string {
  return at === '' ? '' : ` (at ${at})`
}

import { InvalidArgumentError, SerializationError } from './errors.js'
import type { Serializer } from './serializer.js'
import { checkFunction } from './validate.js'

/**
 * What a fill stores when its function found nothing (`notFoundTtl`): stored as the empty
 * string, which no serializer may return, and read back as undefined.
 */
export const NOT_FOUND: unique symbol = Symbol('not found')

/** Values to the strings stored in Redis and back, through the cache's serializer, with typed errors. */
export class Values {
  constructor(private readonly serializer: Serializer) {
    checkFunction(serializer.serialize, 'serializer.serialize')
    checkFunction(serializer.deserialize, 'serializer.deserialize')
  }

  encode(value: unknown): string {
    if (value === NOT_FOUND) return ''
    if (value === undefined) throw new InvalidArgumentError('value must not be undefined (use null for "nothing")')
    let text: unknown
    try {
      text = this.serializer.serialize(value)
    } catch (cause) {
      throw new SerializationError(`the serializer could not encode the value: ${(cause as Error)?.message ?? cause}`, {
        cause,
      })
    }
    if (typeof text !== 'string') throw new SerializationError(`the serializer returned ${typeof text}, not a string`)
    if (text === '')
      throw new SerializationError('the serializer returned an empty string, which stands for "not found"')
    return text
  }

  /** A stored value; undefined for a stored "not found". */
  decode<T>(text: string): T {
    if (text === '') return undefined as T
    try {
      return this.serializer.deserialize(text) as T
    } catch (cause) {
      throw new SerializationError(
        `the serializer could not decode a stored value: ${(cause as Error)?.message ?? cause}`,
        { cause },
      )
    }
  }
}

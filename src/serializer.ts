/** Turns values into the strings stored in Redis and back. */
export interface Serializer {
  /** Encode a value; throw (or return a non-string) for a value that cannot be stored. */
  serialize(value: unknown): string
  /** Decode what `serialize` produced. */
  deserialize(text: string): unknown
}

/**
 * JSON, the default: `null`, booleans, numbers, strings, arrays and plain objects round-trip.
 * Like JSON.stringify it turns Dates into strings and drops `undefined` object fields;
 * BigInt and cyclic values are refused.
 */
export const jsonSerializer: Serializer = {
  serialize: (value) => JSON.stringify(value),
  deserialize: (text) => JSON.parse(text),
}

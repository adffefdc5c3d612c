import { describe, expect, it } from 'vitest'
import { decodeEntry, groupsPart, liveAt } from '../src/entry.js'

/**
 * The client's half of the MGET read (src/entry.ts): an entry is live only if its snapshot holds
 * exactly the current versions of exactly the hinted groups. The scripts write the format
 * (lua/include/common.lua); the behaviour suite reads it through them. These cases are the ones
 * a real Redis rarely makes: versions that are prefixes of one another, entries without groups.
 */
const b = (text: string) => Buffer.from(text)

/** An MGET reply: the entry, then each group's current version. */
function reply(entry: string, ...versions: (string | null)[]): (Buffer | null)[] {
  return [b(entry), ...versions.map((version) => (version === null ? null : b(version)))]
}

describe('liveAt', () => {
  const part = groupsPart(['a', 'b'])

  it('finds the value of an entry whose snapshot is the current versions of its groups', () => {
    const entry = '12,34;1:a1:bvalue'
    expect(liveAt(b(entry), reply(entry, '12', '34'), [1, 2], part)).toBe(entry.indexOf('value'))
  })

  it('refuses a snapshot version that merely starts with the current one', () => {
    // '12' is a prefix of '123': only the separator after it tells them apart
    expect(liveAt(b('123,34;1:a1:bv'), reply('123,34;1:a1:bv', '12', '34'), [1, 2], part)).toBe(-1)
    expect(liveAt(b('12,345;1:a1:bv'), reply('12,345;1:a1:bv', '12', '34'), [1, 2], part)).toBe(-1)
  })

  it('refuses a moved or missing version, other group names, and fewer or more groups', () => {
    expect(liveAt(b('12,34;1:a1:bv'), reply('', '12', '35'), [1, 2], part)).toBe(-1)
    expect(liveAt(b('12,34;1:a1:bv'), reply('', '12', null), [1, 2], part)).toBe(-1)
    expect(liveAt(b('12,34;1:a1:cv'), reply('', '12', '34'), [1, 2], part)).toBe(-1)
    expect(liveAt(b('12;1:av'), reply('', '12', '34'), [1, 2], part)).toBe(-1)
    expect(liveAt(b('12,34,56;1:a1:b1:cv'), reply('', '12', '34'), [1, 2], part)).toBe(-1)
  })

  it('reads an entry without groups only as one: it starts with the separator', () => {
    const none = groupsPart([])
    expect(liveAt(b(';value'), reply(''), [], none)).toBe(1)
    expect(liveAt(b('12;1:avalue'), reply(''), [], none)).toBe(-1)
  })

  it('refuses an entry cut short inside a version', () => {
    expect(liveAt(b('1'), reply('', '12'), [1], groupsPart(['a']))).toBe(-1)
  })
})

describe('decodeEntry', () => {
  it('splits group names by their length in UTF-8 bytes, whatever characters they hold', () => {
    const groups = ['é', '東京', '😀:x', 'a;b', 'plain']
    const entry = `1,2,3,4,5;${groups.map((group) => `${Buffer.byteLength(group)}:${group}`).join('')}{"v":1}`
    expect(decodeEntry(entry)).toEqual({
      versions: ['1', '2', '3', '4', '5'],
      groups,
      value: '{"v":1}',
      grace: 0,
      timed: false,
    })
  })

  it('reads an entry without groups', () => {
    expect(decodeEntry(';"x"')).toEqual({ versions: [], groups: [], value: '"x"', grace: 0, timed: false })
  })

  it('throws on a string that is not an entry', () => {
    expect(() => decodeEntry('no snapshot')).toThrow(/no snapshot/)
    expect(() => decodeEntry('1;a:b')).toThrow(/without its length/)
  })
})

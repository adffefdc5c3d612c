import { spawnSync } from 'node:child_process'
import { isDeepStrictEqual } from 'node:util'
import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import { COMPILE_AFTER, compiledCopy, jsonCopies, jsonCopy, MAX_COMPILED_NODES } from '../src/copy.js'

/** Keys JSON allows and JS source treats specially: quotes, escapes, line separators, numbers, __proto__. */
const awkwardKeys = ['__proto__', 'constructor', '"', "'", '\\', '\u2028', '\u2029', '${x}', '0', '10', '-1', '', 'a b']

/** Values as JSON.parse makes them: from their JSON text. */
const jsonValues = fc
  .jsonValue({ maxDepth: 5 })
  .chain((value) =>
    fc.constantFrom(...awkwardKeys).map((key) => JSON.parse(JSON.stringify({ [key]: value, list: [value] }))),
  )

/** Every way a copy is made: walked, compiled, and through jsonCopies before and after it compiles. */
function copiesOf(value: unknown): unknown[] {
  const compiled = compiledCopy(value)
  const copies = jsonCopies(value)
  return [
    jsonCopy(value),
    compiled ? compiled(value) : jsonCopy(value),
    ...Array.from({ length: COMPILE_AFTER + 2 }, () => copies.next()),
  ]
}

/** Everything in `a` that is an object or array, with its counterpart in `b`. */
function sharesAnObject(a: unknown, b: unknown): boolean {
  if (typeof a !== 'object' || a === null) return false
  if (a === b) return true
  return Object.keys(a).some((key) =>
    sharesAnObject((a as Record<string, unknown>)[key], (b as Record<string, unknown>)[key]),
  )
}

describe('copies of values the JSON serializer decoded', () => {
  it('each is what parsing the text again gives: own keys in their order, an own __proto__, no shared object', () => {
    fc.assert(
      fc.property(jsonValues, (value) => {
        const text = JSON.stringify(value)
        for (const copy of copiesOf(value)) {
          // node's deep strict equality, not vitest's: vitest compares an own `constructor` key as a class
          expect(isDeepStrictEqual(copy, JSON.parse(text))).toBe(true)
          expect(JSON.stringify(copy)).toBe(text)
          expect(sharesAnObject(value, copy)).toBe(false)
          if (typeof copy === 'object' && copy !== null && !Array.isArray(copy))
            expect(Object.getPrototypeOf(copy)).toBe(Object.prototype)
        }
      }),
      { numRuns: 300 },
    )
  })

  it('an own __proto__ key stays an own key and pollutes nothing', () => {
    const value = JSON.parse('{"a":[1,{"b":null}],"__proto__":{"polluted":true},"s":"x"}')
    for (const copy of copiesOf(value) as Record<string, unknown>[]) {
      expect(Object.keys(copy)).toEqual(['a', '__proto__', 's'])
      expect(Object.getPrototypeOf(copy)).toBe(Object.prototype)
      expect((copy as { polluted?: unknown }).polluted).toBeUndefined()
    }
    expect(({} as { polluted?: unknown }).polluted).toBeUndefined()
  })

  it('changing one copy changes no other copy and not the value copied', () => {
    const value = JSON.parse('{"list":[1,{"n":2}],"o":{"deep":{"x":[true]}}}')
    const copies = jsonCopies(value)
    for (let i = 0; i < 3 * COMPILE_AFTER; i++) {
      const copy = copies.next() as { list: unknown[]; o: { deep: { x: boolean[] } } }
      expect(copy).toEqual({ list: [1, { n: 2 }], o: { deep: { x: [true] } } })
      copy.list.push(i)
      copy.o.deep.x[0] = false
    }
    expect(value).toEqual({ list: [1, { n: 2 }], o: { deep: { x: [true] } } })
  })

  it('values of one shape share one compiled function; another shape gets its own', () => {
    const a = compiledCopy({ id: 1, tags: ['x', 'y'] })
    const b = compiledCopy({ id: 2, tags: ['p', 'q'] })
    const c = compiledCopy({ id: 3, tags: ['x'] })
    expect(a).toBeTypeOf('function')
    expect(b).toBe(a)
    expect(c).not.toBe(a)
    // the source reads the value: a function shared by two values copies each one's own primitives
    expect(b?.({ id: 2, tags: ['p', 'q'] })).toEqual({ id: 2, tags: ['p', 'q'] })
  })

  it('a primitive, a value of too many nodes or too deep is walked, not compiled', () => {
    expect(compiledCopy(5)).toBeUndefined()
    expect(compiledCopy('text')).toBeUndefined()
    expect(compiledCopy(null)).toBeUndefined()
    expect(compiledCopy(Array.from({ length: MAX_COMPILED_NODES }, (_, i) => i))).toBeUndefined()
    expect(compiledCopy(Array.from({ length: MAX_COMPILED_NODES - 2 }, (_, i) => i))).toBeTypeOf('function')
    let deep: unknown = 1
    for (let i = 0; i < 40; i++) deep = [deep]
    expect(compiledCopy(deep)).toBeUndefined()
    expect(jsonCopies(deep).next()).toEqual(deep)
  })

  it('a runtime that generates no code from strings gets walked copies', () => {
    const script = `
      const { compiledCopy, jsonCopies } = await import(${JSON.stringify(new URL('../src/copy.ts', import.meta.url).href)})
      const value = { a: [1, { b: 2 }] }
      const copies = jsonCopies(value)
      const out = Array.from({ length: 20 }, () => copies.next())
      console.log(JSON.stringify({ compiled: typeof compiledCopy(value), same: out.every((c) => JSON.stringify(c) === JSON.stringify(value) && c !== value) }))
    `
    const run = spawnSync(
      process.execPath,
      ['--disallow-code-generation-from-strings', '--import', 'tsx', '--input-type=module', '-e', script],
      { encoding: 'utf8' },
    )
    expect(run.stderr).toBe('')
    expect(JSON.parse(run.stdout)).toEqual({ compiled: 'undefined', same: true })
  })
})

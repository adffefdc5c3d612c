import { expect, it, vi } from 'vitest'

// As if ioredis-mock were not installed: requiring it throws what Node throws then.
vi.mock('node:module', async (importOriginal) => {
  const original = await importOriginal<typeof import('node:module')>()
  return {
    ...original,
    createRequire(from: string | URL) {
      const require = original.createRequire(from)
      return Object.assign((id: string) => {
        if (id === 'ioredis-mock')
          throw Object.assign(new Error(`Cannot find module '${id}'`), { code: 'MODULE_NOT_FOUND' })
        return require(id)
      }, require)
    },
  }
})

const { GroupCache, MissingDependencyError } = await import('../src/index.js')

it("'memory' without ioredis-mock: a MissingDependencyError that says what to install, from the constructor", () => {
  let thrown: unknown
  try {
    new GroupCache({ redis: 'memory' })
  } catch (error) {
    thrown = error
  }
  expect(thrown).toBeInstanceOf(MissingDependencyError)
  expect(thrown).toMatchObject({ code: 'E_MISSING_DEPENDENCY' })
  expect((thrown as Error).message).toMatch(/npm install ioredis-mock/)
  expect((thrown as Error).cause).toMatchObject({ code: 'MODULE_NOT_FOUND' })
})

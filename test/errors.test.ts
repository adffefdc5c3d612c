import { describe, expect, it } from 'vitest'
import * as errors from '../src/errors.js'

/**
 * An app may load both builds of the library (ESM and CommonJS): two copies of every class. An
 * error of one copy is `instanceof` the other's same class and the base class, not another class.
 */
describe('errors across two copies of the library', () => {
  it('instanceof matches the same class and the base class of the other copy, by name', async () => {
    const path = '../src/errors.js?another-copy' // a module of its own: the other build's classes
    const other = (await import(/* @vite-ignore */ path)) as typeof errors
    expect(other.InvalidArgumentError).not.toBe(errors.InvalidArgumentError)
    const theirs = new other.InvalidArgumentError('bad')
    expect(Function.prototype[Symbol.hasInstance].call(errors.InvalidArgumentError, theirs)).toBe(false)
    expect(theirs).toBeInstanceOf(errors.InvalidArgumentError)
    expect(theirs).toBeInstanceOf(errors.GroupCacheError)
    expect(theirs).not.toBeInstanceOf(errors.TimeoutError)
    expect(theirs.code).toBe('E_INVALID_ARGUMENT')
    // and only errors of the library: a plain error of the same name is not one
    const impostor = Object.assign(new Error('bad'), { name: 'InvalidArgumentError' })
    expect(impostor).not.toBeInstanceOf(errors.InvalidArgumentError)
    expect(new errors.ClosedError('get')).toBeInstanceOf(errors.ClosedError)
    expect(new errors.ClosedError('get')).not.toBeInstanceOf(errors.RedisError)
  })
})

/**
 * A fill holder that dies (check/faults.ts, mode dead-holder): wraps random keys of the universe
 * until one misses and its function runs; the function tells the parent it is inside and never
 * returns, and the parent kills this process there, once it has seen the key's fill lease held
 * (a function run without the lease, as a wrap whose read failed open runs it, is no such fill).
 */
import { GroupCache } from '../src/index.js'
import { groupsOf, keyName, type Universe } from './history.js'

process.once('message', async (message: { url: string; namespace: string; universe: Universe; lease: number }) => {
  const cache = new GroupCache({ redis: message.url, namespace: message.namespace, lease: message.lease })
  cache.on('error', () => {})
  const { universe } = message
  // Many loops, as busy as the workers': after an invalidation, one of them is often the first miss.
  const loop = async () => {
    for (;;) {
      const row = Math.floor(Math.random() * universe.keys)
      const key = keyName(row)
      await cache.wrap(key, { groups: groupsOf(universe, row) }, () => {
        process.send?.(key)
        return new Promise<never>(() => {})
      })
    }
  }
  for (let i = 0; i < 32; i++) void loop()
})

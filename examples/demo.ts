/**
 * A five-minute tour of redis-group-cache: `npm run demo`.
 *
 * Two app instances cache users from a (fake) database. A worker changes the data and expires
 * a group; both instances see the change at once, without anyone listing keys.
 *
 * Runs in memory by default; set REDIS_URL (e.g. redis://127.0.0.1:6379) to use a real Redis.
 */
import { randomBytes } from 'node:crypto'
import { GroupCache } from '../src/index.js'

const redis = process.env.REDIS_URL ?? 'memory'
// A random namespace keeps the demo away from any other data in a shared Redis,
// and a TTL makes whatever it leaves behind go away within a minute.
const namespace = `demo_${randomBytes(4).toString('hex')}`
const options = { redis, namespace, ttl: 60_000 }
// Name the backend without printing a password the URL may hold.
const backend = redis === 'memory' ? 'the in-memory backend (ioredis-mock)' : `Redis at ${new URL(redis).host}`

// --- A fake database, counting its reads: a read means the cache missed. -------------------

interface User {
  name: string
  version: number
}

const db = {
  reads: 0,
  users: new Map<number, User>([
    [1, { name: 'Ada', version: 1 }],
    [2, { name: 'Grace', version: 1 }],
    [3, { name: 'Linus', version: 1 }],
  ]),
  readUser(id: number): User {
    db.reads++
    const user = db.users.get(id)
    if (!user) throw new Error(`no user ${id}`)
    return { ...user }
  },
  /** The worker's writes: each bumps the row's version. */
  update(id: number, change: Partial<User>): void {
    const user = db.users.get(id)
    if (!user) throw new Error(`no user ${id}`)
    db.users.set(id, { ...user, ...change, version: user.version + 1 })
  },
}

// --- Keys and groups, as in the original idea: user_<id> and user_profile_<id> both belong to
// the user's own group and to 'users'. Expiring either group invalidates them. ---------------

const userGroups = (id: number) => [`user_group_${id}`, 'users']

const describe = (user: User) => `${user.name} v${user.version}`
const profilePage = (user: User) => `profile of ${describe(user)}`

/** One app instance: its cache, and read-through functions built with `cached`. */
function appInstance(name: string) {
  const cache = new GroupCache(options)
  const user = cache.cached((id: number) => db.readUser(id), { key: (id) => `user_${id}`, groups: userGroups })
  const profile = cache.cached((id: number) => profilePage(db.readUser(id)), {
    key: (id) => `user_profile_${id}`,
    groups: userGroups,
  })
  return { name, cache, user, profile }
}
type App = ReturnType<typeof appInstance>

const appA = appInstance('A')
const appB = appInstance('B')
const worker = new GroupCache(options) // a background job: it only writes and invalidates

// --- Printing helpers -----------------------------------------------------------------------

const heading = (title: string) => console.log(`\n== ${title}`)
const say = (text: string) => console.log(`   ${text}`)

/** Calls `read`, then prints what came back and whether the database was touched. */
async function show(who: string, key: string, read: () => Promise<unknown>) {
  const before = db.reads
  const value = await read()
  const shown = typeof value === 'string' ? value : describe(value as User)
  const source = db.reads > before ? 'MISS, read the database' : 'hit'
  say(`${who} ${key.padEnd(15)} ${shown.padEnd(26)} ${source}`)
}

const readUser = (app: App, id: number) => show(app.name, `user_${id}`, () => app.user(id))
const readProfile = (app: App, id: number) => show(app.name, `user_profile_${id}`, () => app.profile(id))

/** A promise the demo resolves by hand, to pause a fill at the worst moment. */
function signal() {
  let fire = () => {}
  const fired = new Promise<void>((resolve) => {
    fire = resolve
  })
  return { fire, fired }
}

// --- The story ------------------------------------------------------------------------------

console.log(`redis-group-cache demo on ${backend}, namespace ${namespace}`)

heading('1. Two app instances read users: first reads miss, then both hit')
await readUser(appA, 1)
await readUser(appA, 2)
await readProfile(appA, 2)
await readUser(appA, 1)
await readUser(appB, 1) // filled by A, served to B: they share the cache
await readUser(appB, 2)
await readProfile(appB, 2)

heading("2. A worker updates every user, then calls expireGroup('users') once")
for (const id of db.users.keys()) db.update(id, {})
await worker.expireGroup('users') // one INCR, however many values the group holds
say("worker: all users are now v2 in the database; expireGroup('users')")
await readUser(appA, 1)
await readUser(appB, 1)
await readUser(appB, 2)
await readProfile(appA, 2)

heading("3. One user changes: expireGroup('user_group_2') touches only that user's values")
db.update(2, { name: 'Grace H.' })
await worker.expireGroup('user_group_2')
say("worker: user 2 is now Grace H. v3; expireGroup('user_group_2')")
await readUser(appA, 2)
await readProfile(appB, 2)
await readUser(appA, 1) // Ada is in 'users' but not in user_group_2: still cached
await readUser(appB, 1)

heading('4. A fill racing an invalidation is refused')
// A misses user_3 and reads the row, but is slow to return it (a slow query, a GC pause).
const rowRead = signal()
const mayReturn = signal()
const slowFill = appA.cache.wrap('user_3', { groups: userGroups(3) }, async () => {
  const row = db.readUser(3)
  rowRead.fire()
  await mayReturn.fired
  return row
})
await rowRead.fired
say("A: wrap('user_3') missed and read Linus v2 from the database, then stalls")
db.update(3, { name: 'Linus T.' })
await worker.expireGroup('user_group_3')
say("worker: user 3 is now Linus T. v3; expireGroup('user_group_3')")
mayReturn.fire()
const old = await slowFill
say(`A: the stalled fill returns ${describe(old)} to its caller, but the cache did not store it:`)
await readUser(appB, 3)
await readUser(appA, 3)

// The same check by hand: read() hands out a token on a miss; set() with it stores only if
// none of the token's groups was expired (and the key was not deleted) since the read.
say('The same by hand, with read() and set({ token }), which is what wrap does inside:')
const miss = await appA.cache.read('user_profile_3', { groups: userGroups(3) })
if (miss.hit) throw new Error('user_profile_3 should be a miss on its first read')
const page = profilePage(db.readUser(3))
say(`A: read('user_profile_3') missed with a token; A builds "${page}"`)
db.update(3, {})
await worker.expireGroup('users')
say("worker: user 3 is now v4; expireGroup('users')")
const stored = await appA.cache.set('user_profile_3', page, { token: miss.token })
say(`A: set('user_profile_3', page, { token }) -> ${stored}`)
await readProfile(appB, 3)
say('Why it matters: a cache that stamps group versions when a value is *written* would have')
say('stored the old row as fresh and served it until the next invalidation. This one checks the')
say('versions seen at the miss: data computed before an invalidation never becomes a hit.')

await Promise.all([appA.cache.close(), appB.cache.close(), worker.close()])
console.log(`\nDone: 2 app instances and 1 worker ran on ${backend}, namespace ${namespace}; all closed.`)

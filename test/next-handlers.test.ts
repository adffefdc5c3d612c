import { afterEach, describe, expect, inject, it } from 'vitest'
import { GroupCache } from '../src/index.js'
import { type CacheEntry, createCacheComponentsHandler, createCacheHandler, nextSerializer } from '../src/next/index.js'
import { randomNamespace } from './support/backends.js'

/**
 * The Next.js handlers against Next's two interfaces, on this run's Redis and on the in-memory
 * backend: every entry kind round-trips, tags and soft tags invalidate, a render that began before
 * a revalidation is not stored, 'max' serves the old value while one render refreshes it, and bad
 * input reaches `onError`, never the render. (test/next-app.test.ts runs a real Next.js app.)
 */

const closers: (() => Promise<void>)[] = []
afterEach(async () => {
  await Promise.all(closers.splice(0).map((close) => close()))
})

for (const backend of ['redis', 'memory'] as const) {
  const redis = () => (backend === 'memory' ? 'memory' : inject('redisUrl'))

  function incremental(errors: Error[] = [], namespace = randomNamespace()) {
    const Handler = createCacheHandler({ redis: redis(), namespace, onError: (error) => errors.push(error) })
    closers.push(() => Handler.store.close())
    return { Handler, handler: new Handler({}), namespace }
  }

  function components(errors: Error[] = [], namespace = randomNamespace()) {
    const handler = createCacheComponentsHandler({ redis: redis(), namespace, onError: (error) => errors.push(error) })
    closers.push(() => handler.close())
    return handler
  }

  type Incremental = InstanceType<ReturnType<typeof createCacheHandler>>
  /** A render: get (the miss), then set. A tag never seen before refuses the first (see below): render again. */
  async function render(handler: Incremental, key: string, value: unknown, get: object, set: object) {
    for (let attempt = 0; attempt < 2; attempt++) {
      expect(await handler.get(key, get as never)).toBeNull()
      await handler.set(key, value as never, set as never)
      if ((await handler.get(key, get as never)) !== null) return
    }
    throw new Error(`${key} was not stored`)
  }

  const page = (tags: string) => ({
    kind: 'APP_PAGE',
    html: '<html>hi</html>',
    rscData: Buffer.from([0, 1, 2, 255]),
    headers: { 'x-next-cache-tags': tags, 'content-type': 'text/html' },
    postponed: undefined,
    status: 200,
    segmentData: new Map([['/_tree', Buffer.from('tree')]]),
  })
  const pageContext = { kind: 'APP_PAGE', isFallback: false }
  const pageSet = { kind: 'APP_PAGE', cacheControl: { revalidate: 60, expire: 3600 } }

  describe(`the incremental cache handler (${backend})`, () => {
    it('every entry kind round-trips, Buffers and Maps included', async () => {
      const { handler } = incremental()
      const values = [
        page('_N_T_/layout,_N_T_/blog'),
        { kind: 'APP_ROUTE', body: Buffer.from('{"ok":true}'), status: 201, headers: { 'x-next-cache-tags': 'r' } },
        { kind: 'PAGES', html: '<p/>', pageData: { props: { n: 1 } }, headers: undefined, status: 200 },
        { kind: 'REDIRECT', props: { __N_REDIRECT: '/x' } },
        { kind: 'IMAGE', etag: 'e', upstreamEtag: 'u', buffer: Buffer.from([9, 8]), extension: 'webp', revalidate: 60 },
        null,
      ]
      for (const [i, value] of values.entries()) {
        const key = `/k${i}`
        const kind = value?.kind ?? 'APP_PAGE'
        await render(handler, key, value, { kind }, { kind, cacheControl: { revalidate: 60, expire: 3600 } })
        const hit = await handler.get(key, { kind })
        expect(hit?.value).toEqual(value)
        expect(typeof hit?.lastModified).toBe('number')
      }
      const hit = await handler.get('/k0', pageContext)
      const value = hit?.value as ReturnType<typeof page>
      expect(Buffer.isBuffer(value.rscData)).toBe(true)
      expect(value.segmentData).toBeInstanceOf(Map)
      expect(value.segmentData.get('/_tree')?.toString()).toBe('tree')
    })

    it("revalidateTag of a page's tag or path tag (from x-next-cache-tags): the next get on any instance misses", async () => {
      const { handler, namespace } = incremental()
      const other = incremental([], namespace).handler // another process's handler, same Redis
      await render(handler, '/blog', page('_N_T_/layout,_N_T_/blog,posts'), pageContext, pageSet)
      expect(await other.get('/blog', pageContext)).not.toBeNull()
      await other.revalidateTag(['posts'], { expire: 0 })
      expect(await handler.get('/blog', pageContext)).toBeNull()
      await handler.set('/blog', page('_N_T_/layout,_N_T_/blog,posts') as never, pageSet)
      expect(await other.get('/blog', pageContext)).not.toBeNull()
      await other.revalidateTag(['_N_T_/blog']) // revalidatePath('/blog')
      expect(await handler.get('/blog', pageContext)).toBeNull()
    })

    it("a FETCH entry: its tags and its request's soft tags, checked at get", async () => {
      const { handler } = incremental()
      const data = { kind: 'FETCH', data: { headers: {}, body: 'e30=', url: 'https://x', status: 200 }, revalidate: 30 }
      const get = { kind: 'FETCH', tags: ['products'], softTags: ['_N_T_/shop'], revalidate: 30 }
      expect(await handler.get('f1', get)).toBeNull()
      await handler.set('f1', data as never, { fetchCache: true, tags: ['products'] })
      expect((await handler.get('f1', get))?.value).toEqual(data)
      await handler.revalidateTag('_N_T_/shop')
      expect(await handler.get('f1', get)).toBeNull()
      await handler.set('f1', data as never, { fetchCache: true, tags: ['products'] })
      await handler.revalidateTag(['products'], { expire: 0 })
      expect(await handler.get('f1', get)).toBeNull()
    })

    it('a tag never seen before: the first render that names it is not stored, the next one is', async () => {
      const { handler } = incremental()
      expect(await handler.get('/new', pageContext)).toBeNull()
      await handler.set('/new', page('brand-new-tag') as never, pageSet)
      // its version is missing: it may have been evicted after a revalidation during the render
      expect(await handler.get('/new', pageContext)).toBeNull()
      await handler.set('/new', page('brand-new-tag') as never, pageSet)
      expect(await handler.get('/new', pageContext)).not.toBeNull()
    })

    it('a render that began before a revalidation of its tags is not stored', async () => {
      const { handler } = incremental()
      await render(handler, '/p', page('posts'), pageContext, pageSet)
      await handler.revalidateTag(['posts'], { expire: 0 })
      expect(await handler.get('/p', pageContext)).toBeNull() // the miss: the render begins
      await handler.revalidateTag(['posts'], { expire: 0 }) // ...a revalidation lands meanwhile
      await handler.set('/p', page('posts') as never, pageSet)
      expect(await handler.get('/p', pageContext)).toBeNull()
      await handler.set('/p', page('posts') as never, pageSet) // the render after that miss
      expect(await handler.get('/p', pageContext)).not.toBeNull()
    })

    it('a set with no get before it in this process is not stored (its render may predate anything)', async () => {
      const { handler } = incremental()
      await handler.set('/orphan', page('x') as never, pageSet)
      expect(await handler.get('/orphan', pageContext)).toBeNull()
    })

    it("revalidateTag(tag, 'max'): every instance gets the old value marked stale, within its expire, until a render replaces it", async () => {
      const { handler, namespace } = incremental()
      const other = incremental([], namespace).handler
      await render(handler, '/m', page('posts'), pageContext, pageSet)
      await handler.revalidateTag(['posts'], { expire: 31_536_000 })
      for (const instance of [handler, other]) {
        const stale = await instance.get('/m', pageContext)
        expect(stale?.value).toEqual(page('posts'))
        // Next's own test, on its clock: past revalidate (served, rendered anew), within expire
        const age = performance.timeOrigin + performance.now() - (stale?.lastModified ?? 0)
        expect(age).toBeGreaterThan(60_000)
        expect(age).toBeLessThan(3_600_000)
      }
      await handler.set('/m', { ...page('posts'), html: 'new' } as never, pageSet)
      const renewed = await other.get('/m', pageContext)
      expect((renewed?.value as { html?: string } | undefined)?.html).toBe('new')
      expect(performance.timeOrigin + performance.now() - (renewed?.lastModified ?? 0)).toBeLessThan(60_000)
    })

    it('a set that followed a hit (an on-demand revalidation): not stored, and what it replaces goes', async () => {
      const { handler } = incremental()
      await render(handler, '/od', page('posts'), pageContext, pageSet)
      expect(await handler.get('/od', pageContext)).not.toBeNull() // a hit; Next renders anyway
      await handler.set('/od', { ...page('posts'), html: 'new' } as never, pageSet)
      expect(await handler.get('/od', pageContext)).toBeNull() // the next request renders with a token
      await handler.set('/od', { ...page('posts'), html: 'new' } as never, pageSet)
      const renewed = await handler.get('/od', pageContext)
      expect((renewed?.value as { html?: string } | undefined)?.html).toBe('new')
    })

    it('a miss older than the lease is dropped: a key read again and again keeps no token too old to store with', async () => {
      const namespace = randomNamespace()
      const Handler = createCacheHandler({ redis: redis(), namespace, lease: 1000 })
      closers.push(() => Handler.store.close())
      const handler = new Handler({})
      await render(handler, '/warm', page('posts'), pageContext, pageSet) // the tag's version
      expect(await handler.get('/l', pageContext)).toBeNull() // a miss no set follows
      await new Promise((resolve) => setTimeout(resolve, 700))
      expect(await handler.get('/l', pageContext)).toBeNull() // read again: the key is kept
      await new Promise((resolve) => setTimeout(resolve, 400)) // the first miss is past the lease now
      await handler.set('/l', page('posts') as never, pageSet)
      expect(await handler.get('/l', pageContext)).not.toBeNull()
    })

    it('revalidate 0 (stale at once to Next) is not stored', async () => {
      const { handler } = incremental()
      await render(handler, '/warm', page('posts'), pageContext, pageSet)
      expect(await handler.get('/zero', pageContext)).toBeNull()
      await handler.set('/zero', page('posts') as never, {
        kind: 'APP_PAGE',
        cacheControl: { revalidate: 0, expire: 60 },
      })
      expect(await handler.get('/zero', pageContext)).toBeNull()
    })

    it("both handlers at their default namespaces: 'max' reaching both (as Next sends it) stays soft", async () => {
      if (backend === 'memory') return // each in-memory cache is a Redis of its own: nothing shared
      const prefix = `p${randomNamespace().replace(/\W/g, '')}`
      const Handler = createCacheHandler({ redis: redis(), prefix })
      const useCache = createCacheComponentsHandler({ redis: redis(), prefix })
      closers.push(
        () => Handler.store.close(),
        () => useCache.close(),
      )
      const handler = new Handler({})
      await render(handler, '/both', page('posts'), pageContext, pageSet)
      // Next's executeRevalidates: the incremental handler, then every 'use cache' handler
      await handler.revalidateTag(['posts'], { expire: 31_536_000 })
      await useCache.updateTags(['posts'], { expire: 31_536_000 })
      expect((await handler.get('/both', pageContext))?.value).toEqual(page('posts'))
    })

    it('bad input reaches onError, never the caller: a tag that is not a string, a value it cannot encode', async () => {
      const errors: Error[] = []
      const { handler } = incremental(errors)
      await expect(handler.revalidateTag([5 as never])).resolves.toBeUndefined()
      expect(errors.at(-1)?.name).toBe('InvalidArgumentError')
      await handler.get('/bad', pageContext)
      await expect(
        handler.set(
          '/bad',
          { kind: 'APP_ROUTE', body: Buffer.from(''), status: 200, headers: { n: 10n } } as never,
          pageSet,
        ),
      ).resolves.toBeUndefined()
      expect(errors.at(-1)?.name).toBe('SerializationError')
      expect(await handler.get('/bad', pageContext)).toBeNull()
      expect(await handler.get('/bad', { kind: 'FETCH', tags: [{}] as never })).toBeNull()
      expect(errors.at(-1)?.name).toBe('InvalidArgumentError')
    })

    it('revalidating tags no entry uses adds no keys', async () => {
      if (backend === 'memory') return
      const { handler, namespace } = incremental()
      const raw = new GroupCache({ redis: redis(), namespace })
      closers.push(() => raw.close())
      await handler.revalidateTag(['nobody', 'uses', 'these'], { expire: 0 })
      await handler.revalidateTag(['nobody'], { expire: 31_536_000 })
      const client = (raw as unknown as { connection: { client: { keys(p: string): Promise<string[]> } } }).connection
        .client
      expect(await client.keys(`*${namespace}*`)).toEqual([])
    })
  })

  describe(`the 'use cache' handler (${backend})`, () => {
    const entry = (text: string, tags: string[], extra: Partial<CacheEntry> = {}): CacheEntry => ({
      value: new ReadableStream({
        start(controller) {
          controller.enqueue(new TextEncoder().encode(text))
          controller.close()
        },
      }),
      tags,
      stale: 30,
      timestamp: performance.timeOrigin + performance.now(), // as Next dates a render's start
      expire: 3600,
      revalidate: 60,
      ...extra,
    })
    const text = async (found: CacheEntry | undefined) => (found ? new Response(found.value).text() : undefined)
    type Components = ReturnType<typeof createCacheComponentsHandler>
    /** A render: get (the miss), then set; again when the first met a tag never seen before. */
    async function render(handler: Components, key: string, make: () => CacheEntry, softTags: string[] = []) {
      for (let attempt = 0; attempt < 2; attempt++) {
        expect(await handler.get(key, softTags)).toBeUndefined()
        await handler.set(key, Promise.resolve(make()))
        const found = await handler.get(key, softTags)
        if (found !== undefined) return found
      }
      throw new Error(`${key} was not stored`)
    }

    it('set drains the stream once; every get hands out a new stream of the same bytes and the entry as set', async () => {
      const handler = components()
      let stored = entry('hello', ['a'])
      await render(handler, 'k', () => {
        stored = entry('hello', ['a']) // made as its render begins, after the miss
        return stored
      })
      const first = await handler.get('k', [])
      const second = await handler.get('k', [])
      expect(await text(first)).toBe('hello')
      expect(await text(second)).toBe('hello')
      expect(first).toMatchObject({ tags: ['a'], stale: 30, timestamp: stored.timestamp, expire: 3600, revalidate: 60 })
      expect(await handler.getExpiration(['_N_T_/x'])).toBe(Number.POSITIVE_INFINITY)
    })

    it('a get waits for a set of the same key on its way', async () => {
      const handler = components()
      await handler.get('w', [])
      let resolve: (e: CacheEntry) => void = () => {}
      const pending = new Promise<CacheEntry>((r) => {
        resolve = r
      })
      const setting = handler.set('w', pending)
      const reading = handler.get('w', [])
      resolve(entry('late', []))
      await setting
      expect(await text(await reading)).toBe('late')
    })

    it('updateTags of an entry tag or a soft tag: the next get on any instance misses; a render begun before is not stored', async () => {
      const namespace = randomNamespace()
      const a = components([], namespace)
      const b = components([], namespace)
      await render(a, 'u', () => entry('v1', ['posts']), ['_N_T_/page'])
      expect(await text(await b.get('u', ['_N_T_/page']))).toBe('v1')
      await b.updateTags(['posts'])
      expect(await a.get('u', ['_N_T_/page'])).toBeUndefined()
      await b.updateTags(['_N_T_/page']) // revalidatePath while that render runs
      await a.set('u', Promise.resolve(entry('v2', ['posts'])))
      expect(await b.get('u', ['_N_T_/page'])).toBeUndefined()
      expect(await a.get('u', ['_N_T_/page'])).toBeUndefined() // the next render's miss
      await a.set('u', Promise.resolve(entry('v3', ['posts'])))
      expect(await text(await b.get('u', ['_N_T_/page']))).toBe('v3')
    })

    it('a function read from two routes: a copy per route, and revalidatePath of one renders only its copy anew', async () => {
      const handler = components()
      const routeA = ['_N_T_/layout', '_N_T_/a']
      const routeB = ['_N_T_/layout', '_N_T_/b']
      await render(handler, 'shared', () => entry('for a', ['user']), routeA)
      await render(handler, 'shared', () => entry('for b', ['user']), routeB)
      expect(await text(await handler.get('shared', routeA))).toBe('for a')
      expect(await text(await handler.get('shared', routeB))).toBe('for b')
      await handler.updateTags(['_N_T_/a'])
      expect(await handler.get('shared', routeA)).toBeUndefined()
      expect(await text(await handler.get('shared', routeB))).toBe('for b')
      await handler.updateTags(['user'])
      expect(await handler.get('shared', routeB)).toBeUndefined()
    })

    it('two misses of a key, their renders done out of order: each set takes a miss read before its render began', async () => {
      const handler = components()
      await render(handler, 'o', () => entry('v0', ['posts'])) // the tag's version exists
      await handler.updateTags(['posts'])
      expect(await handler.get('o', [])).toBeUndefined() // miss 1; its render begins
      const early = entry('early', ['posts'])
      await handler.updateTags(['posts']) // a revalidation while it renders
      expect(await handler.get('o', [])).toBeUndefined() // miss 2; its render begins after it
      const late = entry('late', ['posts'])
      await handler.set('o', Promise.resolve(early)) // done first, begun before the revalidation: not stored
      expect(await handler.get('o', [])).toBeUndefined()
      await handler.set('o', Promise.resolve(late)) // follows miss 2: stored
      expect(await text(await handler.get('o', []))).toBe('late')
    })

    it("updateTags with an expire ('max'): the old value with revalidate -1 on every instance, until a render replaces it", async () => {
      const namespace = randomNamespace()
      const a = components([], namespace)
      const b = components([], namespace)
      await render(a, 'm', () => entry('v1', ['posts']))
      await a.updateTags(['posts'], { expire: 31_536_000 })
      for (const instance of [a, b]) {
        const stale = await instance.get('m', [])
        expect(await text(stale)).toBe('v1')
        expect(stale?.revalidate).toBe(-1)
      }
      await a.set('m', Promise.resolve(entry('v2', ['posts'])))
      const renewed = await b.get('m', [])
      expect(await text(renewed)).toBe('v2')
      expect(renewed?.revalidate).toBe(60)
    })

    it('an entry with expire 0 (dynamic) is not stored; a failed render or stream reaches onError', async () => {
      const errors: Error[] = []
      const handler = components(errors)
      await handler.get('d', [])
      await handler.set('d', Promise.resolve(entry('x', [], { expire: 0 })))
      expect(await handler.get('d', [])).toBeUndefined()
      await handler.set('d', Promise.reject(new Error('render failed')))
      expect(errors.at(-1)?.message).toBe('render failed')
      const broken = new ReadableStream<Uint8Array>({
        start(controller) {
          controller.error(new Error('stream broke'))
        },
      })
      await handler.set('d', Promise.resolve({ ...entry('', []), value: broken }))
      expect(errors.at(-1)?.message).toBe('stream broke')
      expect(await handler.get('d', [3 as never])).toBeUndefined()
      expect(errors.at(-1)?.name).toBe('InvalidArgumentError')
    })
  })
}

describe('the Next.js values serializer', () => {
  it('Buffers, Maps and an own key that looks like its tag round-trip; what JSON would change is refused', () => {
    const value = { b: Buffer.from('x'), m: new Map([['k', { u: new Uint8Array([1]) }]]), $rgc: 'mine', list: [1, 'a'] }
    const back = nextSerializer.deserialize(nextSerializer.serialize(value)) as typeof value
    expect(Buffer.isBuffer(back.b) && back.b.toString()).toBe('x')
    expect(back.m.get('k')?.u).toEqual(Buffer.from([1]))
    expect(back.$rgc).toBe('mine')
    expect(back.list).toEqual([1, 'a'])
    for (const bad of [{ n: 1n }, { f: () => 1 }, { x: Number.NaN }, { d: new Date() }])
      expect(() => nextSerializer.serialize(bad)).toThrow(TypeError)
  })
})

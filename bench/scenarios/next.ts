/**
 * Scenario 8: the Next.js incremental cache handler (redis-group-cache/next). For each size, that
 * many page entries (the same ~1 KiB APP_PAGE value, each stored as Next stores it: a get that
 * misses, then a set naming the tag in `x-next-cache-tags`) under one tag; then `revalidateTag`
 * of that tag is timed, alternating with one of a 1-entry control tag, in pairs, and a member is
 * checked to miss afterwards. Memory per entry: Redis used_memory after populating, less before,
 * over the entries. @fortedigital/nextjs-cache-handler, the handler to compare with, needs Node 22
 * (its engines) and is not run here.
 */

import { median, round, timeMs } from '../measure.js'
import { createCacheHandler, nextSerializer } from '../package.js'
import { usedMemory } from '../server.js'
import { type Context, indexes, inParallel } from '../settings.js'

export interface NextSizeResult {
  size: number
  populateS: number
  /** bytes of Redis memory per entry, value included */
  bytesPerEntry: number
  /** revalidateTag of the tag of `size` entries, ms, each sample */
  samplesMs: number[]
  medianMs: number
  /** revalidateTag of a 1-entry tag, timed alongside, ms */
  controlMedianMs: number
  /** the value as the handler serializes it, bytes (what an entry holds besides its key, header and tags) */
  valueBytes: number
}

export interface NextResult {
  sizes: NextSizeResult[]
  pairs: number
  notRun: string
}

const NAMESPACE = 'bench_next'
export const NEXT_PATTERNS = [`rgc:{${NAMESPACE}}:*`]

function pageValue(tag: string, i: number) {
  return {
    kind: 'APP_PAGE',
    html: `<html><body><main><h1>Post ${i}</h1><p>${'Lorem ipsum dolor sit amet. '.repeat(20)}</p></main></body></html>`,
    rscData: Buffer.from(`0:{"post":${i}}\n`.repeat(8)),
    headers: { 'x-next-cache-tags': `_N_T_/layout,_N_T_/posts/${i},${tag}`, 'content-type': 'text/html' },
    postponed: undefined,
    status: 200,
    segmentData: new Map([['/_tree', Buffer.from('tree')]]),
  }
}

export async function nextScenario(ctx: Context): Promise<NextResult> {
  const { sizes, pairs } = ctx.settings.next
  const Handler = createCacheHandler({ redis: ctx.server.url, namespace: NAMESPACE })
  const handler = new Handler({})
  const setContext = { kind: 'APP_PAGE', cacheControl: { revalidate: 3600, expire: 86_400 } }
  const getContext = { kind: 'APP_PAGE' }
  /** A page as Next stores it: its get misses, then its set (twice for a tag's first page: its first set is refused). */
  const render = async (key: string, value: ReturnType<typeof pageValue>) => {
    for (let attempt = 0; attempt < 2; attempt++) {
      await handler.get(key, getContext)
      await handler.set(key, value as never, setContext)
      if (attempt === 0 && (await handler.get(key, getContext)) !== null) return
    }
  }
  const out: NextSizeResult[] = []
  try {
    // Warm the code paths (JIT, script cache) so that the first size is not timed cold.
    for (let i = 0; i < 200; i++) await handler.revalidateTag(['warm-up'], { expire: 0 })
    for (const size of sizes) {
      await ctx.server.reset(NEXT_PATTERNS)
      const tag = `tag_${size}`
      const control = `control_${size}`
      const before = await usedMemory(ctx.server.admin)
      const started = performance.now()
      await render(`/posts/${size}/0`, pageValue(tag, 0)) // the tag's version first
      await inParallel(indexes(size - 1), 64, (i) => render(`/posts/${size}/${i + 1}`, pageValue(tag, i + 1)))
      const populateS = (performance.now() - started) / 1000
      const bytesPerEntry = (await usedMemory(ctx.server.admin)) - before
      await render(`/control/${size}`, pageValue(control, 0))
      ctx.log(`next revalidateTag, ${size.toLocaleString('en-US')} entries: populated in ${populateS.toFixed(1)} s\n`)
      const samples: number[] = []
      const controls: number[] = []
      for (let p = 0; p < pairs; p++) {
        samples.push(await timeMs(() => handler.revalidateTag([tag], { expire: 0 })))
        controls.push(await timeMs(() => handler.revalidateTag([control], { expire: 0 })))
      }
      if ((await handler.get(`/posts/${size}/${size - 1}`, getContext)) !== null)
        throw new Error(`next: a page of ${tag} still hit after revalidateTag`)
      out.push({
        size,
        populateS: round(populateS, 1),
        bytesPerEntry: Math.round(bytesPerEntry / size),
        samplesMs: samples.map((x) => round(x, 3)),
        medianMs: round(median(samples), 3),
        controlMedianMs: round(median(controls), 3),
        valueBytes: Buffer.byteLength(
          nextSerializer.serialize({ value: pageValue(tag, 0), cacheControl: setContext.cacheControl }),
        ),
      })
    }
  } finally {
    await Handler.store.close()
    await ctx.server.reset(NEXT_PATTERNS)
  }
  return {
    sizes: out,
    pairs,
    notRun:
      '@fortedigital/nextjs-cache-handler (its Redis handler, the one to compare with) declares engines node >=22.0.0; this machine runs Node 20, so it was not installed or run.',
  }
}

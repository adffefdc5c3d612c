import { cacheLife, cacheTag } from 'next/cache'

/** What a page and a route read: rendered once across every instance until 'clock' is revalidated. */
export async function renderedAt(): Promise<{ at: string; by: number }> {
  'use cache'
  cacheTag('clock')
  cacheLife('max')
  return { at: new Date().toISOString(), by: process.pid }
}

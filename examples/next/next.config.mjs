import { fileURLToPath } from 'node:url'

// Absolute paths: Next resolves a relative one against the project at build time and against
// .next at run time.
const path = (file) => fileURLToPath(new URL(file, import.meta.url))

/** @type {import('next').NextConfig} */
export default {
  cacheComponents: true,
  // ISR pages, route handlers, fetch: the incremental cache
  cacheHandler: path('./cache-handler.mjs'),
  // 'use cache' and 'use cache: remote'
  cacheHandlers: { default: path('./use-cache-handler.mjs'), remote: path('./use-cache-handler.mjs') },
  // no in-memory layer in each process: every instance reads the one Redis
  cacheMaxMemorySize: 0,
}

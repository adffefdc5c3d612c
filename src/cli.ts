#!/usr/bin/env node
/** The package's `bin`: `redis-group-cache <command>` (src/cli/main.ts). */
import { processIo, run } from './cli/main.js'

run(process.argv.slice(2), processIo()).then((code) => {
  process.exitCode = code
})

import { execFile } from 'node:child_process'
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { promisify } from 'node:util'
import { expect, it } from 'vitest'

const root = fileURLToPath(new URL('..', import.meta.url))
const README = readFileSync(join(root, 'README.md'), 'utf8')

it('the README quickstart runs as pasted (on the in-memory backend), and its last read misses', async () => {
  const section = README.slice(README.indexOf('## Quickstart'), README.indexOf('## Try it'))
  const code = /```ts\n([\s\S]*?)```/.exec(section)?.[1]
  expect(code, 'README.md: a ```ts block under ## Quickstart').toBeDefined()
  // The package as users import it is this repository's source.
  const source = (code as string).replace("from 'redis-group-cache'", `from '${join(root, 'src/index.ts')}'`)
  const dir = mkdtempSync(join(tmpdir(), 'rgc-quickstart-'))
  try {
    const file = join(dir, 'quickstart.mts')
    writeFileSync(file, source)
    const env = { ...process.env }
    delete env.REDIS_URL
    const { stdout } = await promisify(execFile)(join(root, 'node_modules/.bin/tsx'), [file], { cwd: root, env })
    expect(stdout).toMatch(/name: 'Ada'/)
    expect(stdout.trim().split('\n').at(-1)).toBe('undefined')
  } finally {
    rmSync(dir, { recursive: true, force: true })
  }
})

import { execFile } from 'node:child_process'
import { mkdtempSync, readdirSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { setTimeout as sleep } from 'node:timers/promises'
import { fileURLToPath } from 'node:url'
import { promisify } from 'node:util'
import { Redis } from 'ioredis'
import { afterAll, describe, expect, inject, it } from 'vitest'
import { randomNamespace } from './support/backends.js'
import { startRedisServer } from './support/redis-server.js'

/**
 * Every code block of README.md and docs/*.md, found here by reading the pages (no list of
 * blocks to keep up to date), is checked by its language:
 *
 * - ```ts: runs as a program of its own (`node --import tsx`), one test per block, named
 *   `<page> › <heading above it>`; `from 'redis-group-cache'` is pointed at src/index.ts (`/next` at src/next/index.ts). The
 *   test fails if the program throws, exits non-zero, writes to stderr or stops before its last
 *   line. A block that prints must have an entry in EXPECTED, which checks what it printed.
 *   All the programs are also type-checked, in one tsc run, with the project's compiler options.
 *   A block whose first line is `// with: <names>` uses names it does not declare: its program
 *   is the code of PIECES[name] for each name (and the pieces those need), then the block, then
 *   the pieces' `after`. Three names are not code but where the block runs: `REDIS_URL` sets it to
 *   the tests' real Redis (test/global-setup.ts), the block's `namespace: 'app'` replaced by a
 *   fresh one whose keys are deleted afterwards; `CLUSTER` sets REDIS_CLUSTER_NODES to the tests'
 *   Cluster's masters (`redis://host:port`, comma-separated), with a fresh namespace likewise;
 *   `replica` makes it a primary with one replica, started for the block. Any other block runs with no REDIS_URL (so `REDIS_URL ?? 'memory'`
 *   is the in-memory backend). README.md's API section and docs/testing.md say so to readers.
 * - ```sh / ```bash: not run; every command must be one the project uses (npm with a script of
 *   package.json or a package it names, npx with a binary of node_modules/.bin, node, git, cd).
 *   Every `npm run <script>` anywhere on a page, prose included, must be a script.
 * - ```text: output and the like, not checked (the README's ACL line is run by test/acl.test.ts).
 * - any other language, or none, fails: say ```text for output.
 * The last test fails if a ```ts line of the pages opened a block that no test here ran.
 */

const root = fileURLToPath(new URL('..', import.meta.url))
const SOURCE = join(root, 'src/index.ts')
const PACKAGE = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')) as {
  name: string
  scripts: Record<string, string>
  bin?: Record<string, string>
  dependencies?: Record<string, string>
  devDependencies?: Record<string, string>
  peerDependencies?: Record<string, string>
}
const PAGES = [
  'README.md',
  ...readdirSync(join(root, 'docs'))
    .filter((name) => name.endsWith('.md'))
    .sort()
    .map((name) => `docs/${name}`),
]
const LANGUAGES = ['ts', 'sh', 'bash', 'text']
const END = '[the block ran to its end]'

// --- The pieces a `// with:` line names ---------------------------------------------------

interface Piece {
  code?: string
  /** Pieces this one's code uses. */
  needs?: string[]
  /** Run after the block. */
  after?: string
}

const PIECES: Record<string, Piece> = {
  User: { code: 'interface User {\n  id: number\n  name: string\n  plan: string\n}' },
  user: { needs: ['User'], code: "const user: User = { id: 1, name: 'Ada', plan: 'free' }" },
  user2: { needs: ['User'], code: "const user2: User = { id: 2, name: 'Grace', plan: 'free' }" },
  orgId: { code: 'const orgId = 7' },
  // A stand-in for the app's database, with the calls the examples make.
  db: {
    needs: ['User'],
    code: `const db = {
  users: new Map<number, User>([
    [1, { id: 1, name: 'Ada', plan: 'free' }],
    [2, { id: 2, name: 'Grace', plan: 'free' }],
  ]),
  editors: new Set(['ada']),
  async user(id: number): Promise<User> {
    const row = db.users.get(id)
    if (!row) throw new Error(\`no user \${id}\`)
    return { ...row }
  },
  async page(id: number): Promise<string> {
    return \`<h1>product \${id}</h1>\`
  },
  async listing(): Promise<string[]> {
    return ['product 1', 'product 2']
  },
  async mayEdit(user: string): Promise<boolean> {
    return db.editors.has(user)
  },
  async revoke(user: string): Promise<void> {
    db.editors.delete(user)
  },
  async query(_sql: string, _params: unknown[]): Promise<void> {},
}`,
  },
  cache: {
    code: "import { GroupCache } from 'redis-group-cache'\nconst cache = new GroupCache({ redis: 'memory', namespace: 'app' })",
    after: 'await cache.close()',
  },
  REDIS_URL: {},
  CLUSTER: {},
  replica: { needs: ['REDIS_URL'] },
}

/** What a block prints, checked (stdout's lines before the end marker), by test name. */
const EXPECTED: Record<string, (lines: string[]) => void> = {
  // a value of a namespace spread over the Cluster, then its group expired
  "README.md › A namespace over a whole Cluster: sharding: 'key'": (lines) =>
    expect(lines).toEqual(["{ name: 'Ada' }", 'undefined', 'true']),
  'README.md › Quickstart': (lines) => {
    expect(lines.join('\n')).toMatch(/name: 'Ada'/)
    // the last read, after expireGroup, misses
    expect(lines.at(-1)).toBe('undefined')
  },
  // a hard expireGroup: the value cached with 10 s of grace is not served again
  'README.md › Permissions, invalidated hard': (lines) => expect(lines).toEqual(['true', 'false']),
  // the row, read from db on the miss; then the value the token stored is live
  // a late group: the second fill stores, and expiring the group invalidates it
  'README.md › Groups decided as the function runs': (lines) => expect(lines).toEqual(['acme true', 'false']),
  // the second wrap did not call the function: one lookup, and get reads "not found" as undefined
  'README.md › Caching "not found"': (lines) => expect(lines).toEqual(['1 undefined false']),
  // the second get came from the near cache; the read after expireGroup misses
  'README.md › Near cache': (lines) => expect(lines).toEqual(['true', 'undefined']),
  // the counters after a miss and its fill, a hit, an invalidation and a miss
  'README.md › Counters: cache.stats()': (lines) =>
    expect(lines).toEqual(['{ hits: 1, misses: 2, fills: 1, invalidations: 1 }']),
  'README.md › Tracing: the redis-group-cache:<operation> channels': (lines) => {
    expect(lines).toHaveLength(2)
    expect(lines[0]).toMatch(/^wrap user_1: filled in \d+\.\d ms$/)
    expect(lines[1]).toMatch(/^wrap user_1: hit in \d+\.\d ms$/)
  },
  'README.md › Fill tokens: read and set({ token })': (lines) =>
    expect(lines).toEqual(["{ id: 1, name: 'Ada', plan: 'free' }", 'true']),
}

// --- Reading the pages --------------------------------------------------------------------

interface Block {
  page: string
  /** The nearest heading above the block, without its #s and backticks. */
  heading: string
  lang: string
  code: string
  /** The page's line (1-based) of the block's first line of code. */
  line: number
  /** `<page> › <heading>`, with ` (2)`, ` (3)` for later blocks under the same heading. */
  name: string
}

function blocksOf(page: string): Block[] {
  const lines = readFileSync(join(root, page), 'utf8').split('\n')
  const blocks: Block[] = []
  /** Blocks so far by name and language: names count the blocks of one language. */
  const seen = new Map<string, number>()
  let heading = page
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i] as string
    const title = /^#{1,6} (.*)$/.exec(line)
    if (title) heading = (title[1] as string).replaceAll('`', '').trim()
    const fence = /^(\s*)(`{3,})(.*)$/.exec(line)
    if (!fence) continue
    const [, indent = '', ticks = '', info = ''] = fence
    const body: string[] = []
    let j = i + 1
    while (j < lines.length && (lines[j] as string).trim() !== ticks) body.push(lines[j++] as string)
    if (j === lines.length) throw new Error(`${page}:${i + 1}: a code block that never closes`)
    const base = `${page} › ${heading}`
    const lang = info.trim().split(/\s+/)[0] ?? ''
    const count = (seen.get(`${lang} ${base}`) ?? 0) + 1
    seen.set(`${lang} ${base}`, count)
    blocks.push({
      page,
      heading,
      lang,
      code: body.map((text) => (text.startsWith(indent) ? text.slice(indent.length) : text)).join('\n'),
      line: i + 2,
      name: count === 1 ? base : `${base} (${count})`,
    })
    i = j
  }
  return blocks
}

const BLOCKS = PAGES.flatMap(blocksOf)
const TS = BLOCKS.filter((block) => block.lang === 'ts')

/** The names of a block's `// with:` line, with what they need, in PIECES's order. */
function withNames(block: Block): string[] {
  const line = /^\/\/ with: (.*)$/.exec(block.code.split('\n')[0] ?? '')
  const named = line ? (line[1] as string).split(',').map((name) => name.trim()) : []
  const unknown = named.filter((name) => !(name in PIECES))
  if (unknown.length > 0) {
    throw new Error(`${block.page}:${block.line}: // with: names ${unknown.join(', ')}; known: ${Object.keys(PIECES)}`)
  }
  const all = new Set<string>()
  const add = (name: string) => {
    for (const need of PIECES[name]?.needs ?? []) add(need)
    all.add(name)
  }
  named.forEach(add)
  return Object.keys(PIECES).filter((name) => all.has(name))
}

interface Program {
  block: Block
  names: string[]
  /** Lines of the program before the block's first line. */
  offset: number
  file: string
  /** With REDIS_URL (on the tests' shared Redis): the namespace that replaces the block's 'app'. */
  namespace?: string
}

const dir = mkdtempSync(join(tmpdir(), 'rgc-docs-'))
// The programs import ioredis and friends as an app does: from this repository's node_modules.
symlinkSync(join(root, 'node_modules'), join(dir, 'node_modules'), 'dir')
afterAll(() => rmSync(dir, { recursive: true, force: true }))

const PROGRAMS: Program[] = TS.map((block, index) => {
  const names = withNames(block)
  const before = names.flatMap((name) => PIECES[name]?.code ?? [])
  const after = names.flatMap((name) => PIECES[name]?.after ?? [])
  const head = before.length > 0 ? `${before.join('\n')}\n` : ''
  let text = `${head}${block.code}\n${[...after, `console.log(${JSON.stringify(END)})`].join('\n')}\n`
  text = text
    .replaceAll("from 'redis-group-cache/next'", `from '${join(root, 'src/next/index.ts')}'`)
    .replaceAll("from 'redis-group-cache'", `from '${SOURCE}'`)
  // On the shared Redis, a namespace of its own, as every test has (its keys go afterwards).
  const shared = (names.includes('REDIS_URL') && !names.includes('replica')) || names.includes('CLUSTER')
  const namespace = shared ? randomNamespace() : undefined
  if (namespace) text = text.replaceAll("namespace: 'app'", `namespace: '${namespace}'`)
  const file = join(dir, `block-${index + 1}.mts`)
  writeFileSync(file, text)
  return { block, names, offset: head.split('\n').length - 1, file, namespace }
})

// --- Running them -------------------------------------------------------------------------

/** Names of the ```ts blocks whose test ran, for the last test. */
const ran = new Set<string>()

/** Runs a program where its `// with:` line says, and removes what it left on a shared Redis. */
async function runProgram(program: Program): Promise<{ stdout: string; stderr: string }> {
  const env: NodeJS.ProcessEnv = { ...process.env }
  delete env.REDIS_URL
  const run = () =>
    promisify(execFile)(process.execPath, ['--import', 'tsx', program.file], { cwd: root, env, timeout: 25_000 })
  if (program.names.includes('replica')) {
    // No 5 s wait (the default) for more replicas before the first sync.
    const primary = await startRedisServer(['--repl-diskless-sync-delay', '0'])
    const replica = await startRedisServer(['--replicaof', '127.0.0.1', String(primary.port)])
    try {
      await untilReplicating(replica.url)
      env.REDIS_URL = primary.url
      return await run()
    } finally {
      await replica.stop()
      await primary.stop()
    }
  }
  if (program.namespace && program.names.includes('CLUSTER')) {
    const cluster = inject('cluster')
    if ('error' in cluster) throw new Error(cluster.error)
    env.REDIS_CLUSTER_NODES = cluster.nodes.join(',')
    try {
      return await run()
    } finally {
      for (const node of cluster.nodes) await removeNamespace(node, program.namespace)
    }
  }
  if (program.namespace) {
    expect(program.block.code, `${program.block.name}: a block on the tests' Redis says namespace: 'app'`).toContain(
      "namespace: 'app'",
    )
    const url = inject('redisUrl')
    env.REDIS_URL = url
    try {
      return await run()
    } finally {
      await removeNamespace(url, program.namespace)
    }
  }
  return run()
}

async function untilReplicating(url: string): Promise<void> {
  const client = new Redis(url)
  try {
    for (let i = 0; i < 400; i++) {
      if ((await client.info('replication')).includes('master_link_status:up')) return
      await sleep(25)
    }
    throw new Error('the replica did not connect to its primary')
  } finally {
    client.disconnect()
  }
}

/** Deletes the keys of a namespace. */
async function removeNamespace(url: string, namespace: string): Promise<void> {
  const client = new Redis(url)
  try {
    let cursor = '0'
    do {
      const [next, keys] = await client.scan(cursor, 'MATCH', `rgc:[{<]${namespace}[}>]:*`, 'COUNT', 1000)
      // one DEL per key: under sharding 'key' they are of many slots
      for (const key of keys) await client.del(key)
      cursor = next
    } while (cursor !== '0')
  } finally {
    client.disconnect()
  }
}

describe.concurrent('the ```ts blocks run', () => {
  it.each(PROGRAMS.map((program) => [program.block.name, program] as const))(
    '%s',
    async (name, program) => {
      ran.add(name)
      const { stdout, stderr } = await runProgram(program).catch(
        (error: Error & { stdout?: string; stderr?: string }) => {
          throw new Error(
            `${name} (${program.block.page}:${program.block.line}) failed: ${error.message}\n${error.stdout}`,
          )
        },
      )
      expect(stderr, `${name}: stderr`).toBe('')
      const lines = stdout.trimEnd().split('\n')
      expect(lines.at(-1), `${name}: ran to its last line`).toBe(END)
      EXPECTED[name]?.(lines.slice(0, -1).filter((line) => line !== ''))
    },
    30_000,
  )

  it('every ```ts block typechecks, with the project’s compiler options', async () => {
    const { compilerOptions } = JSON.parse(readFileSync(join(root, 'tsconfig.json'), 'utf8'))
    writeFileSync(
      join(dir, 'tsconfig.json'),
      JSON.stringify({
        compilerOptions: { ...compilerOptions, allowImportingTsExtensions: true, noEmit: true },
        files: PROGRAMS.map((program) => program.file),
      }),
    )
    const tsc = join(root, 'node_modules/typescript/bin/tsc')
    const result = await promisify(execFile)(process.execPath, [tsc, '-p', dir], { cwd: dir }).then(
      () => '',
      (error: { stdout?: string; message: string }) => error.stdout || error.message,
    )
    // Where tsc says block-N.mts(line,col), say the page's line.
    const located = PROGRAMS.reduce(
      (text, { file, offset, block }) =>
        text.replace(
          new RegExp(`\\S*${file.split('/').at(-1)?.replace('.', '\\.')}\\((\\d+),(\\d+)\\)`, 'g'),
          (_, row: string, col: string) => `${block.page}:${block.line + Number(row) - 1 - offset}:${col}`,
        ),
      result,
    )
    expect(located, `tsc said:\n${result}`).toBe('')
  }, 60_000)
})

// --- Shell blocks -------------------------------------------------------------------------

const KNOWN_PACKAGES = new Set([
  PACKAGE.name,
  ...Object.keys({ ...PACKAGE.dependencies, ...PACKAGE.devDependencies, ...PACKAGE.peerDependencies }),
])
// and the package's own (in an app that installs it, node_modules/.bin has it)
const BINARIES = new Set([...readdirSync(join(root, 'node_modules/.bin')), ...Object.keys(PACKAGE.bin ?? {})])

/** Why a command of a shell block is not one this project runs, or undefined if it is. */
function wrongCommand(command: string): string | undefined {
  const words = command.trim().split(/\s+/)
  while (words[0] && /^[A-Z_]+=/.test(words[0])) words.shift()
  const [program, sub, ...rest] = words
  if (program === 'node' || program === 'git' || program === 'cd') return undefined
  if (program === 'npx') return sub && BINARIES.has(sub) ? undefined : `npx ${sub}: no such binary in node_modules/.bin`
  if (program !== 'npm') return `${program}: not a command this project uses`
  if (sub === 'ci') return undefined
  if (sub === 'test') return PACKAGE.scripts.test ? undefined : 'npm test: no test script'
  if (sub === 'run') return rest[0] && PACKAGE.scripts[rest[0]] ? undefined : `npm run ${rest[0]}: no such script`
  if (sub === 'install' || sub === 'i') {
    const unknown = rest.filter((word) => !word.startsWith('-') && !KNOWN_PACKAGES.has(word))
    return unknown.length === 0 ? undefined : `npm install ${unknown.join(' ')}: not this package or one it names`
  }
  return `npm ${sub}: not a command this project uses`
}

describe('the shell blocks name what exists', () => {
  const shell = BLOCKS.filter((block) => block.lang === 'sh' || block.lang === 'bash')
  it.each(shell.map((block) => [block.name, block] as const))('%s', (_, block) => {
    const commands = block.code
      .split('\n')
      .map((line) => line.replace(/(^|\s)#.*$/, ''))
      .flatMap((line) => line.split(/&&|\|\||;|\|/))
      .filter((command) => command.trim() !== '')
    expect(commands.length, `${block.name}: a shell block with no command`).toBeGreaterThan(0)
    expect(commands.map(wrongCommand).filter(Boolean)).toEqual([])
  })

  it.each(PAGES)('every `npm run <script>` of %s is a script of package.json', (page) => {
    const named = [...readFileSync(join(root, page), 'utf8').matchAll(/npm run ([\w:-]+)/g)].map((match) => match[1])
    expect(named.filter((script) => !PACKAGE.scripts[script as string])).toEqual([])
  })
})

// --- Every block is covered ---------------------------------------------------------------

describe('every code block is checked', () => {
  it('every code block has a language this file knows (```text for output)', () => {
    const unknown = BLOCKS.filter((block) => !LANGUAGES.includes(block.lang))
    expect(unknown.map((block) => `${block.page}:${block.line - 1} \`\`\`${block.lang}`)).toEqual([])
  })

  it('every ```ts block that prints has its output checked in EXPECTED', () => {
    const unchecked = TS.filter((block) => /console\.(log|info)\(/.test(block.code) && !(block.name in EXPECTED))
    expect(unchecked.map((block) => block.name)).toEqual([])
  })

  it('every block that EXPECTED checks exists', () => {
    expect(Object.keys(EXPECTED).filter((name) => !TS.some((block) => block.name === name))).toEqual([])
  })

  // Counted from the raw text, not by blocksOf: a block it would miss fails here.
  it('every ```ts block of README.md and docs/*.md was run by a test above', () => {
    const fences = PAGES.flatMap((page) =>
      readFileSync(join(root, page), 'utf8')
        .split('\n')
        .flatMap((line, index) => (/^\s*```+\s*(ts|tsx|typescript|mts)\b/i.test(line) ? [`${page}:${index + 1}`] : [])),
    )
    expect(fences.length).toBeGreaterThan(0)
    expect(ran.size, `${fences.length} \`\`\`ts blocks (${fences.join(', ')}); ran: ${[...ran].join(', ')}`).toBe(
      fences.length,
    )
  })
})

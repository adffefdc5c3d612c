/**
 * The library as it was before the fleet-wide fill lease, for the herd's "before" variant
 * (bench/herd-variants.ts): commit BEFORE_COMMIT's `src/` and `lua/`, written from git into
 * `.bench-before/` inside the project (so that its `import 'ioredis'` resolves to the project's
 * node_modules, as check/mutants.ts does for `.mutants/<name>/`) and imported as TypeScript source:
 * the herd's processes run under tsx. Nothing is built.
 */
import { execFileSync } from 'node:child_process'
import { mkdirSync, rmSync, writeFileSync } from 'node:fs'
import { dirname, join } from 'node:path'
import { fileURLToPath, pathToFileURL } from 'node:url'

/** The last commit before the fill lease (f078205, "One fill per key across the fleet, grace, ..."). */
export const BEFORE_COMMIT = '581da5c'

const root = fileURLToPath(new URL('..', import.meta.url))
const BEFORE_DIR = join(root, '.bench-before')

/** The module the variant imports: `.bench-before/src/index.ts`, as a file URL. */
export const BEFORE_ENTRY = pathToFileURL(join(BEFORE_DIR, 'src', 'index.ts')).href

/** What writeBeforeTree did: the full commit it wrote, or why it wrote nothing. */
export type BeforeTree = { commit: string; files: number } | { reason: string }

/** Why a git command failed, in one line; `silent`: what a failure that printed nothing means. */
function failure(error: unknown, silent: string): string {
  const e = error as {
    code?: string
    syscall?: string
    stderr?: Buffer | string
    status?: number | null
    message?: string
  }
  if (e.code === 'ENOENT' && e.syscall?.startsWith('spawn')) return 'git is not installed'
  const stderr = String(e.stderr ?? '').trim()
  if (stderr) return stderr.split('\n')[0] as string
  return typeof e.status === 'number' ? silent : (String(e.message ?? error).split('\n')[0] as string)
}

/**
 * Empties `.bench-before/` and writes BEFORE_COMMIT's `src/` and `lua/` into it. Answers a reason
 * (and writes nothing) when git or the commit is unavailable, e.g. outside a git checkout.
 */
export function writeBeforeTree(): BeforeTree {
  return writeTree(BEFORE_COMMIT, BEFORE_DIR)
}

/**
 * The library as it was at `commitish`, for a comparison with this tree (bench/get-set.ts
 * --before): its `src/` and `lua/` written into `.bench-before/at/` and built there as the package
 * is (tsup, ESM, into its `dist/`, which finds `lua/` beside it), and the file URL of that build's
 * `index.js`; or why it could not be.
 */
export function buildTreeAt(commitish: string): { tree: BeforeTree; entry: string } {
  const dir = join(BEFORE_DIR, 'at')
  const entry = pathToFileURL(join(dir, 'dist', 'index.js')).href
  const tree = writeTree(commitish, dir)
  if ('reason' in tree) return { tree, entry }
  try {
    execFileSync(
      'npx',
      [
        'tsup',
        join(dir, 'src', 'index.ts'),
        '--no-config',
        '--format',
        'esm',
        '--target',
        'node20',
        '--out-dir',
        join(dir, 'dist'),
        '--silent',
      ],
      { cwd: root, stdio: ['ignore', 'pipe', 'pipe'] },
    )
  } catch (error) {
    return { tree: { reason: `cannot build commit ${commitish}: ${failure(error, 'tsup failed')}` }, entry }
  }
  return { tree, entry }
}

/** Empties `dir` and writes `commitish`'s `src/` and `lua/` into it (see writeBeforeTree). */
function writeTree(commitish: string, dir: string): BeforeTree {
  const git = (...args: string[]): Buffer =>
    execFileSync('git', args, { cwd: root, stdio: ['ignore', 'pipe', 'pipe'], maxBuffer: 64 << 20 })
  let commit: string
  let files: string[]
  // Nothing from an earlier run is left to be taken for this one's.
  rmSync(dir, { recursive: true, force: true })
  try {
    commit = git('rev-parse', '--verify', '--quiet', `${commitish}^{commit}`).toString().trim()
  } catch (error) {
    return { reason: `git cannot resolve commit ${commitish}: ${failure(error, 'no such commit')}` }
  }
  try {
    // Paths relative to the project (the working directory), whatever the repository's root.
    files = git('ls-tree', '-r', '-z', '--name-only', commit, '--', 'src', 'lua')
      .toString()
      .split('\0')
      .filter((path) => path !== '')
    if (!files.includes('src/index.ts')) return { reason: `commit ${commitish} has no src/index.ts` }
    for (const path of files) {
      const target = join(dir, path)
      mkdirSync(dirname(target), { recursive: true })
      writeFileSync(target, git('cat-file', 'blob', `${commit}:./${path}`))
    }
  } catch (error) {
    rmSync(dir, { recursive: true, force: true })
    return { reason: `cannot write commit ${commitish}'s src/ and lua/: ${failure(error, 'git failed')}` }
  }
  return { commit, files: files.length }
}

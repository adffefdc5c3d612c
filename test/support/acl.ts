import { randomBytes } from 'node:crypto'
import { readFileSync } from 'node:fs'
import { Redis } from 'ioredis'

/**
 * The README's one `ACL SETUSER` line, for the tests that prove it is enough: test/acl.test.ts
 * runs it word for word, and the [acl] backend of the behaviour suite runs every behaviour test
 * as a user made from it.
 */
export interface ReadmeAcl {
  /** The line as written. */
  readonly line: string
  readonly user: string
  /** Everything after the user name: `on`, `>secret`, the key pattern, the command rules. */
  readonly rules: readonly string[]
  /** The namespace of its `~rgc:{ns}:*` key pattern. */
  readonly namespace: string
}

const PASSWORD = '>secret'

export function readmeAcl(readme = readFileSync(new URL('../../README.md', import.meta.url), 'utf8')): ReadmeAcl {
  const lines = readme
    .split('\n')
    .map((line) => line.trim())
    .filter((line) => line.startsWith('ACL SETUSER '))
  if (lines.length !== 1) throw new Error(`README.md must have exactly one "ACL SETUSER" line, found ${lines.length}`)
  const line = lines[0] as string
  const [, , user, ...rules] = line.split(/\s+/)
  if (!user || rules.length === 0) throw new Error(`README ACL line: no user or no rules in ${line}`)
  if (!rules.includes(PASSWORD)) throw new Error(`README ACL line: no "${PASSWORD}" password in ${line}`)
  const patterns = rules.filter((rule) => rule.startsWith('~'))
  const namespace = patterns.length === 1 ? /^~rgc:\{([^}]+)\}:\*$/.exec(patterns[0] as string)?.[1] : undefined
  if (!namespace) throw new Error(`README ACL line: not exactly one ~rgc:{ns}:* key pattern in ${line}`)
  return { line, user, rules, namespace }
}

/** The rules the README says a near cache needs besides its ACL line ("With a near cache, also `...`"). */
export function readmeNearAcl(readme = readFileSync(new URL('../../README.md', import.meta.url), 'utf8')): string[] {
  const rules = /With a near cache, also `([^`]+)`/.exec(readme)?.[1]
  if (rules === undefined)
    throw new Error('README.md: no "With a near cache, also `...`" line under Redis requirements')
  return rules.split(/\s+/)
}

/**
 * The README's rules with another password and, in place of its one key pattern, `keyPatterns`:
 * every command rule stays exactly as written.
 */
export function aclRules(acl: ReadmeAcl, password: string, keyPatterns?: readonly string[]): string[] {
  return acl.rules.flatMap((rule) => {
    if (rule === PASSWORD) return [`>${password}`]
    if (rule.startsWith('~') && keyPatterns) return keyPatterns.map((pattern) => `~${pattern}`)
    return [rule]
  })
}

/**
 * Creates user `name` on the server at `url` with the README's ACL line (its key pattern
 * replaced by `keyPatterns`) and a fresh password, and returns `url` logged in as it.
 */
export async function createAclUser(
  url: string,
  name: string,
  keyPatterns: readonly string[],
  more: readonly string[] = [],
): Promise<string> {
  const password = randomBytes(16).toString('hex')
  const rules = [...aclRules(readmeAcl(), password, keyPatterns), ...more]
  const admin = new Redis(url, { maxRetriesPerRequest: 0 })
  try {
    await admin.call('ACL', 'SETUSER', name, ...rules)
  } catch (error) {
    const shown = rules.map((rule) => (rule.startsWith('>') ? '>***' : rule)).join(' ')
    throw new Error(
      `could not create an ACL user on ${url} with the README's ACL line ` +
        `(ACL SETUSER ${name} ${shown}): ${(error as Error).message}. ` +
        'The server must support ACL (Redis 6 or newer) and the URL must log in as a user allowed ACL SETUSER.',
    )
  } finally {
    admin.disconnect()
  }
  const logged = new URL(url)
  logged.username = name
  logged.password = password
  return logged.toString()
}

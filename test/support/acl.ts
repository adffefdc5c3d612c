import { readFileSync } from 'node:fs'

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

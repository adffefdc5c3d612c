import { existsSync, readdirSync, readFileSync } from 'node:fs'
import { dirname, join, relative } from 'node:path'
import { fileURLToPath } from 'node:url'
import { describe, expect, it } from 'vitest'

/**
 * The README and the pages of docs/ hold together: every relative link (and its #anchor) leads
 * somewhere, the README's contents list its sections, and every page of docs/ opens with a
 * summary and a link back to the README. Their code blocks are test/readme.test.ts's.
 */

const root = fileURLToPath(new URL('..', import.meta.url))
const DOCS = readdirSync(join(root, 'docs'))
  .filter((name) => name.endsWith('.md'))
  .sort()
  .map((name) => `docs/${name}`)
const PAGES = ['README.md', ...DOCS]
const read = (page: string) => readFileSync(join(root, page), 'utf8')
/** A page without its fenced code blocks, where a `#` or a `[x](y)` is code, not markdown. */
const prose = (page: string) => read(page).replace(/^\s*(`{3,})[^\n]*\n[\s\S]*?^\s*\1\s*$/gm, '')

/** A heading's anchor as GitHub makes it: lower case, punctuation dropped, spaces to hyphens. */
function slug(heading: string): string {
  return heading
    .replaceAll('`', '')
    .toLowerCase()
    .replace(/[^\p{L}\p{M}\p{N}\p{Pc} -]/gu, '')
    .replaceAll(' ', '-')
}

function headings(page: string): { level: number; text: string }[] {
  return [...prose(page).matchAll(/^(#{1,6}) (.+)$/gm)].map((match) => ({
    level: (match[1] as string).length,
    text: (match[2] as string).trim(),
  }))
}

/** The anchors of a page, with GitHub's -1, -2 for repeated headings. */
function anchors(page: string): Set<string> {
  const seen = new Map<string, number>()
  return new Set(
    headings(page).map(({ text }) => {
      const base = slug(text)
      const count = seen.get(base) ?? 0
      seen.set(base, count + 1)
      return count === 0 ? base : `${base}-${count}`
    }),
  )
}

describe.each(PAGES)('%s', (page) => {
  const links = [...prose(page).matchAll(/\]\(([^)\s]+)\)/g)].map((match) => match[1] as string)
  const local = links.filter((link) => !/^[a-z]+:/.test(link))

  it('every relative link leads to a file of the repository, and its #anchor to a heading', () => {
    const broken = local.filter((link) => {
      const [path = '', anchor] = link.split('#')
      const target = path === '' ? page : relative(root, join(root, dirname(page), path))
      if (!existsSync(join(root, target))) return true
      return anchor !== undefined && !(target.endsWith('.md') && anchors(target).has(anchor))
    })
    expect(broken).toEqual([])
  })

  if (page === 'README.md') {
    it('the contents list every ## section and every ### of API, in order', () => {
      const sections = headings(page).filter(({ level }) => level === 2 || level === 3)
      const api = sections.findIndex(({ text }) => text === 'API')
      const next = sections.findIndex(({ level }, index) => index > api && level === 2)
      const wanted = sections
        .filter(({ level, text }, index) => (level === 2 && text !== 'Contents') || (index > api && index < next))
        .map(({ text }) => `#${slug(text)}`)
      const contents = read(page).split('## Contents')[1]?.split('\n## ')[0] ?? ''
      const listed = [...contents.matchAll(/^\s*- \[[^\]]+\]\((#[^)]+)\)$/gm)].map((match) => match[1])
      expect(api).toBeGreaterThan(0)
      expect(listed).toEqual(wanted)
    })

    it('links to every page of docs/', () => {
      expect(DOCS.filter((doc) => !local.some((link) => link.split('#')[0] === doc))).toEqual([])
    })
  } else {
    it('opens with its title, a summary paragraph and a link back to the README', () => {
      const [title, summary, back] = read(page).split(/\n\n+/)
      expect(title).toMatch(/^# \S/)
      expect(summary?.split(/\s+/).length, 'a summary of a few sentences').toBeGreaterThan(30)
      expect(back).toMatch(/\]\(\.\.\/README\.md\)/)
    })
  }
})

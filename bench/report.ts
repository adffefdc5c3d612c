/** Markdown tables, number formats, and the results files. */
import { mkdirSync, writeFileSync } from 'node:fs'
import type { Spread } from './measure.js'

/** A markdown table with padded columns (as biome formats it); `right`: indexes of right-aligned columns. */
export function table(headers: readonly string[], rows: readonly (readonly string[])[], right: readonly number[] = []) {
  const widths = headers.map((header, i) => Math.max(3, header.length, ...rows.map((row) => (row[i] ?? '').length)))
  const pad = (cells: readonly string[]) =>
    headers.map((_, i) => {
      const cell = cells[i] ?? ''
      const width = widths[i] as number
      return right.includes(i) ? cell.padStart(width) : cell.padEnd(width)
    })
  const align = widths.map((width, i) => (right.includes(i) ? `${'-'.repeat(width - 1)}:` : '-'.repeat(width)))
  return [pad(headers), align, ...rows.map(pad)].map((cells) => `| ${cells.join(' | ')} |`).join('\n')
}

export const int = (x: number): string => (Number.isFinite(x) ? Math.round(x).toLocaleString('en-US') : 'n/a')

export const fixed = (x: number, digits = 2): string => (Number.isFinite(x) ? x.toFixed(digits) : 'n/a')

/** "0.93 (0.88–0.97)" */
export const ratio = (s: Spread | undefined): string =>
  s ? `${fixed(s.median)} (${fixed(s.min)}–${fixed(s.max)})` : 'n/a'

/** A duration in ms, with a unit that keeps 2-3 significant digits. */
export function duration(ms: number): string {
  if (!Number.isFinite(ms)) return 'n/a'
  if (ms < 1) return `${(ms * 1000).toFixed(0)} µs`
  if (ms < 1000) return `${ms.toFixed(ms < 10 ? 2 : 1)} ms`
  return `${(ms / 1000).toFixed(2)} s`
}

export const bytes = (x: number): string => (Number.isFinite(x) ? `${Math.round(x).toLocaleString('en-US')} B` : 'n/a')

const LINE_WIDTH = 120

/**
 * JSON as biome formats it, so that `biome check` passes on the results: 2 spaces; objects stay
 * expanded; an array of numbers, strings or booleans on one line when it fits in 120 columns,
 * else numbers filled line by line and anything else one per line.
 */
export function toJson(value: unknown): string {
  const text = JSON.stringify(value, null, 2)
  const collapsed = text.replace(
    /^( *)("(?:[^"\\]|\\.)*": )?\[\n((?: *(?:-?[\d.e+-]+|"(?:[^"\\]|\\.)*"|true|false|null),?\n)+)( *)\]/gm,
    (whole, indent: string, key: string | undefined, items: string, closing: string) => {
      const parts = items
        .split('\n')
        .map((line) => line.trim().replace(/,$/, ''))
        .filter((line) => line !== '')
      const line = `${indent}${key ?? ''}[${parts.join(', ')}]`
      if (line.length + 1 <= LINE_WIDTH) return line
      if (!parts.every((part) => /^-?[\d.e+-]+$/.test(part))) return whole
      return `${indent}${key ?? ''}[\n${fill(parts, `${closing}  `)}\n${closing}]`
    },
  )
  return `${collapsed}\n`
}

/** Numbers packed into lines of at most LINE_WIDTH columns, every line but the last ending with a comma. */
function fill(parts: readonly string[], indent: string): string {
  const lines: string[] = []
  let line = ''
  parts.forEach((part, i) => {
    const item = i < parts.length - 1 ? `${part},` : part
    if (line !== '' && indent.length + line.length + 1 + item.length > LINE_WIDTH) {
      lines.push(indent + line)
      line = item
    } else {
      line = line === '' ? item : `${line} ${item}`
    }
  })
  lines.push(indent + line)
  return lines.join('\n')
}

export function writeResults(baseName: string, json: unknown, markdown: string): { json: string; md: string } {
  const dir = new URL('./results/', import.meta.url)
  mkdirSync(dir, { recursive: true })
  const jsonFile = new URL(`${baseName}.json`, dir)
  const mdFile = new URL(`${baseName}.md`, dir)
  writeFileSync(jsonFile, toJson(json))
  writeFileSync(mdFile, markdown)
  return { json: jsonFile.pathname, md: mdFile.pathname }
}

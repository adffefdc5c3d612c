/**
 * expireGroup latency against group size as a hand-written SVG line chart, both axes log scale,
 * one line per contender.
 */

export interface Series {
  name: string
  points: { size: number; ms: number }[]
  /** Shown in the legend when the series stops early. */
  note?: string
}

const WIDTH = 860
const HEIGHT = 520
const M = { left: 84, right: 24, top: 64, bottom: 64 }
const COLORS = ['#1b7837', '#2166ac', '#b2182b', '#762a83', '#e08214']

const xml = (text: string) => text.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;')

function sizeLabel(x: number): string {
  if (x >= 1e6) return `${x / 1e6}M`
  if (x >= 1e3) return `${x / 1e3}k`
  return `${x}`
}

function msLabel(ms: number): string {
  if (ms >= 1000) return `${ms / 1000} s`
  if (ms >= 1) return `${ms} ms`
  return `${Math.round(ms * 1000)} µs`
}

export function expireGroupChart(series: readonly Series[], title: string, subtitle: string): string {
  const all = series.flatMap((s) => s.points)
  const xMax = Math.max(10, ...all.map((p) => p.size))
  const decadesX = [0, Math.ceil(Math.log10(xMax))] as const
  const yMin = Math.floor(Math.log10(Math.min(...all.map((p) => p.ms))))
  const yMax = Math.max(yMin + 1, Math.ceil(Math.log10(Math.max(...all.map((p) => p.ms)))))
  const plotW = WIDTH - M.left - M.right
  const plotH = HEIGHT - M.top - M.bottom
  const x = (size: number) => M.left + ((Math.log10(size) - decadesX[0]) / (decadesX[1] - decadesX[0])) * plotW
  const y = (ms: number) => M.top + plotH - ((Math.log10(ms) - yMin) / (yMax - yMin)) * plotH
  const out: string[] = []
  out.push(
    `<svg xmlns="http://www.w3.org/2000/svg" width="${WIDTH}" height="${HEIGHT}" viewBox="0 0 ${WIDTH} ${HEIGHT}" font-family="Helvetica, Arial, sans-serif" role="img" aria-labelledby="chart-title">`,
    `<title id="chart-title">${xml(`${title}: ${subtitle}`)}</title>`,
    `<rect width="${WIDTH}" height="${HEIGHT}" fill="#ffffff"/>`,
    `<text x="${M.left}" y="28" font-size="18" font-weight="bold" fill="#222">${xml(title)}</text>`,
    `<text x="${M.left}" y="48" font-size="12" fill="#555">${xml(subtitle)}</text>`,
  )
  // Grid and tick labels, one per decade.
  for (let d = decadesX[0]; d <= decadesX[1]; d++) {
    const px = x(10 ** d)
    out.push(
      `<line x1="${px}" y1="${M.top}" x2="${px}" y2="${M.top + plotH}" stroke="#e3e3e3"/>`,
      `<text x="${px}" y="${M.top + plotH + 20}" font-size="13" text-anchor="middle" fill="#333">${sizeLabel(10 ** d)}</text>`,
    )
  }
  for (let d = yMin; d <= yMax; d++) {
    const py = y(10 ** d)
    out.push(
      `<line x1="${M.left}" y1="${py}" x2="${M.left + plotW}" y2="${py}" stroke="#e3e3e3"/>`,
      `<text x="${M.left - 8}" y="${py + 4}" font-size="13" text-anchor="end" fill="#333">${xml(msLabel(10 ** d))}</text>`,
    )
  }
  out.push(
    `<rect x="${M.left}" y="${M.top}" width="${plotW}" height="${plotH}" fill="none" stroke="#888"/>`,
    `<text x="${M.left + plotW / 2}" y="${HEIGHT - 18}" font-size="14" text-anchor="middle" fill="#222">members in the group (log scale)</text>`,
    `<text transform="translate(20 ${M.top + plotH / 2}) rotate(-90)" font-size="14" text-anchor="middle" fill="#222">one invalidation call (log scale)</text>`,
  )
  // Lines, markers and legend.
  series.forEach((s, k) => {
    const color = COLORS[k % COLORS.length] as string
    const points = s.points.map((p) => `${x(p.size).toFixed(1)},${y(p.ms).toFixed(1)}`)
    out.push(`<polyline points="${points.join(' ')}" fill="none" stroke="${color}" stroke-width="2.5"/>`)
    for (const p of s.points) {
      out.push(
        `<circle cx="${x(p.size).toFixed(1)}" cy="${y(p.ms).toFixed(1)}" r="4.5" fill="${color}"><title>${xml(`${s.name}: ${sizeLabel(p.size)} members, ${msLabel(Number(p.ms.toPrecision(3)))}`)}</title></circle>`,
      )
    }
    const ly = M.top + 18 + k * 20
    out.push(
      `<line x1="${M.left + 14}" y1="${ly - 4}" x2="${M.left + 40}" y2="${ly - 4}" stroke="${color}" stroke-width="2.5"/>`,
      `<text x="${M.left + 48}" y="${ly}" font-size="13" fill="#222">${xml(s.note ? `${s.name} (${s.note})` : s.name)}</text>`,
    )
  })
  out.push('</svg>')
  return `${out.join('\n')}\n`
}

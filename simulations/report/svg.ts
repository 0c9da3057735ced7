/**
 * Minimal SVG charts for the simulation report: line charts over time and grouped bars. No
 * dependencies and no scripts, so the report is one self-contained HTML file that opens
 * anywhere. Every text is escaped.
 */
export interface Series {
  readonly name: string
  readonly color: string
  readonly points: ReadonlyArray<readonly [number, number]>
  readonly dashed?: boolean
}

export interface Marker {
  readonly x: number
  readonly label: string
  readonly color: string
}

export function escapeXml(text: string): string {
  return text.replace(
    /[<>&"']/g,
    (c) => ({ '<': '&lt;', '>': '&gt;', '&': '&amp;', '"': '&quot;', "'": '&#39;' })[c]!,
  )
}

const WIDTH = 760
const HEIGHT = 320
const PAD = { left: 64, right: 20, top: 20, bottom: 44 }

/** "Nice" tick values covering [0, max]. */
export function ticks(max: number, count = 5): number[] {
  if (!(max > 0)) return [0]
  const raw = max / count
  const magnitude = 10 ** Math.floor(Math.log10(raw))
  const step = [1, 2, 2.5, 5, 10].map((m) => m * magnitude).find((s) => s >= raw) ?? raw
  const out: number[] = []
  for (let v = 0; v <= max + step * 1e-9; v += step) out.push(Number(v.toPrecision(12)))
  return out
}

function formatTick(v: number): string {
  if (Math.abs(v) >= 1e9) return `${(v / 1e9).toPrecision(3)}G`
  if (Math.abs(v) >= 1e6) return `${(v / 1e6).toPrecision(3)}M`
  if (Math.abs(v) >= 1e3) return `${(v / 1e3).toPrecision(3)}k`
  return `${Number(v.toPrecision(3))}`
}

export function lineChart(options: {
  readonly title: string
  readonly xLabel: string
  readonly yLabel: string
  readonly series: readonly Series[]
  readonly markers?: readonly Marker[]
  readonly yMax?: number
}): string {
  const all = options.series.flatMap((s) => s.points)
  const xMax = Math.max(1e-9, ...all.map(([x]) => x), ...(options.markers ?? []).map((m) => m.x))
  const yMax = options.yMax ?? Math.max(1e-9, ...all.map(([, y]) => y))
  const innerW = WIDTH - PAD.left - PAD.right
  const innerH = HEIGHT - PAD.top - PAD.bottom
  const sx = (x: number) => PAD.left + (x / xMax) * innerW
  const sy = (y: number) => PAD.top + innerH - (y / yMax) * innerH
  const parts: string[] = []
  parts.push(
    `<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 ${WIDTH} ${HEIGHT}" role="img" aria-label="${escapeXml(options.title)}">`,
  )
  for (const t of ticks(yMax)) {
    parts.push(
      `<line x1="${PAD.left}" x2="${WIDTH - PAD.right}" y1="${sy(t).toFixed(1)}" y2="${sy(t).toFixed(1)}" stroke="#e5e7eb"/>`,
    )
    parts.push(
      `<text x="${PAD.left - 6}" y="${(sy(t) + 4).toFixed(1)}" text-anchor="end" font-size="11">${formatTick(t)}</text>`,
    )
  }
  for (const t of ticks(xMax)) {
    parts.push(
      `<text x="${sx(t).toFixed(1)}" y="${HEIGHT - PAD.bottom + 16}" text-anchor="middle" font-size="11">${formatTick(t)}</text>`,
    )
  }
  parts.push(
    `<line x1="${PAD.left}" x2="${PAD.left}" y1="${PAD.top}" y2="${HEIGHT - PAD.bottom}" stroke="#111"/>`,
  )
  parts.push(
    `<line x1="${PAD.left}" x2="${WIDTH - PAD.right}" y1="${HEIGHT - PAD.bottom}" y2="${HEIGHT - PAD.bottom}" stroke="#111"/>`,
  )
  parts.push(
    `<text x="${PAD.left + innerW / 2}" y="${HEIGHT - 6}" text-anchor="middle" font-size="12">${escapeXml(options.xLabel)}</text>`,
  )
  parts.push(
    `<text transform="translate(14 ${PAD.top + innerH / 2}) rotate(-90)" text-anchor="middle" font-size="12">${escapeXml(options.yLabel)}</text>`,
  )
  for (const m of options.markers ?? []) {
    parts.push(
      `<line x1="${sx(m.x).toFixed(1)}" x2="${sx(m.x).toFixed(1)}" y1="${PAD.top}" y2="${HEIGHT - PAD.bottom}" stroke="${m.color}" stroke-dasharray="4 3"/>`,
    )
    parts.push(
      `<text x="${(sx(m.x) + 4).toFixed(1)}" y="${PAD.top + 12}" font-size="11" fill="${m.color}">${escapeXml(m.label)}</text>`,
    )
  }
  for (const s of options.series) {
    if (s.points.length === 0) continue
    const d = s.points
      .map(([x, y], i) => `${i === 0 ? 'M' : 'L'}${sx(x).toFixed(1)} ${sy(y).toFixed(1)}`)
      .join(' ')
    parts.push(
      `<path d="${d}" fill="none" stroke="${s.color}" stroke-width="2"${s.dashed ? ' stroke-dasharray="6 4"' : ''}/>`,
    )
  }
  options.series.forEach((s, i) => {
    const y = PAD.top + 14 + i * 16
    parts.push(`<rect x="${WIDTH - PAD.right - 170}" y="${y - 9}" width="12" height="3" fill="${s.color}"/>`)
    parts.push(`<text x="${WIDTH - PAD.right - 152}" y="${y - 4}" font-size="11">${escapeXml(s.name)}</text>`)
  })
  parts.push('</svg>')
  return parts.join('')
}

export function barChart(options: {
  readonly title: string
  readonly yLabel: string
  readonly groups: ReadonlyArray<{ readonly label: string; readonly values: readonly number[] }>
  readonly seriesNames: readonly string[]
  readonly colors: readonly string[]
}): string {
  const yMax = Math.max(1e-9, ...options.groups.flatMap((g) => g.values))
  const innerW = WIDTH - PAD.left - PAD.right
  const innerH = HEIGHT - PAD.top - PAD.bottom
  const sy = (y: number) => PAD.top + innerH - (y / yMax) * innerH
  const groupW = innerW / Math.max(1, options.groups.length)
  const barW = (groupW * 0.7) / Math.max(1, options.seriesNames.length)
  const parts: string[] = [
    `<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 ${WIDTH} ${HEIGHT}" role="img" aria-label="${escapeXml(options.title)}">`,
  ]
  for (const t of ticks(yMax)) {
    parts.push(
      `<line x1="${PAD.left}" x2="${WIDTH - PAD.right}" y1="${sy(t).toFixed(1)}" y2="${sy(t).toFixed(1)}" stroke="#e5e7eb"/>`,
    )
    parts.push(
      `<text x="${PAD.left - 6}" y="${(sy(t) + 4).toFixed(1)}" text-anchor="end" font-size="11">${formatTick(t)}</text>`,
    )
  }
  options.groups.forEach((g, gi) => {
    const x0 = PAD.left + gi * groupW + groupW * 0.15
    g.values.forEach((v, si) => {
      parts.push(
        `<rect x="${(x0 + si * barW).toFixed(1)}" y="${sy(v).toFixed(1)}" width="${(barW - 2).toFixed(1)}" height="${(PAD.top + innerH - sy(v)).toFixed(1)}" fill="${options.colors[si % options.colors.length]}"><title>${escapeXml(`${g.label} ${options.seriesNames[si]}: ${formatTick(v)}`)}</title></rect>`,
      )
    })
    parts.push(
      `<text x="${(x0 + (barW * g.values.length) / 2).toFixed(1)}" y="${HEIGHT - PAD.bottom + 16}" text-anchor="middle" font-size="11">${escapeXml(g.label)}</text>`,
    )
  })
  parts.push(
    `<line x1="${PAD.left}" x2="${WIDTH - PAD.right}" y1="${HEIGHT - PAD.bottom}" y2="${HEIGHT - PAD.bottom}" stroke="#111"/>`,
  )
  parts.push(
    `<text transform="translate(14 ${PAD.top + innerH / 2}) rotate(-90)" text-anchor="middle" font-size="12">${escapeXml(options.yLabel)}</text>`,
  )
  options.seriesNames.forEach((name, i) => {
    const y = PAD.top + 14 + i * 16
    parts.push(
      `<rect x="${WIDTH - PAD.right - 170}" y="${y - 9}" width="12" height="8" fill="${options.colors[i % options.colors.length]}"/>`,
    )
    parts.push(`<text x="${WIDTH - PAD.right - 152}" y="${y - 2}" font-size="11">${escapeXml(name)}</text>`)
  })
  parts.push('</svg>')
  return parts.join('')
}

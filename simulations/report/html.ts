import { barChart, escapeXml, lineChart } from './svg.js'

/** What a rollout simulation hands the report: everything is plain numbers and strings. */
export interface RolloutReport {
  readonly title: string
  readonly seed: number | string
  /** The summary printed with --json, shown as a table. */
  readonly summary: Readonly<Record<string, unknown>>
  /** Fraction of devices done (0..1) over simulated seconds. */
  readonly completion: ReadonlyArray<readonly [number, number]>
  readonly lowerBoundSeconds: number
  readonly clientServerSeconds: number
  /** Bytes per second served by the origin and by peers, over simulated seconds. */
  readonly originBps: ReadonlyArray<readonly [number, number]>
  readonly peerBps: ReadonlyArray<readonly [number, number]>
  /** Per bandwidth class: completion time percentiles in seconds. */
  readonly classes: ReadonlyArray<{
    readonly name: string
    readonly devices: number
    readonly p50: number
    readonly p90: number
    readonly max: number
  }>
}

/** A self-contained HTML page (inline CSS and SVG, no scripts, no external files). */
export function renderRolloutReport(r: RolloutReport): string {
  const rows = Object.entries(r.summary)
    .map(
      ([k, v]) =>
        `<tr><th>${escapeXml(k)}</th><td>${escapeXml(typeof v === 'object' ? JSON.stringify(v) : String(v))}</td></tr>`,
    )
    .join('')
  // The client-server time of a large fleet is 100× the swarm's: drawn only when it fits.
  const lastDone = r.completion.at(-1)?.[0] ?? 0
  const clientServerShown = r.clientServerSeconds <= 4 * Math.max(lastDone, r.lowerBoundSeconds)
  const completion = lineChart({
    title: 'Completion over time',
    xLabel: 'simulated seconds',
    yLabel: 'devices done (fraction)',
    yMax: 1,
    series: [{ name: 'devices done', color: '#2563eb', points: r.completion }],
    markers: [
      { x: r.lowerBoundSeconds, label: `lower bound ${r.lowerBoundSeconds.toFixed(1)} s`, color: '#16a34a' },
      ...(clientServerShown
        ? [
            {
              x: r.clientServerSeconds,
              label: `client-server ${r.clientServerSeconds.toFixed(1)} s`,
              color: '#dc2626',
            },
          ]
        : []),
    ],
  })
  const clientServerNote = clientServerShown
    ? ''
    : `<p>Client-server distribution (the origin serving every device) would take ${escapeXml(r.clientServerSeconds.toFixed(0))} s, off this chart.</p>`
  const bandwidth = lineChart({
    title: 'Origin and peer bandwidth over time',
    xLabel: 'simulated seconds',
    yLabel: 'bytes per second',
    series: [
      { name: 'from the origin', color: '#dc2626', points: r.originBps },
      { name: 'from peers', color: '#2563eb', points: r.peerBps },
    ],
  })
  const classes = barChart({
    title: 'Completion time per bandwidth class',
    yLabel: 'seconds',
    seriesNames: ['p50', 'p90', 'max'],
    colors: ['#60a5fa', '#2563eb', '#1e3a8a'],
    groups: r.classes.map((c) => ({ label: `${c.name} (${c.devices})`, values: [c.p50, c.p90, c.max] })),
  })
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>${escapeXml(r.title)}</title>
<style>body{font:14px/1.4 system-ui,sans-serif;max-width:820px;margin:2em auto;color:#111}
table{border-collapse:collapse}th,td{padding:2px 10px;border-bottom:1px solid #e5e7eb;text-align:left}
th{font-weight:600}svg{width:100%;height:auto;margin:0.5em 0 1.5em}</style></head>
<body><h1>${escapeXml(r.title)}</h1><p>seed ${escapeXml(String(r.seed))}</p>
<h2>Summary</h2><table>${rows}</table>
<h2>Completion over time, against the lower bound</h2>${completion}${clientServerNote}
<h2>Origin and peer bandwidth</h2>${bandwidth}
<h2>Per bandwidth class</h2>${classes}
</body></html>
`
}

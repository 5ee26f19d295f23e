/**
 * Bar charts as plain SVG strings: one or more panels, a horizontal bar per competitor, the
 * value printed at the end of each bar and a dashed goal line where the measure has a goal.
 * No dependencies, no fonts beyond the system sans-serif.
 */

export interface Bar {
  label: string
  value: number
  /** Text shown after the bar (default: the value). */
  display?: string
  /** `ours`, `competitor` or `baseline`: picks the colour. */
  kind?: 'ours' | 'competitor' | 'baseline'
}

export interface Panel {
  title: string
  bars: Bar[]
  goal?: { value: number; label: string }
  /** Log scale (log10(1 + x)), for counts that span orders of magnitude. */
  log?: boolean
  /** Where the axis starts (linear scale only), e.g. 0.9 for ratios close to 1. */
  from?: number
}

const COLORS = { ours: '#2563eb', competitor: '#9ca3af', baseline: '#d1d5db' }
const WIDTH = 800
const LABEL_W = 230
const VALUE_W = 150
const BAR_H = 20
const GAP = 6
const TITLE_H = 26

export const escapeXml = (s: string) =>
  s.replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c]!)

const num = (x: number) => (Math.round(x * 10) / 10).toString()

function panelSvg(panel: Panel, top: number): { svg: string; height: number } {
  const plotW = WIDTH - LABEL_W - VALUE_W - 20
  const finite = panel.bars.map((b) => (Number.isFinite(b.value) ? b.value : 0))
  const from = panel.log ? 0 : (panel.from ?? 0)
  const max = Math.max(...finite, panel.goal?.value ?? 0, from + 1e-9)
  const scale = (v: number) => {
    const x = Math.max(v, from)
    const t = panel.log ? Math.log10(1 + x) / Math.log10(1 + max) : (x - from) / (max - from)
    return Math.max(0, Math.min(1, t)) * plotW
  }
  const parts: string[] = []
  parts.push(
    `<text x="10" y="${top + 17}" font-size="14" font-weight="600">${escapeXml(panel.title)}${panel.log ? ' <tspan font-weight="400" fill="#6b7280">(log scale)</tspan>' : ''}${from ? ` <tspan font-weight="400" fill="#6b7280">(axis from ${num(from)})</tspan>` : ''}</text>`,
  )
  let y = top + TITLE_H
  for (const bar of panel.bars) {
    const w = Number.isFinite(bar.value) ? scale(bar.value) : 0
    const color = COLORS[bar.kind ?? 'competitor']
    parts.push(`<text x="${LABEL_W - 8}" y="${y + 14}" font-size="12" text-anchor="end">${escapeXml(bar.label)}</text>`)
    parts.push(`<rect x="${LABEL_W}" y="${y}" width="${Math.max(w, 1).toFixed(1)}" height="${BAR_H}" fill="${color}" rx="2"/>`)
    parts.push(
      `<text x="${(LABEL_W + w + 6).toFixed(1)}" y="${y + 14}" font-size="12" fill="#111827">${escapeXml(bar.display ?? (Number.isFinite(bar.value) ? num(bar.value) : 'n/a'))}</text>`,
    )
    y += BAR_H + GAP
  }
  if (panel.goal) {
    const gx = LABEL_W + scale(panel.goal.value)
    parts.push(
      `<line x1="${gx.toFixed(1)}" y1="${top + TITLE_H - 4}" x2="${gx.toFixed(1)}" y2="${y}" stroke="#dc2626" stroke-width="1.5" stroke-dasharray="5,3"/>`,
    )
    parts.push(`<text x="${(gx + 4).toFixed(1)}" y="${y + 12}" font-size="11" fill="#dc2626">${escapeXml(panel.goal.label)}</text>`)
    y += 16
  }
  parts.push(`<line x1="${LABEL_W}" y1="${top + TITLE_H - 4}" x2="${LABEL_W}" y2="${y - (panel.goal ? 16 : 0)}" stroke="#6b7280"/>`)
  return { svg: parts.join('\n'), height: y - top + 14 }
}

/** A chart of stacked panels. */
export function barChart(title: string, panels: Panel[], footnote?: string): string {
  const body: string[] = []
  let y = 40
  for (const panel of panels) {
    const { svg, height } = panelSvg(panel, y)
    body.push(svg)
    y += height
  }
  if (footnote) {
    body.push(`<text x="10" y="${y + 4}" font-size="11" fill="#6b7280">${escapeXml(footnote)}</text>`)
    y += 14
  }
  const height = y + 10
  return [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${WIDTH}" height="${height}" viewBox="0 0 ${WIDTH} ${height}" font-family="system-ui, -apple-system, 'Segoe UI', sans-serif">`,
    `<rect width="100%" height="100%" fill="#ffffff"/>`,
    `<text x="10" y="24" font-size="16" font-weight="700">${escapeXml(title)}</text>`,
    ...body,
    `</svg>`,
    '',
  ].join('\n')
}

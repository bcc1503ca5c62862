// The connectivity matrix as a table a person reads at a glance. Pure.
//
//   from \ to       shop/web  shop/api  ...
//   shop/web        ·         ✓         ...
//   lab/client      ✓         ✓→✗       ...      (changed cells show before→after)

export interface Matrix {
  labels: string[]
  /** ok[from][to]; the diagonal is not probed. */
  ok: boolean[][]
}

const MARK = { ok: '✓', no: '✗', self: '·' } as const
const ANSI = { green: '\x1b[32m', red: '\x1b[31m', bold: '\x1b[1m', dim: '\x1b[2m', reset: '\x1b[0m' }

function cell(m: Matrix, from: number, to: number, before?: Matrix): string {
  if (from === to) return MARK.self
  const now = m.ok[from]![to] ? MARK.ok : MARK.no
  const was = before && (before.ok[from]![to] ? MARK.ok : MARK.no)
  return was && was !== now ? `${was}→${now}` : now
}

function paint(text: string, color: boolean): string {
  if (!color) return text
  if (text.includes('→')) return `${ANSI.bold}${text.endsWith(MARK.ok) ? ANSI.green : ANSI.red}${text}${ANSI.reset}`
  if (text === MARK.ok) return `${ANSI.green}${text}${ANSI.reset}`
  if (text === MARK.no) return `${ANSI.red}${text}${ANSI.reset}`
  return `${ANSI.dim}${text}${ANSI.reset}`
}

/** The table; with `before`, cells that differ show "was→now". */
export function renderMatrix(m: Matrix, o: { before?: Matrix; color?: boolean } = {}): string {
  const corner = 'from \\ to'
  const first = Math.max(corner.length, ...m.labels.map((l) => l.length)) + 2
  const widths = m.labels.map((l) => Math.max(l.length, 3) + 2)
  const lines = [corner.padEnd(first) + m.labels.map((l, i) => l.padEnd(widths[i]!)).join('').trimEnd()]
  m.labels.forEach((label, from) => {
    // Pad before painting: escape codes have no width.
    const cells = m.labels.map((_, to) => {
      const text = cell(m, from, to, o.before)
      return paint(text, !!o.color) + ' '.repeat(widths[to]! - text.length)
    })
    lines.push((label.padEnd(first) + cells.join('')).trimEnd())
  })
  return lines.join('\n') + '\n'
}

/** The cells that differ, as "from → to: ✓→✗" lines. */
export function changes(before: Matrix, after: Matrix): string[] {
  const out: string[] = []
  after.labels.forEach((f, i) => after.labels.forEach((t, j) => {
    if (i !== j && before.ok[i]![j] !== after.ok[i]![j]) out.push(`${f} → ${t}: ${before.ok[i]![j] ? 'allowed' : 'blocked'} → ${after.ok[i]![j] ? 'allowed' : 'blocked'}`)
  }))
  return out
}

// `cinch demo [--keep] [--backend vxlan|host-gw] [--name N]` and `cinch demo down [--name N]`.
import { parseFlags, UsageError } from './args.js'

export async function demo(argv: string[]): Promise<number> {
  const down = argv[0] === 'down'
  const f = parseFlags(down ? argv.slice(1) : argv, { keep: { type: 'boolean' }, name: { type: 'string' }, backend: { type: 'string' } })
  const name = f.name ?? 'cinch-demo'
  if (!/^[a-z0-9][a-z0-9-]{0,30}$/.test(name)) throw new UsageError(`--name: "${name}" must be lowercase letters, digits and dashes (at most 31)`)
  const out = (s: string) => void process.stdout.write(s)
  const { demoDown, demoUp } = await import('../demo/run.js')
  if (down) return demoDown({ name, out })
  const backend = f.backend ?? 'vxlan'
  if (backend !== 'vxlan' && backend !== 'host-gw') throw new UsageError(`--backend: "${backend}" is neither vxlan nor host-gw`)
  return demoUp({ name, keep: !!f.keep, backend, out, color: !!process.stdout.isTTY && !process.env.NO_COLOR })
}

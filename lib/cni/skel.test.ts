import { mkdtempSync, readFileSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { describe, expect, it } from 'vitest'
import { CniError } from './errors.js'
import { MAX_STDIN_BYTES, runPlugin, type PluginVerbs } from './skel.js'

interface Run {
  code: number
  out: any
  raw: string
}

const baseEnv = { CNI_CONTAINERID: 'c1', CNI_NETNS: '/var/run/netns/x', CNI_IFNAME: 'eth0', CNI_PATH: '/opt/cni/bin' }

async function invoke(verbs: Partial<PluginVerbs>, env: Record<string, string>, stdin: unknown): Promise<Run> {
  let raw = ''
  const all: PluginVerbs = {
    add: async () => ({ cniVersion: '1.1.0', ips: [{ address: '10.0.0.2/24' }] }),
    del: async () => {},
    check: async () => {},
    ...verbs,
  }
  const code = await runPlugin(all, {
    about: 'test',
    io: {
      env,
      stdin: Buffer.from(typeof stdin === 'string' ? stdin : JSON.stringify(stdin)),
      stdout: (t) => (raw += t),
      stderr: () => {},
    },
  })
  return { code, raw, out: raw ? JSON.parse(raw) : undefined }
}

const conf = (v: string) => ({ cniVersion: v, name: 'n', type: 'test' })

describe('runPlugin', () => {
  it('answers VERSION with every supported version', async () => {
    const r = await invoke({}, { CNI_COMMAND: 'VERSION' }, { cniVersion: '1.0.0' })
    expect(r.code).toBe(0)
    expect(r.out).toEqual({ cniVersion: '1.0.0', supportedVersions: ['0.3.0', '0.3.1', '0.4.0', '1.0.0', '1.1.0'] })
  })

  it('prints ADD results in the config version', async () => {
    const r = await invoke({}, { ...baseEnv, CNI_COMMAND: 'ADD' }, conf('0.3.1'))
    expect(r.code).toBe(0)
    expect(r.out).toEqual({ cniVersion: '0.3.1', ips: [{ version: '4', address: '10.0.0.2/24' }], dns: {} })
  })

  it('prints nothing for a successful DEL', async () => {
    const r = await invoke({}, { ...baseEnv, CNI_COMMAND: 'DEL' }, conf('1.1.0'))
    expect(r).toEqual({ code: 0, raw: '', out: undefined })
  })

  it('refuses an unsupported version with code 1', async () => {
    const r = await invoke({}, { ...baseEnv, CNI_COMMAND: 'ADD' }, conf('0.2.0'))
    expect(r.code).toBe(1)
    expect(r.out.code).toBe(1)
    expect(r.out.details).toContain('0.2.0')
  })

  it.each([
    ['CHECK', '0.3.1'],
    ['STATUS', '1.0.0'],
    ['GC', '1.0.0'],
  ])('refuses %s for cniVersion %s with code 1', async (cmd, v) => {
    const r = await invoke({}, { ...baseEnv, CNI_COMMAND: cmd }, conf(v))
    expect(r.out).toMatchObject({ code: 1, msg: `config version does not allow ${cmd}` })
  })

  it('names the missing variables with code 4', async () => {
    const r = await invoke({}, { CNI_COMMAND: 'ADD', CNI_PATH: '/x' }, conf('1.1.0'))
    expect(r.out).toMatchObject({ code: 4, details: 'CNI_CONTAINERID, CNI_NETNS, CNI_IFNAME' })
  })

  it('lets DEL run without CNI_NETNS (SPEC)', async () => {
    let seen = 'unset'
    const r = await invoke({ del: async ({ env }) => void (seen = env.netns) }, { CNI_COMMAND: 'DEL', CNI_CONTAINERID: 'c', CNI_IFNAME: 'eth0', CNI_PATH: '/x' }, conf('1.1.0'))
    expect(r.code).toBe(0)
    expect(seen).toBe('')
  })

  it('reports stdin that is not JSON with code 6', async () => {
    const r = await invoke({}, { ...baseEnv, CNI_COMMAND: 'ADD' }, '{"cniVersion":')
    expect(r.out.code).toBe(6)
    expect(r.out.cniVersion).toBe('1.1.0')
  })

  it('passes a CniError through with its code and details', async () => {
    const r = await invoke({ add: async () => { throw new CniError(11, 'busy', 'agent did not answer') } }, { ...baseEnv, CNI_COMMAND: 'ADD' }, conf('1.0.0'))
    expect(r.out).toEqual({ cniVersion: '1.0.0', code: 11, msg: 'busy', details: 'agent did not answer' })
  })

  it('maps any other error to 999 with the cause chain', async () => {
    const add = async () => { throw new Error('create veth', { cause: new Error('EEXIST') }) }
    const r = await invoke({ add }, { ...baseEnv, CNI_COMMAND: 'ADD' }, conf('1.1.0'))
    expect(r.out).toMatchObject({ code: 999, msg: 'create veth', details: 'create veth: EEXIST' })
  })

  it('hands the verb a prevResult converted to the 1.1.0 shape', async () => {
    let prev: unknown
    const check = async ({ conf }: any) => void (prev = conf.prevResult)
    await invoke({ check }, { ...baseEnv, CNI_COMMAND: 'CHECK' }, { ...conf('0.4.0'), prevResult: { cniVersion: '0.4.0', ips: [{ version: '4', address: '10.0.0.2/24' }] } })
    expect(prev).toEqual({ cniVersion: '0.4.0', ips: [{ address: '10.0.0.2/24' }] })
  })

  it('rejects an unknown CNI_COMMAND with code 4', async () => {
    const r = await invoke({}, { ...baseEnv, CNI_COMMAND: 'FROB' }, conf('1.1.0'))
    expect(r.out).toMatchObject({ code: 4, msg: 'unknown CNI_COMMAND "FROB"' })
  })

  // pkg/utils ValidateContainerID: the ID names lease files, records and nft comments (issue 8.9).
  it.each([['../../victim/pwn'], ['a\nb'], ['-rf'], ['x y'], ['x"y'], ['.hidden']])('rejects CNI_CONTAINERID %j with code 4', async (id) => {
    const r = await invoke({}, { ...baseEnv, CNI_CONTAINERID: id, CNI_COMMAND: 'ADD' }, conf('1.1.0'))
    expect(r.out).toMatchObject({ code: 4, msg: 'invalid characters in CNI_CONTAINERID' })
  })

  it('accepts container IDs the spec allows', async () => {
    const r = await invoke({}, { ...baseEnv, CNI_CONTAINERID: 'a'.repeat(64) + '_x.y-z', CNI_COMMAND: 'DEL' }, conf('1.1.0'))
    expect(r.code).toBe(0)
  })

  it('counts CNI_IFNAME in bytes: 8 two-byte characters are 16 bytes, too many', async () => {
    const r = await invoke({}, { ...baseEnv, CNI_IFNAME: 'éééééééé', CNI_COMMAND: 'ADD' }, conf('1.1.0'))
    expect(r.out).toMatchObject({ code: 4, details: expect.stringContaining('16 bytes') })
    const ok = await invoke({}, { ...baseEnv, CNI_IFNAME: 'ééééééé', CNI_COMMAND: 'ADD' }, conf('1.1.0'))
    expect(ok.code).toBe(0)
  })

  it.each([['.'], ['..'], ['a/b'], ['a:b'], ['a b'], ['a\tb'], ['a\u0085b']])('rejects CNI_IFNAME %j with code 4', async (ifName) => {
    const r = await invoke({}, { ...baseEnv, CNI_IFNAME: ifName, CNI_COMMAND: 'ADD' }, conf('1.1.0'))
    expect(r.out.code).toBe(4)
  })

  it('rejects a relative CNI_NETNS with code 4', async () => {
    const r = await invoke({}, { ...baseEnv, CNI_NETNS: 'netns/x', CNI_COMMAND: 'ADD' }, conf('1.1.0'))
    expect(r.out).toMatchObject({ code: 4, msg: 'CNI_NETNS must be an absolute path' })
  })

  it('refuses stdin over MAX_STDIN_BYTES with code 6, the error in the config version', async () => {
    const big = JSON.stringify({ ...conf('1.0.0'), pad: 'x'.repeat(MAX_STDIN_BYTES) })
    const r = await invoke({}, { ...baseEnv, CNI_COMMAND: 'ADD' }, big)
    expect(r.out).toMatchObject({ code: 6, msg: 'network config on stdin is too large' })
  })

  it('keeps the config version in the error object of an env failure', async () => {
    const r = await invoke({}, { ...baseEnv, CNI_CONTAINERID: '../x', CNI_COMMAND: 'ADD' }, conf('1.0.0'))
    expect(r.out.cniVersion).toBe('1.0.0')
  })

  it('hands the verb the plugin-parsed config and the raw config, parsed once', async () => {
    let seen: any
    const code = await runPlugin<{ answer: number }>(
      { add: async (ctx) => { seen = ctx; return { cniVersion: '1.1.0' } }, del: async () => {}, check: async () => {} },
      {
        about: 'test',
        parseConfig: (c) => ({ answer: (c as any).x * 2 }),
        io: { env: { ...baseEnv, CNI_COMMAND: 'ADD' }, stdin: Buffer.from(JSON.stringify({ ...conf('1.0.0'), x: 21 })), stdout: () => {}, stderr: () => {} },
      },
    )
    expect(code).toBe(0)
    expect(seen.config).toEqual({ answer: 42 })
    expect(seen.raw).toEqual({ ...conf('1.0.0'), x: 21 })
  })

  it('a parseConfig failure is the verb failure, with its code', async () => {
    let err = ''
    const code = await runPlugin(
      { add: async () => ({ cniVersion: '1.1.0' }), del: async () => {}, check: async () => {} },
      {
        about: 'test',
        parseConfig: () => { throw new CniError(7, 'invalid network config: bridge') },
        io: { env: { ...baseEnv, CNI_COMMAND: 'ADD' }, stdin: Buffer.from(JSON.stringify(conf('1.1.0'))), stdout: (t) => (err += t), stderr: () => {} },
      },
    )
    expect(code).toBe(1)
    expect(JSON.parse(err)).toMatchObject({ code: 7 })
  })

  it('DEL runs with a malformed prevResult (ignored); CHECK refuses it with code 6', async () => {
    const bad = { ...conf('1.0.0'), prevResult: { cniVersion: '1.0.0', ips: [{ address: 'garbage' }] } }
    let prev: unknown = 'unset'
    const d = await invoke({ del: async ({ conf }) => void (prev = conf.prevResult) }, { ...baseEnv, CNI_COMMAND: 'DEL' }, bad)
    expect(d.code).toBe(0)
    expect(prev).toBeUndefined()
    const c = await invoke({}, { ...baseEnv, CNI_COMMAND: 'CHECK' }, bad)
    expect(c.out.code).toBe(6)
  })

  it('rejects an interface name longer than 15 bytes with code 4', async () => {
    const r = await invoke({}, { ...baseEnv, CNI_IFNAME: 'a-very-long-ifname0', CNI_COMMAND: 'ADD' }, conf('1.1.0'))
    expect(r.out.code).toBe(4)
  })

  it('writes one line per verb outcome to logFile, with its duration', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'cinch-log-'))
    try {
      const logFile = join(dir, 'sub', 'plugin.log')
      await invoke({}, { ...baseEnv, CNI_COMMAND: 'ADD' }, { ...conf('1.1.0'), logFile })
      const line = JSON.parse(readFileSync(logFile, 'utf8').trim())
      expect(line).toMatchObject({ level: 30, msg: 'ADD ok', cmd: 'ADD', containerId: 'c1', ifName: 'eth0', plugin: 'test' })
      expect(typeof line.ms).toBe('number')
    } finally {
      rmSync(dir, { recursive: true, force: true })
    }
  })

  it('sends warnings to stderr when no logFile is set, never to stdout', async () => {
    let err = ''
    let out = ''
    await runPlugin(
      { add: async () => { throw new Error('boom') }, del: async () => {}, check: async () => {} },
      { about: 'test', io: { env: { ...baseEnv, CNI_COMMAND: 'ADD' }, stdin: Buffer.from(JSON.stringify(conf('1.1.0'))), stdout: (t) => (out += t), stderr: (t) => (err += t) } },
    )
    expect(JSON.parse(err)).toMatchObject({ level: 40, msg: 'ADD failed', err: 'boom' })
    expect(JSON.parse(out)).toMatchObject({ code: 999, msg: 'boom' })
  })
})

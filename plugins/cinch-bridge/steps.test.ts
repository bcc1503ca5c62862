import { describe, expect, it } from 'vitest'
import type { PluginLogger } from '../../lib/cni/index.js'
import { Attempts, Transaction } from './steps.js'

const quiet: PluginLogger = { debug() {}, info() {}, warn() {}, error() {}, child: () => quiet }
const tick = () => new Promise((r) => setTimeout(r, 5))

describe('Transaction', () => {
  it('undoes registered changes in reverse order when the body throws, after early work settles, and closes always', async () => {
    const seen: string[] = []
    let finishEarly!: () => void
    const early = new Promise<void>((r) => (finishEarly = r)).then(() => void seen.push('early settled'))
    const run = new Transaction(quiet).run(async (tx) => {
      tx.early(early)
      tx.onExit(() => seen.push('closed'))
      tx.onFailure('first', () => seen.push('undo first'))
      tx.onFailure('second', () => seen.push('undo second'))
      throw new Error('step failed')
    })
    await tick()
    finishEarly()
    await expect(run).rejects.toThrow('step failed')
    expect(seen).toEqual(['early settled', 'undo second', 'undo first', 'closed'])
  })

  it('a rejected early promise is not an unhandled rejection: it fails the body that awaits it', async () => {
    const unhandled: unknown[] = []
    const onUnhandled = (r: unknown) => unhandled.push(r)
    process.on('unhandledRejection', onUnhandled)
    try {
      const run = new Transaction(quiet).run(async (tx) => {
        const ipam = tx.early(Promise.reject(new Error('IPAM plugin not found')))
        await tick() // other steps run meanwhile (issue 8.10: Node exited here)
        await tick()
        return ipam
      })
      await expect(run).rejects.toThrow('IPAM plugin not found')
      await tick()
      expect(unhandled).toEqual([])
    } finally {
      process.off('unhandledRejection', onUnhandled)
    }
  })

  it('cancel() withdraws an undo: a change found not to be this verb\'s stays', async () => {
    const seen: string[] = []
    await new Transaction(quiet).run(async (tx) => {
      const lease = tx.onFailure('release lease', () => seen.push('released'))
      tx.onFailure('other', () => seen.push('other undone'))
      lease.cancel()
      throw new Error('veth exists')
    }).catch(() => undefined)
    expect(seen).toEqual(['other undone'])
  })

  it('undoes nothing when the body succeeds', async () => {
    const seen: string[] = []
    await new Transaction(quiet).run(async (tx) => { tx.onFailure('x', () => seen.push('undone')); return 1 })
    expect(seen).toEqual([])
  })
})

describe('Attempts', () => {
  it('runs every step and collects the failures', async () => {
    const a = new Attempts(quiet)
    expect(await a.attempt('one', () => { throw new Error('boom', { cause: new Error('ENOENT') }) })).toBe(false)
    expect(await a.attempt('two', async () => {})).toBe(true)
    expect(a.failures).toEqual(['one: boom: ENOENT'])
  })
})

// The one place cinch-bridge keeps track of what a verb changed. ADD runs its steps inside a
// Transaction: each change registers its undo, work started early (IPAM, nft) is tracked until it
// settles, and resources (netns fd, netlink sockets) are closed whatever happens. DEL and a failed
// ADD's rollback share `attempt`: every step is tried, failures are collected and logged, none
// stops the next (STYLE "A failed ADD rolls back", "DEL is idempotent"; bridge.go's `success`).
import { describeError, type PluginLogger } from '../../lib/cni/index.js'

/** Runs every step, whatever the others do, and remembers what failed. */
export class Attempts {
  readonly failures: string[] = []
  constructor(private readonly log: PluginLogger) {}

  /** Runs `fn`; a failure is recorded under `what`, logged, and not thrown. True when it succeeded. */
  async attempt(what: string, fn: () => unknown): Promise<boolean> {
    try {
      await fn()
      return true
    } catch (err) {
      this.failures.push(`${what}: ${describeError(err)}`)
      this.log.warn({ step: what, err: describeError(err) }, 'step failed')
      return false
    }
  }
}

interface Undo {
  what: string
  run: () => unknown
}

export class Transaction {
  private readonly undos: Undo[] = []
  private readonly closers: (() => void)[] = []
  private readonly pending: Promise<unknown>[] = []

  constructor(private readonly log: PluginLogger) {}

  /**
   * Work started now and awaited later (a process of its own runs meanwhile). Its rejection is held
   * for whoever awaits the returned promise, never left unhandled (Node would exit with nothing on
   * stdout), and the rollback waits for it to settle before undoing anything.
   */
  early<T>(work: Promise<T>): Promise<T> {
    work.catch(() => undefined)
    this.pending.push(work)
    return work
  }

  /**
   * Registers how to undo a change this ADD made; undone in reverse order if the ADD fails.
   * `cancel()` withdraws it once the change turns out not to be this ADD's to undo.
   */
  onFailure(what: string, run: () => unknown): { cancel(): void } {
    const undo = { what, run }
    this.undos.push(undo)
    return {
      cancel: () => {
        const at = this.undos.indexOf(undo)
        if (at >= 0) this.undos.splice(at, 1)
      },
    }
  }

  /** Registers a resource to release when the verb ends, failed or not. */
  onExit(close: () => void): void {
    this.closers.push(close)
  }

  /** Runs `body`; if it throws, settles what is in flight and undoes every registered change, then rethrows. */
  async run<T>(body: (tx: Transaction) => Promise<T>): Promise<T> {
    try {
      return await body(this)
    } catch (err) {
      await this.rollback()
      throw err
    } finally {
      for (const close of this.closers.reverse()) {
        try {
          close()
        } catch (err) {
          this.log.warn({ err: describeError(err) }, 'close failed')
        }
      }
    }
  }

  private async rollback(): Promise<void> {
    await Promise.allSettled(this.pending)
    const steps = new Attempts(this.log)
    for (const u of this.undos.reverse()) {
      if (await steps.attempt(u.what, u.run)) this.log.info({ step: u.what }, 'rolled back')
    }
  }
}

// One teardown style for every test: a stack of undo steps, run in reverse, each allowed to fail
// without stopping the rest. `cleanupFor(t)` registers the stack with t.teardown BEFORE the test
// creates anything, so whatever exists when a step throws half way is still removed.

/** Undo steps, run in reverse; each one may fail without stopping the others. */
export class Cleanup {
  #steps: (() => unknown)[] = []
  add(step: () => unknown): void {
    this.#steps.push(step)
  }
  async run(): Promise<void> {
    while (this.#steps.length) {
      try {
        await this.#steps.pop()!()
      } catch {
        // best effort: the next step must still run
      }
    }
  }
}

/** What `cleanupFor` needs of a test context (ava's ExecutionContext, or a test.after hook). */
export interface Teardown { teardown(fn: () => unknown): void }

/** A Cleanup already registered with the test's teardown: create things only after this call. */
export function cleanupFor(t: Teardown): Cleanup {
  const c = new Cleanup()
  t.teardown(() => c.run())
  return c
}

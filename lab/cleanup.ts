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

const byTest = new WeakMap<Teardown, Cleanup>()

/**
 * The test's Cleanup, registered with its teardown on first use: create things only after this
 * call. The same test always gets the same stack, so helpers can take `t` and share it.
 */
export function cleanupFor(t: Teardown): Cleanup {
  let c = byTest.get(t)
  if (!c) {
    c = new Cleanup()
    const stack = c
    t.teardown(() => stack.run())
    byTest.set(t, c)
  }
  return c
}

// Waiting in tests: poll a condition with a bound, never sleep a fixed time and hope. The one
// exception, a window in which something must NOT happen, has its own name (`observeFor`).

export interface WaitOptions {
  /** Give up after this long (default 10 s); the error names what was awaited and the last value seen. */
  timeoutMs?: number
  /** Pause between two polls (default 50 ms). */
  intervalMs?: number
}

const pause = (ms: number) => new Promise<void>((r) => setTimeout(r, ms))

/**
 * Polls `predicate` until it returns a truthy value, and resolves with that value. A predicate that
 * throws fails the wait at once (e.g. "the agent exited"). After `timeoutMs` it rejects with
 * `timed out after N ms waiting for <what>; last value: <...>`.
 */
export async function waitFor<T>(
  what: string,
  predicate: () => T | Promise<T>,
  o: WaitOptions = {},
): Promise<Exclude<T, false | null | undefined | 0 | ''>> {
  const timeoutMs = o.timeoutMs ?? 10_000
  const intervalMs = o.intervalMs ?? 50
  const until = Date.now() + timeoutMs
  let last: T | undefined
  for (;;) {
    last = await predicate()
    if (last) return last as Exclude<T, false | null | undefined | 0 | ''>
    if (Date.now() >= until) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}; last value: ${describe(last)}`)
    await pause(intervalMs)
  }
}

function describe(v: unknown): string {
  try {
    const s = typeof v === 'string' ? JSON.stringify(v) : JSON.stringify(v) ?? String(v)
    return s.length > 300 ? `${s.slice(0, 300)}...` : s
  } catch {
    return String(v)
  }
}

/**
 * A bounded observation window for a NEGATIVE assertion: "nothing arrives during `ms`". No
 * condition can end it early (the event we assert against is one that must not come), so this is
 * the one fixed delay the kit allows; `why` says what is being watched for, to keep it honest.
 */
export async function observeFor(ms: number, why: string): Promise<void> {
  void why // documentation at the call site; kept in the signature so every window is named
  await pause(ms)
}

/**
 * Waits until `read()` has returned the same value for `quietMs` (e.g. a counter of received
 * lines once the sender is cut off: what was already in flight has landed), bounded by `timeoutMs`.
 * Resolves with that value.
 */
export async function settled<T>(what: string, read: () => T | Promise<T>, o: WaitOptions & { quietMs?: number } = {}): Promise<T> {
  const quietMs = o.quietMs ?? 300
  let last = await read()
  let since = Date.now()
  await waitFor(`${what} to stay unchanged for ${quietMs} ms`, async () => {
    const now = await read()
    if (now !== last) [last, since] = [now, Date.now()]
    return Date.now() - since >= quietMs
  }, { timeoutMs: o.timeoutMs ?? 10_000, intervalMs: o.intervalMs ?? 25 })
  return last
}

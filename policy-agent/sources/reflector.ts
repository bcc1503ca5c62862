// One kind's list-then-watch loop, as client-go's Reflector runs it:
//   list (paged: limit + continue) -> replace the kind in the store -> watch from the list's
//   resourceVersion (with bookmarks) -> apply events, advancing the resourceVersion
//   -> the server ends the watch (timeoutSeconds, a restart): watch again from where it stopped
//   -> 410 Gone (the resourceVersion was compacted away), on the watch or on a list's continue
//      token: list again from scratch, since events were lost
//   -> 504 "Too large resource version" on the watch (etcd restored behind it): list again too
//   -> any other failure: back off (the server's Retry-After on 429), then carry on.
// Resumed from a restart snapshot (snapshot.ts: the kind is in the store already), it starts at the
// watch from the saved resourceVersion instead; 410 Gone, or any failure before it has caught up
// but a 429 (waited out, then watched again), lists as above.
// Items convert at arrival, page by page (store.ts): no raw object outlives its page or event.
import type { Kind } from './convert.js'
import { ApiError, isGone, isNotFound, isTooLargeResourceVersion, statusError, type KubeApi, type WatchEvent } from './kube-http.js'
import type { ClusterStore } from './store.js'

export interface ReflectorOptions {
  api: KubeApi
  store: ClusterStore
  kind: Kind
  /** the collection, e.g. /api/v1/pods */
  path: string
  /** after the first complete list */
  onListed: () => void
  /**
   * During the first list, once the next page is the last (by the server's remainingItemCount) and
   * `wanted()`: `look`, with what the list has given so far put in the store by `publish`, before
   * that page is asked for, so that its work is done by the time the list is complete (agent.ts
   * compileAhead).
   */
  beforeLastPage?: { wanted: () => boolean; look: (publish: () => boolean) => void }
  /** after every change of the store's objects (not for updates policy does not read) */
  onChange: () => void
  onError: (err: unknown, retryInMs: number) => void
  minBackoffMs: number
  maxBackoffMs: number
  /** items per list page */
  pageSize: number
  /** the server ends each watch after this long (client-go: 5-10 min, random) */
  watchTimeoutSeconds: () => number
  /**
   * A kind served by a CRD that may not be installed (ClusterNetworkPolicy). Its 404 is not an
   * error: the kind counts as listed and empty (so a deleted CRD takes its objects with it), and
   * the list is retried with backoff (minBackoffMs doubling up to absentPollMaxMs) until the CRD
   * appears. `onAbsent(true)` once when it goes missing, `onAbsent(false)` when it is back.
   */
  optional?: { onAbsent: (absent: boolean) => void; absentPollMaxMs: number }
  /**
   * The store holds this kind as of this resourceVersion (a restart snapshot): watch from it, no
   * list. The watch API marks no end of the events missed since, but the server writes them at
   * once when the watch opens (from its watch cache), so the kind counts as listed after `quietMs`
   * with no event once the watch is open, or at the latest `maxMs` after the watch was asked for
   * (events that keep coming, a server slow to answer).
   */
  resume?: { resourceVersion: string; quietMs: number; maxMs: number }
}

export class Reflector {
  #rv = ''
  #backoff: number
  #stopped = false
  #abort = new AbortController()
  #sleep?: { timer: NodeJS.Timeout; wake: () => void }
  #done?: Promise<void>
  #absent = false
  #listed = false
  /** resumed from a snapshot and not caught up yet */
  #resuming = false
  #caughtUp?: { timer: NodeJS.Timeout; deadline: number }

  constructor(private readonly o: ReflectorOptions) {
    this.#backoff = o.minBackoffMs
    if (o.resume) (this.#rv = o.resume.resourceVersion, this.#resuming = true)
  }

  /** Where the watch stands: the store holds the kind as of this version; '' while (re)listing or absent. */
  get resourceVersion(): string {
    return this.#rv
  }

  start(): void {
    this.#done ??= this.#run()
  }

  async stop(): Promise<void> {
    this.#stopped = true
    this.#abort.abort()
    if (this.#sleep) (clearTimeout(this.#sleep.timer), this.#sleep.wake())
    clearTimeout(this.#caughtUp?.timer)
    await this.#done
  }

  #markListed(): void {
    if (!this.#listed) (this.#listed = true, this.o.onListed())
  }

  async #run(): Promise<void> {
    while (!this.#stopped) {
      try {
        if (!this.#rv) {
          if (!(await this.#listOrAbsent())) {
            this.#markListed()
            await this.#wait(this.#nextBackoff(this.o.optional!.absentPollMaxMs))
            continue
          }
          this.#markListed()
          this.#backoff = this.o.minBackoffMs
        }
        const t0 = Date.now()
        const events = await this.#watch()
        // A watch the server closes at once, again and again, must not spin.
        if (events === 0 && Date.now() - t0 < 1000) await this.#wait(this.#nextBackoff())
        else this.#backoff = this.o.minBackoffMs
      } catch (err) {
        if (this.#stopped) break
        if (this.#resuming) {
          clearTimeout(this.#caughtUp?.timer)
          this.#caughtUp = undefined
          // 429: the server sheds load (a rolling update restarts every agent at once). Wait as it
          // asks and watch from the saved version again: a list is the heaviest answer to that.
          if (err instanceof ApiError && err.code === 429) {
            const wait = err.retryAfterMs ?? this.#nextBackoff()
            this.o.onError(err, wait)
            await this.#wait(wait)
            continue
          }
          // The saved version was compacted away (410), or the server refuses it for another
          // reason (a restored etcd answers a version from its future with an error, forever):
          // list, as a start without a snapshot does.
          this.#resuming = false
          this.#rv = ''
          if (!isGone(err) && !(this.o.optional && isNotFound(err))) this.o.onError(err, 0)
          continue
        }
        // A watch's 410 (a list's is retried inside #list, then backs off like any error).
        if (isGone(err) && this.#rv) {
          // Events were lost: only a fresh list can tell what changed (deletions included).
          this.#rv = ''
          continue
        }
        // A version from the server's future (its etcd restored): retried, the watch would fail
        // until the server's history passed it, then skip what came in between. A resumed watch
        // meets this after its caught-up bound (the server answers after up to 3 s). List.
        if (isTooLargeResourceVersion(err) && this.#rv) {
          this.#rv = ''
          this.o.onError(err, 0)
          continue
        }
        // An optional kind's watch answering 404: its CRD was deleted; the list path empties it.
        if (this.o.optional && isNotFound(err)) {
          this.#rv = ''
          continue
        }
        const retryAfter = err instanceof ApiError ? err.retryAfterMs : undefined
        const wait = retryAfter ?? this.#nextBackoff()
        this.o.onError(err, wait)
        await this.#wait(wait)
      }
    }
  }

  #nextBackoff(max = this.o.maxBackoffMs): number {
    const wait = this.#backoff
    this.#backoff = Math.min(this.#backoff * 2, max)
    return wait
  }

  /**
   * Lists; for an optional kind whose resource the server does not know (404: the CRD is not
   * installed), empties the kind instead and returns false. Not an error: logged once by the caller.
   */
  async #listOrAbsent(): Promise<boolean> {
    try {
      await this.#list()
      if (this.#absent) (this.#absent = false, this.o.optional?.onAbsent(false))
      return true
    } catch (err) {
      if (!this.o.optional || !isNotFound(err)) throw err
      const replace = this.o.store.replace(this.o.kind)
      if (replace.done()) this.o.onChange()
      if (!this.#absent) (this.#absent = true, this.o.optional.onAbsent(true))
      return false
    }
  }

  /** Lists every page and replaces the kind; an expired continue token restarts the list once. */
  async #list(): Promise<void> {
    for (let attempt = 0; ; attempt++) {
      const replace = this.o.store.replace(this.o.kind)
      let cont: string | undefined
      let rv = ''
      const fetch = (c: string | undefined) => {
        const p = this.o.api.listPage(this.o.path, { limit: String(this.o.pageSize), ...(c ? { continue: c } : {}) }, this.o.kind)
        p.catch(() => {}) // awaited below; this only keeps a prefetch dropped by stop() from going unhandled
        return p
      }
      try {
        // No resourceVersion: a consistent read (quorum), then pages of the same snapshot.
        let next = fetch(undefined)
        do {
          const page = await next
          if (this.#stopped) return
          const lastNext = !this.#listed && page.continue && page.remainingItemCount !== undefined && page.remainingItemCount <= this.o.pageSize && this.o.beforeLastPage?.wanted()
          // The next page is requested before this one is converted: the server's encoding and the
          // transfer overlap the conversion instead of following it (at 30k pods, 60 pages of 2 MB).
          // But for the last, when a look before it is wanted: that goes first.
          if (page.continue && !lastNext) next = fetch((cont = page.continue))
          else cont = page.continue
          for (const item of page.items) replace.add(item)
          rv ||= page.resourceVersion
          if (lastNext) {
            this.o.beforeLastPage!.look(() => replace.publish())
            if (this.#stopped) return
            next = fetch(cont)
          }
        } while (cont)
      } catch (err) {
        // API: "410 ResourceExpired" when a continue token outlived compaction; start over.
        if (isGone(err) && cont && attempt === 0) continue
        throw err
      }
      this.#rv = rv
      if (replace.done()) this.o.onChange()
      return
    }
  }

  /** Watches from the current resourceVersion until the server ends the stream; returns the event count. */
  async #watch(): Promise<number> {
    const timeout = this.o.watchTimeoutSeconds()
    let n = 0
    let onOpen: (() => void) | undefined
    if (this.#resuming) {
      // Bounded from the request on: a server that holds back the headers cannot hold back the start.
      const deadline = Date.now() + this.o.resume!.maxMs
      this.#caughtUp = { timer: setTimeout(() => this.#resumed(), this.o.resume!.maxMs), deadline }
      onOpen = () => this.#quietFor(deadline)
    }
    await this.o.api.watch(this.o.path, { resourceVersion: this.#rv, allowWatchBookmarks: 'true', timeoutSeconds: String(timeout) }, (e: WatchEvent) => {
      n++
      if (this.#caughtUp) this.#quietFor(this.#caughtUp.deadline)
      if (e.type === 'ERROR') throw statusError(e.object)
      const rv = (e.object as { metadata?: { resourceVersion?: unknown } } | null)?.metadata?.resourceVersion
      let changed = false
      if (e.type === 'ADDED' || e.type === 'MODIFIED') changed = this.o.store.upsert(this.o.kind, e.object)
      else if (e.type === 'DELETED') changed = this.o.store.remove(this.o.kind, e.object)
      else if (e.type !== 'BOOKMARK') throw new Error(`watch ${this.o.path}: unknown event type ${JSON.stringify(e.type)}`)
      // BOOKMARK: "the object has only its resourceVersion set": where to resume, nothing else.
      if (typeof rv === 'string' && rv) this.#rv = rv
      if (changed) this.o.onChange()
    }, { signal: this.#abort.signal, idleMs: (timeout + 60) * 1000, ...(onOpen ? { onOpen } : {}) })
    // A resumed watch the server ended has sent every event it had: caught up.
    if (this.#resuming) this.#resumed()
    return n
  }

  /** (Re)arms the resumed watch's quiet timer, never past `deadline`. */
  #quietFor(deadline: number): void {
    clearTimeout(this.#caughtUp?.timer)
    const ms = Math.max(0, Math.min(this.o.resume!.quietMs, deadline - Date.now()))
    this.#caughtUp = { timer: setTimeout(() => this.#resumed(), ms), deadline }
  }

  #resumed(): void {
    clearTimeout(this.#caughtUp?.timer)
    this.#caughtUp = undefined
    if (!this.#resuming) return
    this.#resuming = false
    this.#markListed()
  }

  #wait(ms: number): Promise<void> {
    if (this.#stopped) return Promise.resolve()
    return new Promise((wake) => {
      const timer = setTimeout(() => ((this.#sleep = undefined), wake()), ms)
      this.#sleep = { timer, wake }
    })
  }
}

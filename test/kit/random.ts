// A deterministic PRNG for randomized tests: a failing seed replays exactly.

/** mulberry32: returns `next(n)`, an integer in [0, n); its low bits are as random as its high ones. */
export function rng(seed: number): (n: number) => number {
  let s = seed >>> 0
  return (n) => {
    s = (s + 0x6d2b79f5) >>> 0
    let t = Math.imul(s ^ (s >>> 15), 1 | s)
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t
    return Math.floor((((t ^ (t >>> 14)) >>> 0) / 4294967296) * n)
  }
}

// A temp dir for one vitest test, removed with its contents when that test finishes, passed or
// failed. The removal is registered before the dir exists (the kit's rule), and onTestFinished runs
// after the test's afterEach hooks, newest first. ava tests use `tempDir(cleanupFor(t), prefix)`
// from netns.ts, which this wraps; call it inside a test, not at file level or in beforeAll.
import { onTestFinished } from 'vitest'
import { Cleanup } from './cleanup.js'
import { tempDir } from './netns.js'

/** `<tmpdir>/<prefix><6 random characters>`, gone once the current test has finished. */
export function testTempDir(prefix: string): string {
  const cleanup = new Cleanup()
  onTestFinished(() => cleanup.run())
  return tempDir(cleanup, prefix)
}

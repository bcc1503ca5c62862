import { defineConfig } from 'vitest/config'

// Unit tests live beside the pure code they test (`*.test.ts`); integration tests are ava's.
export default defineConfig({
  test: {
    include: ['lib/**/*.test.ts', 'ipam/**/*.test.ts', 'plugins/**/*.test.ts', 'policy-agent/**/*.test.ts', 'cli/**/*.test.ts', 'daemonset/**/*.test.ts', 'demo/**/*.test.ts', 'test/unit/**/*.test.ts'],
  },
})

// Shared with `cinch demo`, which ships: the code lives in lab/ (see lab/README.md).
export * from '../../lab/probe.js'

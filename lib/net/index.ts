// lib/net: netlink helpers (the only importer of `netlink`), withNetns, sysctls.
export { withNetns, withNetnsFd, openNetns } from './netns.js'
export { openRtnl, closeRtnl, errnoOf, isErrno, type Rtnl } from './rtnl.js'
export * from './link.js'
export * from './addr.js'
export * from './route.js'
export * from './neigh.js'
export { readSysctl, ensureSysctl } from './sysctl.js'
export * from './ip.js'

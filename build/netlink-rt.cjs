// What lib/net takes from the `netlink` package, loaded by its own paths. The package index also
// loads its generic-netlink, nl80211 and WireGuard modules, which cost every plugin start ~5 ms
// (10.6 vs 15.9 ms measured) and which cinch never uses. The bundler resolves `netlink` here
// (build/build.mjs); tests and types use the package itself.
module.exports = {
  createRtNetlink: require('netlink/dist/rt/rt').createRtNetlink,
  rt: require('netlink/dist/rt/structs'),
}

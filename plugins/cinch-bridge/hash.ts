// SHA-256 as hex, for the names cinch-bridge derives (the host veth, masquerade tags). From
// @noble/hashes rather than node:crypto: loading node:crypto (with the stream modules it pulls in)
// cost every ADD and DEL 3-5 ms of a ~70 ms cold start (issue 13); the digest is the same.
import { sha256 } from '@noble/hashes/sha2.js'
import { bytesToHex, utf8ToBytes } from '@noble/hashes/utils.js'

export const sha256Hex = (s: string): string => bytesToHex(sha256(utf8ToBytes(s)))

// Shared with `cinch demo`, which ships: the code lives in lab/ (see lab/README.md).
export * from '../../lab/probe.js'

/**
 * A python3 program that sends 1-byte UDP datagrams to `ip`:`port` for `seconds`, paced to at most
 * `perSecond`, and prints `<sent> <seconds>`: a flood of new connections (each datagram to a denied
 * destination is one, its conntrack entry never confirmed).
 */
export function udpFloodScript(ip: string, port: number, seconds: number, perSecond = 100_000): string {
  return `
import socket, time
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
t0 = time.monotonic(); n = 0
while True:
    now = time.monotonic() - t0
    if now >= ${seconds}: break
    while n < now * ${perSecond}:
        try: s.sendto(b'x', ('${ip}', ${port}))
        except OSError: pass
        n += 1
print(n, time.monotonic() - t0)
`
}

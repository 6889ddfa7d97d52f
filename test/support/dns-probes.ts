import type { Sandbox } from '../../src/index.js';

// What the DNS stub tests of every driver run in a box (test/egress-dns*.test.ts).

/** Sends one A query for argv[1] to argv[2]:53 over argv[3] (udp or tcp); prints the rcode and first answer. */
export const QUERY_PY = String.raw`
import socket, struct, sys
name, server, proto = sys.argv[1], sys.argv[2], sys.argv[3]
q = struct.pack(">HHHHHH", 0x1234, 0x0100, 1, 0, 0, 0)
q += b"".join(bytes([len(p)]) + p.encode() for p in name.split(".")) + b"\0" + struct.pack(">HH", 1, 1)
if proto == "udp":
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.settimeout(5)
    s.connect((server, 53))
    s.send(q)
    r = s.recv(512)
else:
    s = socket.create_connection((server, 53), timeout=5)
    s.sendall(struct.pack(">H", len(q)) + q)
    size = struct.unpack(">H", s.recv(2))[0]
    r = s.recv(size)
print("rcode", r[3] & 15, "answers", struct.unpack(">H", r[6:8])[0], ".".join(str(b) for b in r[-4:]))
`;

/** Runs argv in the box; its status and its output, trimmed. */
export async function execTrimmed(
  sandbox: Sandbox,
  argv: string[],
  timeoutMs: number,
): Promise<{ code: number | null; out: string; err: string }> {
  const result = await sandbox.exec(argv, { timeoutMs });
  return {
    code: result.exitCode,
    out: result.stdout.toString().trim(),
    err: result.stderr.toString().trim(),
  };
}

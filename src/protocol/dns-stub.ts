/**
 * The in-box DNS stub's answer to one query packet (RFC 1035 §4), built without asking anyone:
 * the box has no resolver and must not get one (a forwarded query is a channel out). Every A
 * query gets DNS_SENTINEL_IPV4, so a tool that resolves a name before it uses the proxy does
 * not fail in getaddrinfo; the proxy is always given the name (HTTP_PROXY, ALL_PROXY with
 * socks5h), resolves it itself after the decider allowed it, and refuses the sentinel.
 *
 * The sentinel is 192.0.2.1, from TEST-NET-1 (RFC 5737): reserved for documentation and never
 * routed, so a tool that connects to it directly reaches no one even on a host with a route,
 * and it is valid unicast to every stack (240.0.0.0/4 is refused as a destination by some,
 * which would turn the tool's error into an unrelated one). An address in logs that reads
 * 192.0.2.1 says "this came from the stub". AAAA and every other type get NODATA (success, no
 * answers): a dual-stack client then uses the IPv4 answer instead of trying a dead IPv6 one
 * first, and nothing says the name does not exist. `localhost` is the box's own 127.0.0.1
 * (RFC 6761).
 */
export const DNS_SENTINEL_IPV4 = '192.0.2.1';

/** The TTL of a sentinel answer: long enough to spare queries, short if the stub changes. */
const ANSWER_TTL = 300;
const HEADER = 12;
const TYPE_A = 1;
const CLASS_IN = 1;
const RCODE = { noError: 0, formErr: 1, notImp: 4, refused: 5 } as const;

export interface StubReplyOptions {
  /** The IPv4 address every A query is answered with; DNS_SENTINEL_IPV4 unless a test says. */
  sentinel?: string;
}

/**
 * The reply to `query`, or undefined when the packet should be dropped: shorter than a header
 * (it has no id to answer), or itself a response (answering one could start a loop). Any other
 * malformed packet gets FORMERR, an opcode other than QUERY NOTIMP, a class other than IN
 * REFUSED.
 */
export function buildStubReply(
  query: Uint8Array,
  options: StubReplyOptions = {},
): Uint8Array | undefined {
  if (query.length < HEADER) return undefined;
  const view = new DataView(query.buffer, query.byteOffset, query.byteLength);
  const flags = view.getUint16(2);
  if (flags & 0x8000) return undefined;
  const opcode = (flags >> 11) & 0xf;
  if (opcode !== 0) return headerOnly(query, RCODE.notImp);
  // One question, no answers or authority: a query (additional records, EDNS, are ignored).
  if (view.getUint16(4) !== 1 || view.getUint16(6) !== 0 || view.getUint16(8) !== 0)
    return headerOnly(query, RCODE.formErr);
  const question = readQuestion(query);
  if (!question) return headerOnly(query, RCODE.formErr);
  const { end, type, klass, name } = question;
  const section = query.subarray(HEADER, end);
  if (klass !== CLASS_IN) return withQuestion(query, RCODE.refused, section, undefined);
  if (type !== TYPE_A) return withQuestion(query, RCODE.noError, section, undefined);
  const local = name === 'localhost' || name.endsWith('.localhost');
  const address = local ? '127.0.0.1' : (options.sentinel ?? DNS_SENTINEL_IPV4);
  return withQuestion(query, RCODE.noError, section, address);
}

/** The one question of a query, its end offset, and its name in lower case. */
function readQuestion(
  query: Uint8Array,
): { end: number; type: number; klass: number; name: string } | undefined {
  const labels: string[] = [];
  let at = HEADER;
  let length = 0;
  for (;;) {
    const size = query[at];
    if (size === undefined) return undefined;
    at += 1;
    if (size === 0) break;
    // Compression pointers (0xC0) and the reserved label types have no place in a question.
    if (size > 63) return undefined;
    length += size + 1;
    if (length > 255 || at + size > query.length) return undefined;
    labels.push(String.fromCharCode(...query.subarray(at, at + size)).toLowerCase());
    at += size;
  }
  if (at + 4 > query.length) return undefined;
  const type = (query[at]! << 8) | query[at + 1]!;
  const klass = (query[at + 2]! << 8) | query[at + 3]!;
  return { end: at + 4, type, klass, name: labels.join('.') };
}

function headerOnly(query: Uint8Array, rcode: number): Uint8Array {
  const reply = new Uint8Array(HEADER);
  writeHeader(reply, query, rcode, 0, 0);
  return reply;
}

/** Header fields of a reply: the query's id and RD bit, QR and RA set, the given counts. */
function writeHeader(
  reply: Uint8Array,
  query: Uint8Array,
  rcode: number,
  questions: number,
  answers: number,
): void {
  const view = new DataView(reply.buffer, reply.byteOffset, reply.byteLength);
  view.setUint16(0, (query[0]! << 8) | query[1]!);
  const opcode = (query[2]! >> 3) & 0xf;
  const rd = query[2]! & 0x1;
  view.setUint16(2, 0x8000 | (opcode << 11) | 0x0400 | (rd << 8) | 0x0080 | rcode);
  view.setUint16(4, questions);
  view.setUint16(6, answers);
}

function withQuestion(
  query: Uint8Array,
  rcode: number,
  section: Uint8Array,
  address: string | undefined,
): Uint8Array {
  const answer = address === undefined ? new Uint8Array(0) : aRecord(address);
  const reply = new Uint8Array(HEADER + section.length + answer.length);
  writeHeader(reply, query, rcode, 1, address === undefined ? 0 : 1);
  reply.set(section, HEADER);
  reply.set(answer, HEADER + section.length);
  return reply;
}

/** An A record whose name points at the question's (offset 12), as every reply does. */
function aRecord(address: string): Uint8Array {
  const record = new Uint8Array(16);
  const view = new DataView(record.buffer);
  view.setUint16(0, 0xc000 | HEADER);
  view.setUint16(2, TYPE_A);
  view.setUint16(4, CLASS_IN);
  view.setUint32(6, ANSWER_TTL);
  view.setUint16(10, 4);
  record.set(address.split('.').map(Number), 12);
  return record;
}

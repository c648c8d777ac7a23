/**
 * IP addresses for the network guards: parsing every spelling a resolver
 * accepts (dotted, decimal, hex and octal IPv4 as `inet_aton` reads them;
 * IPv6 with embedded IPv4 and zone ids), classifying an address as public or
 * as one of the ranges an agent must not reach, and CIDR allowlists.
 */

/** An address as bytes: 4 for IPv4, 16 for IPv6. */
export type Bytes = ReadonlyArray<number>

/** Why an address is not public. */
export type Category =
  | "unspecified"
  | "loopback"
  | "private"
  | "link-local"
  | "metadata"
  | "multicast"
  | "reserved"

const ipv4Part = (part: string): number | undefined => {
  if (/^0x[0-9a-f]+$/i.test(part)) return parseInt(part.slice(2), 16)
  if (/^0[0-7]*$/.test(part)) return parseInt(part, 8)
  if (/^[1-9][0-9]*$/.test(part)) return parseInt(part, 10)
  return undefined
}

/**
 * IPv4 as `inet_aton` (and so `getaddrinfo`, `ping`, `curl`) reads it: one to
 * four parts, each decimal, octal (leading 0) or hex (0x); the last part
 * fills the remaining bytes. `2130706433`, `0x7f000001`, `0177.1` and
 * `127.1` are all 127.0.0.1.
 */
export const parseIPv4 = (text: string): Bytes | undefined => {
  if (text.length === 0 || text.length > 64) return undefined
  const parts = text.split(".")
  // A trailing dot is accepted by inet_aton ("127.0.0.1."), not an empty part elsewhere.
  if (parts.length > 1 && parts[parts.length - 1] === "") parts.pop()
  if (parts.length < 1 || parts.length > 4) return undefined
  const values: Array<number> = []
  for (const part of parts) {
    const value = ipv4Part(part)
    if (value === undefined || !Number.isFinite(value)) return undefined
    values.push(value)
  }
  const last = values[values.length - 1]!
  const leading = values.slice(0, -1)
  if (leading.some((value) => value > 255)) return undefined
  const lastBytes = 4 - leading.length
  if (last >= 2 ** (8 * lastBytes)) return undefined
  const bytes = [...leading]
  for (let i = lastBytes - 1; i >= 0; i--) bytes.push(Math.floor(last / 2 ** (8 * i)) % 256)
  return bytes
}

/** Strict dotted-quad decimal, as it appears at the end of an IPv6 address. */
const parseDottedQuad = (text: string): Bytes | undefined => {
  const parts = text.split(".")
  if (parts.length !== 4) return undefined
  const bytes: Array<number> = []
  for (const part of parts) {
    if (!/^(0|[1-9][0-9]{0,2})$/.test(part)) return undefined
    const value = Number(part)
    if (value > 255) return undefined
    bytes.push(value)
  }
  return bytes
}

/** IPv6, with or without brackets and a zone id, possibly ending in a dotted IPv4. */
export const parseIPv6 = (input: string): Bytes | undefined => {
  let text = input
  if (text.startsWith("[") && text.endsWith("]")) text = text.slice(1, -1)
  const zone = text.indexOf("%")
  if (zone !== -1) text = text.slice(0, zone)
  if (text.length < 2 || text.length > 45 || !text.includes(":")) return undefined
  const halves = text.split("::")
  if (halves.length > 2) return undefined
  const groupsOf = (half: string): Array<number> | undefined => {
    if (half === "") return []
    const out: Array<number> = []
    const pieces = half.split(":")
    for (let i = 0; i < pieces.length; i++) {
      const piece = pieces[i]!
      if (i === pieces.length - 1 && piece.includes(".")) {
        const v4 = parseDottedQuad(piece)
        if (v4 === undefined) return undefined
        out.push(v4[0]! * 256 + v4[1]!, v4[2]! * 256 + v4[3]!)
      } else {
        if (!/^[0-9a-f]{1,4}$/i.test(piece)) return undefined
        out.push(parseInt(piece, 16))
      }
    }
    return out
  }
  const head = groupsOf(halves[0]!)
  const tail = halves.length === 2 ? groupsOf(halves[1]!) : []
  if (head === undefined || tail === undefined) return undefined
  // An embedded IPv4 may only end the address.
  if (halves.length === 2 && halves[0]!.includes(".")) return undefined
  let groups: Array<number>
  if (halves.length === 2) {
    const missing = 8 - head.length - tail.length
    if (missing < 1) return undefined
    groups = [...head, ...new Array<number>(missing).fill(0), ...tail]
  } else {
    if (head.length !== 8) return undefined
    groups = head
  }
  const bytes: Array<number> = []
  for (const group of groups) bytes.push(group >> 8, group & 0xff)
  return bytes
}

/** Any spelling of an address; `undefined` for a host name. */
export const parse = (text: string): Bytes | undefined => parseIPv6(text) ?? parseIPv4(text)

/** Whether `text` is (some spelling of) an IP address rather than a host name. */
export const isAddress = (text: string): boolean => parse(text) !== undefined

/** The canonical text of an address (dotted quad, or RFC 5952-ish IPv6). */
export const format = (bytes: Bytes): string => {
  if (bytes.length === 4) return bytes.join(".")
  const groups: Array<number> = []
  for (let i = 0; i < 16; i += 2) groups.push(bytes[i]! * 256 + bytes[i + 1]!)
  // The longest run of zero groups (at least two) becomes "::".
  let bestStart = -1
  let bestLength = 0
  for (let i = 0; i < 8;) {
    if (groups[i] !== 0) {
      i++
      continue
    }
    let j = i
    while (j < 8 && groups[j] === 0) j++
    if (j - i > bestLength && j - i >= 2) {
      bestStart = i
      bestLength = j - i
    }
    i = j
  }
  const hex = groups.map((group) => group.toString(16))
  if (bestStart === -1) return hex.join(":")
  return `${hex.slice(0, bestStart).join(":")}::${hex.slice(bestStart + bestLength).join(":")}`
}

const inPrefix = (bytes: Bytes, prefix: Bytes, bits: number): boolean => {
  for (let i = 0; i < bits; i++) {
    const byte = i >> 3
    const mask = 0x80 >> (i & 7)
    if ((bytes[byte]! & mask) !== (prefix[byte]! & mask)) return false
  }
  return true
}

interface Range {
  readonly prefix: Bytes
  readonly bits: number
  readonly category: Category
}

const range = (cidr: string, category: Category): Range => {
  const [address, bits] = cidr.split("/")
  return { prefix: parse(address!)!, bits: Number(bits), category }
}

// Most specific first: the metadata address sits inside link-local.
const ipv4Ranges: ReadonlyArray<Range> = [
  range("169.254.169.254/32", "metadata"), // AWS, GCP, Azure, OpenStack instance metadata
  range("100.100.100.200/32", "metadata"), // Alibaba Cloud metadata
  range("0.0.0.0/8", "unspecified"), // "this network": 0.0.0.0 reaches the local host on Linux
  range("10.0.0.0/8", "private"),
  range("100.64.0.0/10", "private"), // carrier-grade NAT (shared address space)
  range("127.0.0.0/8", "loopback"),
  range("169.254.0.0/16", "link-local"),
  range("172.16.0.0/12", "private"),
  range("192.0.0.0/24", "reserved"), // IETF protocol assignments
  range("192.0.2.0/24", "reserved"), // documentation
  range("192.88.99.0/24", "reserved"), // 6to4 relay anycast
  range("192.168.0.0/16", "private"),
  range("198.18.0.0/15", "reserved"), // benchmarking
  range("198.51.100.0/24", "reserved"), // documentation
  range("203.0.113.0/24", "reserved"), // documentation
  range("224.0.0.0/4", "multicast"),
  range("240.0.0.0/4", "reserved") // includes 255.255.255.255
]

const ipv6Ranges: ReadonlyArray<Range> = [
  range("::/128", "unspecified"),
  range("::1/128", "loopback"),
  range("fd00:ec2::254/128", "metadata"), // AWS instance metadata over IPv6
  range("64:ff9b:1::/48", "private"), // local-use NAT64
  range("100::/64", "reserved"), // discard
  range("2001::/32", "reserved"), // Teredo: tunnels to an address we cannot check
  range("2001:db8::/32", "reserved"), // documentation
  range("fc00::/7", "private"), // unique local
  range("fe80::/10", "link-local"),
  range("fec0::/10", "private"), // site-local (deprecated)
  range("ff00::/8", "multicast")
]

/** The IPv4 address an IPv6 address carries and routes to, if any (mapped, compatible, NAT64, 6to4). */
export const embeddedIPv4 = (bytes: Bytes): Bytes | undefined => {
  if (bytes.length !== 16) return undefined
  const zeros = (from: number, to: number) => bytes.slice(from, to).every((byte) => byte === 0)
  // ::ffff:a.b.c.d (mapped) and ::ffff:0:a.b.c.d (translated)
  if (zeros(0, 10) && bytes[10] === 0xff && bytes[11] === 0xff) return bytes.slice(12)
  if (zeros(0, 8) && bytes[8] === 0xff && bytes[9] === 0xff && zeros(10, 12)) return bytes.slice(12)
  // ::a.b.c.d (compatible, deprecated); :: and ::1 are themselves
  if (zeros(0, 12) && !(zeros(12, 15) && (bytes[15] === 0 || bytes[15] === 1))) return bytes.slice(12)
  // 64:ff9b::a.b.c.d (NAT64 well-known prefix)
  if (bytes[0] === 0 && bytes[1] === 0x64 && bytes[2] === 0xff && bytes[3] === 0x9b && zeros(4, 12)) {
    return bytes.slice(12)
  }
  // 2002:AABB:CCDD::/48 (6to4)
  if (bytes[0] === 0x20 && bytes[1] === 0x02) return bytes.slice(2, 6)
  return undefined
}

/**
 * Why an address must not be reached, or `undefined` for a public address.
 * IPv6 addresses that carry an IPv4 address are judged by it.
 */
export const classify = (bytes: Bytes): Category | undefined => {
  if (bytes.length === 4) {
    for (const r of ipv4Ranges) if (inPrefix(bytes, r.prefix, r.bits)) return r.category
    return undefined
  }
  const v4 = embeddedIPv4(bytes)
  if (v4 !== undefined) return classify(v4)
  for (const r of ipv6Ranges) if (inPrefix(bytes, r.prefix, r.bits)) return r.category
  return undefined
}

/** A CIDR block (or one address) of an allowlist. */
export interface Cidr {
  readonly prefix: Bytes
  readonly bits: number
}

/** Parses `10.0.0.0/8`, `::1/128` or a bare address; `undefined` when invalid. */
export const parseCidr = (text: string): Cidr | undefined => {
  const slash = text.lastIndexOf("/")
  const address = slash === -1 ? text : text.slice(0, slash)
  const prefix = parseIPv6(address) ?? parseDottedQuad(address)
  if (prefix === undefined) return undefined
  const max = prefix.length * 8
  if (slash === -1) return { prefix, bits: max }
  const bitsText = text.slice(slash + 1)
  if (!/^[0-9]{1,3}$/.test(bitsText)) return undefined
  const bits = Number(bitsText)
  return bits > max ? undefined : { prefix, bits }
}

/** Whether `bytes` lies in one of `cidrs` (an IPv4-mapped IPv6 address also matches IPv4 blocks). */
export const inAny = (bytes: Bytes, cidrs: ReadonlyArray<Cidr>): boolean => {
  const v4 = bytes.length === 16 ? embeddedIPv4(bytes) : undefined
  for (const cidr of cidrs) {
    if (cidr.prefix.length === bytes.length && inPrefix(bytes, cidr.prefix, cidr.bits)) return true
    if (v4 !== undefined && cidr.prefix.length === 4 && inPrefix(v4, cidr.prefix, cidr.bits)) return true
  }
  return false
}

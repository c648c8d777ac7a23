/**
 * The HTTP tool's allowlist: entries that name a scheme, a host and a port,
 * and the check of a URL against them.
 *
 * An entry is `[scheme://]host[:port]`:
 *
 * - `host` is a name (`api.example.com`), `*.example.com` (subdomains only),
 *   `*` (any host), an IPv4 address or a bracketed IPv6 address (`[::1]`);
 *   names compare case-insensitively and without a trailing dot, addresses in
 *   any spelling of the same address;
 * - `port` is a number or `*` (any port); without it, only the default port
 *   of the scheme (80 for http, 443 for https);
 * - `scheme` is `http` or `https`; without it, both.
 *
 * So `api.example.com` allows `http://api.example.com:80` and
 * `https://api.example.com:443`, and nothing on port 8443.
 */
import * as Ip from "./ip.js"

/** One parsed allowlist entry. */
export interface Entry {
  /** The entry as written. */
  readonly text: string
  readonly scheme: "http:" | "https:" | undefined
  /** `*`, `*.suffix`, a lowercase name without trailing dot, or an address's canonical form. */
  readonly host: string
  /** Whether `host` is an address (compared by value). */
  readonly address: boolean
  /** A port, `*` for any, or `undefined` for the scheme's default port. */
  readonly port: number | "*" | undefined
  /** The host as a capability names it (`net:<host>`). */
  readonly capability: string
}

/** The default port of a scheme. */
export const defaultPort = (scheme: string): number => (scheme === "https:" ? 443 : 80)

/** A host name or address as the allowlist compares it: lowercase, no brackets, no trailing dot. */
export const normalizeHost = (host: string): string => host.replace(/^\[|\]$/g, "").replace(/\.$/, "").toLowerCase()

/**
 * Parses an entry, or returns why it is not one.
 */
export const parseEntry = (text: string): Entry | string => {
  let rest = text.trim()
  let scheme: Entry["scheme"]
  const schemeMatch = /^([A-Za-z][A-Za-z0-9+.-]*):\/\//.exec(rest)
  if (schemeMatch !== null) {
    const name = schemeMatch[1]!.toLowerCase()
    if (name !== "http" && name !== "https") return `scheme ${name}: only http and https`
    scheme = `${name}:`
    rest = rest.slice(schemeMatch[0].length)
  }
  if (rest.endsWith("/")) rest = rest.slice(0, -1)
  if (/[/?#@\\\s]/.test(rest)) return "an entry names a host and a port, not a path, query or credentials"
  let hostText: string
  let portText: string | undefined
  let bracketed = false
  if (rest.startsWith("[")) {
    const close = rest.indexOf("]")
    if (close < 0) return "unclosed ["
    bracketed = true
    hostText = rest.slice(1, close)
    const after = rest.slice(close + 1)
    if (after !== "") {
      if (!after.startsWith(":")) return `unexpected ${after}`
      portText = after.slice(1)
    }
  } else if ((rest.match(/:/g) ?? []).length > 1) {
    // An unbracketed IPv6 address: no port can follow it.
    hostText = rest
  } else {
    const colon = rest.indexOf(":")
    hostText = colon < 0 ? rest : rest.slice(0, colon)
    portText = colon < 0 ? undefined : rest.slice(colon + 1)
  }
  let port: Entry["port"]
  if (portText !== undefined) {
    if (portText === "*") port = "*"
    else if (/^\d{1,5}$/.test(portText) && Number(portText) >= 1 && Number(portText) <= 65535) port = Number(portText)
    else return `port ${JSON.stringify(portText)}: a number from 1 to 65535, or *`
  }
  const host = normalizeHost(hostText)
  if (host === "") return "no host"
  if (host !== "*" && !host.startsWith("*.") && host.includes("*")) return "* stands for a whole host or a leading label (*.example.com)"
  const bytes = Ip.parse(host)
  if (bytes === undefined && (bracketed || host.includes(":"))) return `${hostText} is not an IPv6 address`
  if (bytes === undefined && !/^(\*|(\*\.)?[a-z0-9_-]+(\.[a-z0-9_-]+)*)$/.test(host)) {
    return `${hostText} is not a host name (write international names in their xn-- form)`
  }
  return {
    text,
    scheme,
    host: bytes === undefined ? host : Ip.format(bytes),
    address: bytes !== undefined,
    port,
    capability: hostText.includes(":") ? `[${host}]` : host
  }
}

/** Whether the entry's host matches `host` (normalized, see {@link normalizeHost}). */
const hostMatches = (entry: Entry, host: string, address: string | undefined): boolean => {
  if (entry.host === "*") return true
  if (entry.host.startsWith("*.")) return host.length > entry.host.length - 1 && host.endsWith(entry.host.slice(1))
  return entry.address ? address === entry.host : entry.host === host
}

/** Whether the entry's scheme and port allow this scheme and port. */
const originMatches = (entry: Entry, scheme: string, port: number): boolean => {
  if (entry.scheme !== undefined && entry.scheme !== scheme) return false
  if (entry.port === "*") return true
  return port === (entry.port ?? defaultPort(scheme))
}

/** The verdict on a URL: allowed, or no entry names its host, or entries name its host but not its scheme and port. */
export type Verdict = "allowed" | "host" | "port"

/**
 * Checks the scheme, host and port of `url` against the entries.
 */
export const check = (entries: ReadonlyArray<Entry>, url: URL): Verdict => {
  const host = normalizeHost(url.hostname)
  const bytes = Ip.parse(host)
  const address = bytes === undefined ? undefined : Ip.format(bytes)
  const port = url.port === "" ? defaultPort(url.protocol) : Number(url.port)
  let hostListed = false
  for (const entry of entries) {
    if (!hostMatches(entry, host, address)) continue
    if (originMatches(entry, url.protocol, port)) return "allowed"
    hostListed = true
  }
  return hostListed ? "port" : "host"
}

import { assert, describe, it } from "@effect/vitest"
import * as Ip from "../../src/internal/ip.js"

const category = (text: string) => {
  const bytes = Ip.parse(text)
  if (bytes === undefined) throw new Error(`not an address: ${text}`)
  return Ip.classify(bytes)
}

describe("ip: every spelling of an address", () => {
  it("IPv4 as inet_aton reads it: decimal, hex, octal, short forms", () => {
    for (const spelling of ["127.0.0.1", "2130706433", "0x7f000001", "0x7F.0.0.1", "0177.0.0.1", "0177.1", "127.1", "127.0.1", "127.0.0.1."]) {
      assert.deepStrictEqual(Ip.parse(spelling), [127, 0, 0, 1], spelling)
    }
    assert.deepStrictEqual(Ip.parse("169.254.43518"), [169, 254, 169, 254])
    assert.deepStrictEqual(Ip.parse("0xa9fea9fe"), [169, 254, 169, 254])
  })

  it("not addresses: host names and out-of-range parts", () => {
    for (const name of ["example.com", "localhost", "256.1.1.1", "1.2.3.4.5", "0x", "09.1.1.1", "1..2", "", "127.0.0.1.."]) {
      assert.isUndefined(Ip.parse(name), name)
    }
  })

  it("IPv6: compressed, bracketed, zone ids, embedded IPv4", () => {
    assert.deepStrictEqual(Ip.parse("::1"), [...new Array(15).fill(0), 1])
    assert.deepStrictEqual(Ip.parse("[::1]"), Ip.parse("0:0:0:0:0:0:0:1"))
    assert.deepStrictEqual(Ip.parse("fe80::1%eth0"), Ip.parse("fe80::1"))
    assert.deepStrictEqual(Ip.parse("::ffff:127.0.0.1"), Ip.parse("::ffff:7f00:1"))
    for (const bad of [":::1", "1::2::3", "12345::", "::ffff:127.0.0.256", "1:2:3:4:5:6:7:8:9", "::1.2.3.4:5"]) {
      assert.isUndefined(Ip.parseIPv6(bad), bad)
    }
  })

  it("format gives the canonical text", () => {
    assert.strictEqual(Ip.format(Ip.parse("0x7f000001")!), "127.0.0.1")
    assert.strictEqual(Ip.format(Ip.parse("0:0:0:0:0:0:0:1")!), "::1")
    assert.strictEqual(Ip.format(Ip.parse("2001:db8:0:0:1:0:0:1")!), "2001:db8::1:0:0:1")
  })
})

describe("ip: classification", () => {
  it("loopback, private, link-local, metadata, unspecified in all spellings", () => {
    const cases: Array<[string, Ip.Category]> = [
      ["127.0.0.1", "loopback"],
      ["2130706433", "loopback"],
      ["0x7f000001", "loopback"],
      ["127.255.0.9", "loopback"],
      ["::1", "loopback"],
      ["::ffff:127.0.0.1", "loopback"],
      ["::ffff:7f00:1", "loopback"],
      ["::127.0.0.1", "loopback"],
      ["64:ff9b::7f00:1", "loopback"],
      ["2002:7f00:1::", "loopback"],
      ["10.1.2.3", "private"],
      ["172.16.0.1", "private"],
      ["172.31.255.255", "private"],
      ["192.168.1.1", "private"],
      ["100.64.0.1", "private"],
      ["fc00::1", "private"],
      ["fd12:3456::1", "private"],
      ["::ffff:10.0.0.1", "private"],
      ["169.254.1.1", "link-local"],
      ["fe80::1", "link-local"],
      ["169.254.169.254", "metadata"],
      ["::ffff:169.254.169.254", "metadata"],
      ["fd00:ec2::254", "metadata"],
      ["100.100.100.200", "metadata"],
      ["0.0.0.0", "unspecified"],
      ["0", "unspecified"],
      ["::", "unspecified"],
      ["224.0.0.1", "multicast"],
      ["ff02::1", "multicast"],
      ["255.255.255.255", "reserved"],
      ["192.0.2.1", "reserved"],
      ["2001:db8::1", "reserved"]
    ]
    for (const [text, expected] of cases) assert.strictEqual(category(text), expected, text)
  })

  it("public addresses pass", () => {
    for (const text of ["93.184.216.34", "8.8.8.8", "172.32.0.1", "172.15.255.255", "2606:4700:4700::1111", "::ffff:8.8.8.8", "1.1.1.1"]) {
      assert.isUndefined(category(text), text)
    }
  })
})

describe("ip: allowlists", () => {
  it("CIDR blocks and single addresses; IPv4-mapped IPv6 matches IPv4 blocks", () => {
    const cidrs = ["10.0.0.0/8", "127.0.0.1", "fd00::/8"].map((text) => Ip.parseCidr(text)!)
    assert.isTrue(Ip.inAny(Ip.parse("10.9.8.7")!, cidrs))
    assert.isTrue(Ip.inAny(Ip.parse("127.0.0.1")!, cidrs))
    assert.isFalse(Ip.inAny(Ip.parse("127.0.0.2")!, cidrs))
    assert.isTrue(Ip.inAny(Ip.parse("::ffff:10.1.1.1")!, cidrs))
    assert.isTrue(Ip.inAny(Ip.parse("fd12::1")!, cidrs))
    assert.isFalse(Ip.inAny(Ip.parse("fc00::1")!, cidrs))
  })

  it("rejects malformed blocks", () => {
    for (const bad of ["10.0.0.0/33", "::/129", "10.0.0/8", "host/8", "10.0.0.0/x", "0x7f000001/8"]) {
      assert.isUndefined(Ip.parseCidr(bad), bad)
    }
  })
})

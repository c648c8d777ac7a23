import { assert, describe, it } from "@effect/vitest"
import * as fs from "node:fs"
import * as path from "node:path"
import * as NodeServices from "@effect/platform-node/NodeServices"
import { Effect, Layer, Schema } from "effect"
import { Credentials } from "graphent"
import * as ShellTool from "../../src/tools/ShellTool.js"
import { failureOf, guardedCall, toolCause } from "../support/security.js"

const node = process.execPath

/** A scratch area: a jail with files, a folder outside it, symlinks out, an invocation log. */
const makeArea = () => {
  const base = fs.mkdtempSync(path.join(path.resolve("test/.scratch"), "shell-"))
  const jail = path.join(base, "jail")
  const outside = path.join(base, "outside")
  fs.mkdirSync(path.join(jail, "sub"), { recursive: true })
  fs.mkdirSync(outside)
  fs.writeFileSync(path.join(jail, "ok.txt"), "inside")
  fs.writeFileSync(path.join(jail, "sub", "deep.txt"), "deeper")
  fs.writeFileSync(path.join(outside, "secret.txt"), "TOP SECRET")
  fs.symlinkSync(path.join(outside, "secret.txt"), path.join(jail, "link"))
  fs.symlinkSync(outside, path.join(jail, "dirlink"))
  const log = path.join(base, "invocations.log")
  fs.writeFileSync(log, "")
  const marker = path.join(base, "pwned")
  return {
    base,
    jail,
    log,
    marker,
    invocations: () => fs.readFileSync(log, "utf8").split("\n").filter((line) => line !== ""),
    cleanup: () => fs.rmSync(base, { recursive: true, force: true })
  }
}

/** A program that logs that it ran, then prints its argv, cwd and (optionally) a file it was given. */
const recorder = `
const fs = require("fs")
fs.appendFileSync(process.env.LOG_FILE, JSON.stringify(process.argv.slice(1)) + "\\n")
const file = process.env.READ_ARG === "1" ? fs.readFileSync(process.argv[process.argv.length - 1], "utf8") : null
console.log(JSON.stringify({ argv: process.argv.slice(1), cwd: process.cwd(), file }))
`

const layer = Layer.mergeAll(NodeServices.layer, Credentials.layerTest({ DEPLOY_TOKEN: "dtk_5ec2e7_value" }))

describe("ShellTool: argv, never a shell", () => {
  it.live("injection strings in every argument position stay literal text; nothing else runs", () => {
    const area = makeArea()
    const tool = ShellTool.make("record", {
      description: "Records its arguments",
      command: node,
      args: ["-e", recorder, "--", "{a}", "prefix-{b}-suffix", "--flag={c}", "{list}"],
      parameters: Schema.Struct({
        a: Schema.String,
        b: Schema.String,
        c: Schema.String,
        list: Schema.Array(Schema.String)
      }),
      allowOptions: ["list"],
      root: area.jail,
      env: { LOG_FILE: area.log }
    })
    const attacks = [
      `; touch ${area.marker}`,
      `$(touch ${area.marker})`,
      `\`touch ${area.marker}\``,
      `| touch ${area.marker}`,
      `&& touch ${area.marker}`,
      `\n touch ${area.marker}`,
      `' ; touch ${area.marker} ; '`,
      `" ; touch ${area.marker} ; "`,
      `*`,
      `$HOME`
    ]
    return Effect.gen(function*() {
      for (const attack of attacks) {
        const out = yield* guardedCall(tool, { a: attack, b: attack, c: attack, list: [attack, attack] })
        assert.strictEqual(out.exit._tag, "Success", attack)
        if (out.exit._tag !== "Success") continue
        const printed = JSON.parse((out.exit.value.value as ShellTool.Output).stdout)
        assert.deepStrictEqual(printed.argv, [attack, `prefix-${attack}-suffix`, `--flag=${attack}`, attack, attack])
        assert.strictEqual(printed.cwd, fs.realpathSync(area.jail))
        assert.strictEqual(out.audit[0]!.outcome, "succeeded")
      }
      assert.isFalse(fs.existsSync(area.marker))
      assert.strictEqual(area.invocations().length, attacks.length)
    }).pipe(Effect.ensuring(Effect.sync(area.cleanup)), Effect.provide(layer))
  })

  it.live("argument injection: a parameter starting an argument with '-' is refused (typed error, audit, nothing ran)", () => {
    const area = makeArea()
    const tool = ShellTool.make("record", {
      description: "",
      command: node,
      args: ["-e", recorder, "--", "{target}"],
      parameters: Schema.Struct({ target: Schema.String }),
      root: area.jail,
      env: { LOG_FILE: area.log }
    })
    return Effect.gen(function*() {
      for (const attack of ["--upload-pack=touch /tmp/x", "-rf", "-"]) {
        const out = yield* guardedCall(tool, { target: attack })
        const cause = toolCause(out)
        assert.strictEqual(cause._tag, "ShellArgumentRejected")
        assert.strictEqual(cause.reason, "option-like")
        assert.strictEqual(out.audit[0]!.outcome, "failed")
        assert.strictEqual(out.audit[0]!.error?._tag, "ToolFailed")
      }
      const nul = yield* guardedCall(tool, { target: "a\u0000b" })
      assert.strictEqual(toolCause(nul).reason, "nul-byte")
      assert.deepStrictEqual(area.invocations(), [])
    }).pipe(Effect.ensuring(Effect.sync(area.cleanup)), Effect.provide(layer))
  })
})

describe("ShellTool: the working-directory jail", () => {
  const readTool = (area: ReturnType<typeof makeArea>) =>
    ShellTool.make("read", {
      description: "Reads a file of the folder",
      command: node,
      args: ["-e", recorder, "--", "{file}"],
      parameters: Schema.Struct({ file: Schema.String, dir: Schema.optionalKey(Schema.String) }),
      paths: ["file"],
      cwd: "dir",
      root: area.jail,
      env: { LOG_FILE: area.log, READ_ARG: "1" }
    })

  it.live("path traversal, absolute paths and symlinks out of the jail are refused; nothing ran", () => {
    const area = makeArea()
    const tool = readTool(area)
    const cases: Array<[Record<string, string>, string]> = [
      [{ file: "../../etc/passwd", dir: "." }, "traversal"],
      [{ file: "sub/../../outside/secret.txt", dir: "." }, "traversal"],
      [{ file: "/etc/passwd", dir: "." }, "absolute-path"],
      [{ file: "link", dir: "." }, "outside-jail"],
      [{ file: "dirlink/secret.txt", dir: "." }, "outside-jail"],
      [{ file: "ok.txt", dir: "../outside" }, "traversal"],
      [{ file: "secret.txt", dir: "dirlink" }, "outside-jail"],
      [{ file: "ok.txt", dir: "/tmp" }, "absolute-path"]
    ]
    return Effect.gen(function*() {
      for (const [args, reason] of cases) {
        const out = yield* guardedCall(tool, args)
        const cause = toolCause(out)
        assert.strictEqual(cause._tag, "ShellArgumentRejected", JSON.stringify(args))
        assert.strictEqual(cause.reason, reason, JSON.stringify(args))
        assert.strictEqual(out.audit[0]!.outcome, "failed")
        assert.notInclude(JSON.stringify(out.exit), "TOP SECRET")
      }
      assert.deepStrictEqual(area.invocations(), [])
    }).pipe(Effect.ensuring(Effect.sync(area.cleanup)), Effect.provide(layer))
  })

  it.live("paths inside the jail work, relative to the cwd parameter, and reach the program resolved", () => {
    const area = makeArea()
    const tool = readTool(area)
    return Effect.gen(function*() {
      const out = yield* guardedCall(tool, { file: "deep.txt", dir: "sub" })
      assert.strictEqual(out.exit._tag, "Success")
      if (out.exit._tag !== "Success") return
      const printed = JSON.parse((out.exit.value.value as ShellTool.Output).stdout)
      const real = fs.realpathSync(area.jail)
      assert.deepStrictEqual(printed, { argv: [path.join(real, "sub", "deep.txt")], cwd: path.join(real, "sub"), file: "deeper" })
    }).pipe(Effect.ensuring(Effect.sync(area.cleanup)), Effect.provide(layer))
  })
})

describe("ShellTool: environment, exit codes, limits", () => {
  it.live("the environment is scrubbed to what the tool declares; a secret env var is redacted from the output", () => {
    const area = makeArea()
    process.env.GRAPHENT_TEST_LEAK = "parent-only-value"
    process.env.GRAPHENT_TEST_PASS = "passed"
    const tool = ShellTool.make("env", {
      description: "",
      command: node,
      args: ["-e", "console.log(JSON.stringify(process.env))"],
      parameters: Schema.Struct({}),
      root: area.jail,
      env: { LANG: "C" },
      passEnv: ["GRAPHENT_TEST_PASS"],
      secretEnv: { TOKEN: "DEPLOY_TOKEN" }
    })
    assert.deepStrictEqual(tool.secrets, ["DEPLOY_TOKEN"])
    return Effect.gen(function*() {
      const out = yield* guardedCall(tool, {})
      assert.strictEqual(out.exit._tag, "Success")
      if (out.exit._tag !== "Success") return
      const env = JSON.parse((out.exit.value.value as ShellTool.Output).stdout)
      assert.deepStrictEqual(Object.keys(env).sort(), ["GRAPHENT_TEST_PASS", "LANG", "PATH", "TOKEN"])
      assert.strictEqual(env.PATH, ShellTool.defaultPath)
      assert.strictEqual(env.TOKEN, "[REDACTED:DEPLOY_TOKEN]")
      assert.notInclude(JSON.stringify(out.exit.value), "dtk_5ec2e7_value")
    }).pipe(Effect.ensuring(Effect.sync(() => {
      delete process.env.GRAPHENT_TEST_LEAK
      delete process.env.GRAPHENT_TEST_PASS
      area.cleanup()
    })), Effect.provide(layer))
  })

  it.live("a non-zero exit is a typed error with the exit code and the tail of stderr", () => {
    const area = makeArea()
    const tool = ShellTool.make("fail", {
      description: "",
      command: node,
      args: ["-e", "process.stderr.write('x'.repeat(5000) + 'the end: boom'); process.exit(3)"],
      parameters: Schema.Struct({}),
      root: area.jail
    })
    return Effect.gen(function*() {
      const out = yield* guardedCall(tool, {})
      const cause = toolCause(out)
      assert.strictEqual(cause._tag, "ShellExitFailed")
      assert.strictEqual(cause.exitCode, 3)
      assert.strictEqual((cause.stderrTail as string).length, 2048)
      assert.isTrue((cause.stderrTail as string).endsWith("the end: boom"))
      assert.strictEqual(out.audit[0]!.outcome, "failed")
    }).pipe(Effect.ensuring(Effect.sync(area.cleanup)), Effect.provide(layer))
  })

  it.live("output past the cap kills the process and fails the call", () => {
    const area = makeArea()
    const tool = ShellTool.make("flood", {
      description: "",
      command: node,
      args: ["-e", `const fs = require("fs"); setInterval(() => { process.stdout.write("y".repeat(65536)); fs.writeFileSync(${JSON.stringify(path.join(area.base, "alive"))}, String(Date.now())) }, 1)`],
      parameters: Schema.Struct({}),
      root: area.jail,
      maxOutputBytes: 256 * 1024
    })
    return Effect.gen(function*() {
      const out = yield* guardedCall(tool, {})
      const cause = toolCause(out)
      assert.strictEqual(cause._tag, "ShellOutputTooLarge")
      assert.strictEqual(cause.stream, "stdout")
      // Killed: it stops writing its heartbeat.
      const before = fs.readFileSync(path.join(area.base, "alive"), "utf8")
      yield* Effect.sleep("300 millis")
      assert.strictEqual(fs.readFileSync(path.join(area.base, "alive"), "utf8"), before)
    }).pipe(Effect.ensuring(Effect.sync(area.cleanup)), Effect.provide(layer))
  })

  it.live("a tool that hangs is killed at its timeout, children included, even one that ignores SIGTERM", () => {
    const area = makeArea()
    const pids = path.join(area.base, "pids")
    // The parent starts a child that ignores SIGTERM, records both pids, and hangs.
    const script = `
      const { spawn } = require("child_process")
      const child = spawn(process.execPath, ["-e", "process.on('SIGTERM', () => {}); setInterval(() => {}, 1000)"], { stdio: "ignore" })
      require("fs").writeFileSync(${JSON.stringify(pids)}, JSON.stringify([process.pid, child.pid]))
      setInterval(() => {}, 1000)
    `
    const tool = ShellTool.make("hang", {
      description: "",
      command: node,
      args: ["-e", script],
      parameters: Schema.Struct({}),
      root: area.jail,
      timeout: "1500 millis",
      killGrace: "300 millis"
    })
    const alive = (pid: number) => {
      try {
        process.kill(pid, 0)
      } catch {
        return false
      }
      // A zombie waiting for its (gone) parent to reap it is dead too.
      try {
        return !/^\d+ \(.*\) Z/.test(fs.readFileSync(`/proc/${pid}/stat`, "utf8"))
      } catch {
        return false
      }
    }
    return Effect.gen(function*() {
      const out = yield* guardedCall(tool, {})
      assert.strictEqual(failureOf(out)._tag, "ToolTimeout")
      assert.strictEqual(out.audit[0]!.error?._tag, "ToolTimeout")
      const [parent, child] = JSON.parse(fs.readFileSync(pids, "utf8")) as [number, number]
      assert.isFalse(alive(parent), "the process was killed")
      assert.isFalse(alive(child), "its child was killed")
    }).pipe(Effect.ensuring(Effect.sync(area.cleanup)), Effect.provide(layer))
  })

  it.live("background children left by a command are killed; those holding stdout/stderr open do not hold the call", () => {
    const area = makeArea()
    const pids = path.join(area.base, "bg-pids")
    const isAlive = (pid: number) => {
      try {
        process.kill(pid, 0)
        return !/^\d+ \(.*\) Z/.test(fs.readFileSync(`/proc/${pid}/stat`, "utf8"))
      } catch {
        return false
      }
    }
    // Three kinds of leftovers: one holding stdout, one holding stderr, one ignoring SIGTERM with its output closed.
    const script = [
      "sleep 60 &",
      `echo $! >> ${pids}`,
      "sleep 60 1>&2 &",
      `echo $! >> ${pids}`,
      "(trap '' TERM; exec sleep 60) >/dev/null 2>&1 &",
      `echo $! >> ${pids}`,
      "echo done"
    ].join("\n")
    const tool = ShellTool.make("leave_children", {
      description: "",
      command: "/bin/sh",
      args: ["-c", script],
      parameters: Schema.Struct({}),
      root: area.jail,
      // Far below the children's 60 s: waiting for them would end in ToolTimeout instead of success.
      timeout: "20 seconds",
      killGrace: "300 millis"
    })
    return Effect.gen(function*() {
      const out = yield* guardedCall(tool, {})
      assert.strictEqual(out.exit._tag, "Success")
      if (out.exit._tag === "Success") assert.deepStrictEqual(out.exit.value.result, { stdout: "done\n", stderr: "", exitCode: 0 })
      const children = fs.readFileSync(pids, "utf8").trim().split("\n").map(Number)
      assert.strictEqual(children.length, 3)
      for (const pid of children) assert.isFalse(isAlive(pid), `background child ${pid} was killed`)
    }).pipe(Effect.ensuring(Effect.sync(area.cleanup)), Effect.provide(layer))
  })

  it.live("a command that is not installed, and declaration errors", () => {
    const area = makeArea()
    const missing = ShellTool.make("missing", {
      description: "",
      command: "graphent-no-such-program",
      args: [],
      parameters: Schema.Struct({}),
      root: area.jail
    })
    assert.deepStrictEqual(missing.capabilities, ["shell:graphent-no-such-program"])
    assert.throws(
      () => ShellTool.make("rel", { description: "", command: "./x", args: [], parameters: Schema.Struct({}), root: "/tmp" }),
      /absolute path or a bare name/
    )
    assert.throws(
      () => ShellTool.make("root", { description: "", command: "ls", args: [], parameters: Schema.Struct({}), root: "tmp" }),
      /root must be an absolute path/
    )
    return Effect.gen(function*() {
      const out = yield* guardedCall(missing, {})
      const cause = toolCause(out)
      assert.strictEqual(cause._tag, "ShellFailed")
      assert.strictEqual(cause.reason, "not-found")
    }).pipe(Effect.ensuring(Effect.sync(area.cleanup)), Effect.provide(layer))
  })
})

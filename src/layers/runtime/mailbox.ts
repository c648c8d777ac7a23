/**
 * The mailbox between a streamed run and its consumer.
 */
import * as Arr from "effect/Array"
import * as Cause from "effect/Cause"
import * as Effect from "effect/Effect"
import type * as Exit from "effect/Exit"
import type * as Pull from "effect/Pull"
import type { RunError } from "../../services/AgentRuntime.js"
import type { RunEvent } from "../../services/RunEvent.js"

/**
 * A streamed run's events on their way to the consumer: the run publishes
 * them here, the consumer pulls all those published since its last pull, or
 * waits for the next. A waiting consumer is woken in a microtask, once the
 * run's current synchronous stretch is over, so events published together
 * (a step's outcome, the next decision, the next step's start) arrive as one
 * chunk instead of one wake-up each. The buffer is unbounded, like the
 * journal: a slow consumer never holds the run up.
 */
export class Mailbox {
  private pending: Array<RunEvent> = []
  private exit: Exit.Exit<unknown, RunError> | undefined = undefined
  private waiting: ((wake: Effect.Effect<void>) => void) | undefined = undefined
  private wakeScheduled = false

  publish(event: RunEvent): void {
    this.pending.push(event)
    this.wake()
  }

  close(exit: Exit.Exit<unknown, RunError>): void {
    this.exit = exit
    this.wake()
  }

  private wake(): void {
    if (this.waiting === undefined || this.wakeScheduled) return
    this.wakeScheduled = true
    queueMicrotask(() => {
      this.wakeScheduled = false
      const resume = this.waiting
      this.waiting = undefined
      resume?.(Effect.void)
    })
  }

  /** Waits for the next event or the end of the run; a consumer interrupted while waiting leaves no trace. */
  private readonly wait: Effect.Effect<void> = Effect.callback<void>((resume) => {
    this.waiting = resume
    return Effect.sync(() => {
      this.waiting = undefined
    })
  })

  /** The events published since the last pull; then the run's end: done, or its failure. */
  readonly pull: Pull.Pull<Arr.NonEmptyReadonlyArray<RunEvent>, RunError> = Effect.suspend(() => {
    const pending = this.pending
    if (Arr.isReadonlyArrayNonEmpty(pending)) {
      this.pending = []
      return Effect.succeed(pending)
    }
    const exit = this.exit
    if (exit !== undefined) return exit._tag === "Success" ? Cause.done() : Effect.failCause(exit.cause)
    return Effect.andThen(this.wait, this.pull)
  })
}

/** The assistant's tool: a calculator for + - * / and parentheses (never `eval`). */
import { Effect, Schema } from "effect"
import { Tool } from "graphent"

export class CalculatorError extends Schema.TaggedError<CalculatorError>()("CalculatorError", {
  expression: Schema.String,
  reason: Schema.String
}) {
  override get message(): string {
    return `cannot evaluate "${this.expression}": ${this.reason}`
  }
}

const evaluate = (expression: string): number => {
  const tokens = expression.match(/\d+(?:\.\d+)?|[-+*/()]|\S/g) ?? []
  let position = 0
  const primary = (): number => {
    const token = tokens[position++]
    if (token === "(") {
      const value = sum()
      if (tokens[position++] !== ")") throw new Error("missing )")
      return value
    }
    if (token === "-") return -primary()
    if (token !== undefined && /^\d/.test(token)) return Number(token)
    throw new Error(token === undefined ? "unexpected end" : `unexpected "${token}"`)
  }
  const product = (): number => {
    let value = primary()
    while (tokens[position] === "*" || tokens[position] === "/") value = tokens[position++] === "*" ? value * primary() : value / primary()
    return value
  }
  const sum = (): number => {
    let value = product()
    while (tokens[position] === "+" || tokens[position] === "-") value = tokens[position++] === "+" ? value + product() : value - product()
    return value
  }
  const value = sum()
  if (position < tokens.length) throw new Error(`unexpected "${tokens[position]}"`)
  return value
}

export const calculator = Tool.make("calculator", {
  description: "Evaluates an arithmetic expression with + - * / and parentheses.",
  parameters: Schema.Struct({ expression: Schema.String }),
  success: Schema.Number,
  idempotent: true,
  handler: ({ expression }) =>
    Effect.try({
      try: () => evaluate(expression),
      catch: (error) => new CalculatorError({ expression, reason: (error as Error).message })
    })
})

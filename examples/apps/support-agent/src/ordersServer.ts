/**
 * The orders service, as an MCP server over stdio (effect/ai's `McpServer`): the support agent reads orders
 * through it, as it would through a real company's MCP server. One tool, `lookup_order`.
 *
 *   node src/ordersServer.ts      # speaks MCP on stdin/stdout (Node ≥ 22.18 runs the TypeScript as is)
 */
import { NodeRuntime, NodeStdio } from "@effect/platform-node"
import { Effect, Layer, Schema } from "effect"
import { McpProtocol, McpServer, Tool, Toolkit } from "effect/ai"

const Order = Schema.Struct({
  orderId: Schema.String,
  customer: Schema.String,
  item: Schema.String,
  total: Schema.Number,
  currency: Schema.String,
  status: Schema.Literals(["processing", "shipped", "delivered"]),
  deliveredOn: Schema.NullOr(Schema.String)
})

const orders: ReadonlyArray<typeof Order.Type> = [
  { orderId: "A-1001", customer: "ana@example.com", item: "Desk lamp", total: 39.9, currency: "EUR", status: "delivered", deliveredOn: "2026-11-20" },
  { orderId: "A-1002", customer: "ben@example.com", item: "Ceramic teapot", total: 49.9, currency: "EUR", status: "delivered", deliveredOn: "2026-11-28" },
  { orderId: "A-1003", customer: "cleo@example.com", item: "Wool blanket", total: 89, currency: "EUR", status: "shipped", deliveredOn: null }
]

const LookupOrder = Tool.make("lookup_order", {
  description: "Reads an order by its id: customer, item, total, status and delivery date",
  parameters: Schema.Struct({ orderId: Schema.String }),
  success: Order,
  failure: Schema.String
})

const Orders = Toolkit.make(LookupOrder)

const handlers = Orders.toLayer(Effect.succeed(Orders.of({
  lookup_order: ({ orderId }) => {
    const order = orders.find((candidate) => candidate.orderId === orderId.trim().toUpperCase())
    return order === undefined ? Effect.fail(`no order ${orderId}`) : Effect.succeed(order)
  }
})))

McpServer.layerStdio({
  name: "orders",
  version: "1.0.0",
  protocols: [McpProtocol.v2025_11_25],
  registrations: McpServer.toolkit(Orders).pipe(Layer.provide(handlers))
}).pipe(
  Layer.provide(NodeStdio.layer),
  Layer.launch,
  NodeRuntime.runMain
)

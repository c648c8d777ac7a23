/**
 * The `graphent/mcp` entry: tools from Model Context Protocol servers
 * (`McpTools`), kept out of the root entry so that agents without MCP do not
 * load `effect/ai`'s MCP client.
 *
 * @since 0.3.0
 */

/**
 * Tools from MCP servers: pinned definitions, confined stdio servers, typed errors.
 *
 * @since 0.3.0
 */
export * as McpTools from "./layers/McpTools.js"

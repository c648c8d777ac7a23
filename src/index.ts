/**
 * Graphent: an agent framework on Effect 4.
 *
 * Modules are exported as namespaces: `Tool.make`, `Agent.make`,
 * `AgentRuntime.run`, `SequencePlanner.rules`, `Memory.Memory`, ...
 *
 * This entry is the core: agents, tools, planners, the local runtime, memory
 * and journals in memory and in files, replay, policies, the scripted model
 * and the store the CLI uses (its backends load when a store first needs
 * them). Backends and providers that bring their own clients are sub-paths,
 * so that importing the core does not load them:
 *
 * | sub-path | modules |
 * |---|---|
 * | `graphent/postgres` | `JournalPg`, `MemoryPg`, `AuditPg`, `AcceptedRunsSql` |
 * | `graphent/pglite` | `Pglite` (embedded PostgreSQL) |
 * | `graphent/redis` | `MemoryRedis` |
 * | `graphent/openai` | `OpenAiProvider`, `EmbeddingOpenAi` |
 * | `graphent/anthropic` | `AnthropicProvider` |
 * | `graphent/http-tool` | `HttpTool` |
 * | `graphent/server` | `Server`, `Api`, `ApiAuth`, `ApiEdge` |
 * | `graphent/testing` | test layers and helpers |
 * | `graphent/eval` | `Dataset`, `Scorer`, `Eval` (experiments) |
 *
 * @since 0.1.0
 */

// Services: interfaces, tags, errors, schemas.
/** @since 0.1.0 */
export * as Agent from "./services/Agent.js"
/** @since 0.1.0 */
export * as AgentRuntime from "./services/AgentRuntime.js"
/** @since 0.1.0 */
export * as Approvals from "./services/Approvals.js"
/** @since 0.1.0 */
export * as Audit from "./services/Audit.js"
/** @since 0.1.0 */
export * as Credentials from "./services/Credentials.js"
/** @since 0.1.0 */
export * as AcceptedRuns from "./services/AcceptedRuns.js"
/** The error model: each error's exit code and HTTP status. @since 0.2.0 */
export * as Errors from "./services/Errors.js"
/** @since 0.1.0 */
export * as Journal from "./services/Journal.js"
/** @since 0.1.0 */
export * as Memory from "./services/Memory.js"
/** @since 0.1.0 */
export * as ModelTransport from "./services/ModelTransport.js"
/** @since 0.1.0 */
export * as Planner from "./services/Planner.js"
/** @since 0.1.0 */
export * as Pricing from "./services/Pricing.js"

/** @since 0.1.0 */
export * as RunEvent from "./services/RunEvent.js"
/** @since 0.2.0 */
export * as RunPorts from "./services/RunPorts.js"
/** @since 0.1.0 */
export * as Runs from "./services/Runs.js"
/** @since 0.1.0 */
export * as Tool from "./services/Tool.js"
/** @since 0.1.0 */
export * as Tools from "./services/Tools.js"
/** Markers that make a layer's type say what it wires in (`Wired<"Tools">`). */
export * as Wired from "./services/Wired.js"

// Layers: one backend or implementation each.
/** @since 0.1.0 */
export * as AuditFile from "./layers/AuditFile.js"
/** @since 0.1.0 */
export * as AuditMemory from "./layers/AuditMemory.js"
/** @since 0.1.0 */
export * as CredentialsConfig from "./layers/CredentialsConfig.js"
/** @since 0.1.0 */
export * as EmbeddingConfig from "./layers/EmbeddingConfig.js"
/** Every `GRAPHENT_*` environment variable, read in one place (`docs/configuration.md`). */
export * as GraphentConfig from "./layers/GraphentConfig.js"
/** @since 0.1.0 */
export * as EmbeddingLocal from "./layers/EmbeddingLocal.js"
/** @since 0.1.0 */
export * as JournalFile from "./layers/JournalFile.js"
/** @since 0.1.0 */
export * as JournalFolder from "./layers/JournalFolder.js"
/** @since 0.1.0 */
export * as AcceptedRunsFolder from "./layers/AcceptedRunsFolder.js"
/** @since 0.1.0 */
export * as AcceptedRunsMemory from "./layers/AcceptedRunsMemory.js"
/** @since 0.1.0 */
export * as JournalMemory from "./layers/JournalMemory.js"
/** @since 0.1.0 */
export * as LlmPlanner from "./layers/LlmPlanner.js"
/** @since 0.1.0 */
export * as LocalRuntime from "./layers/LocalRuntime.js"
/** @since 0.1.0 */
export * as Logging from "./layers/Logging.js"
/** @since 0.1.0 */
export * as MemoryInMemory from "./layers/MemoryInMemory.js"
/** @since 0.1.0 */
export * as ModelConfig from "./layers/ModelConfig.js"
/** @since 0.2.0 */
export * as ModelFallback from "./layers/ModelFallback.js"
/** @since 0.1.0 */
export * as Policy from "./layers/Policy.js"
/** @since 0.1.0 */
export * as PolicyFile from "./layers/PolicyFile.js"
/** @since 0.1.0 */
export * as RemotePlanner from "./layers/RemotePlanner.js"
/** @since 0.1.0 */
export * as Replay from "./layers/Replay.js"
/** @since 0.1.0 */
export * as RunsLocal from "./layers/RunsLocal.js"
/** @since 0.1.0 */
export * as ScriptedModel from "./layers/ScriptedModel.js"
/** @since 0.1.0 */
export * as SequencePlanner from "./layers/SequencePlanner.js"
/** @since 0.1.0 */
export * as Storage from "./layers/Storage.js"
/** @since 0.1.0 */
export * as Telemetry from "./layers/Telemetry.js"
/** @since 0.1.0 */
export * as ToolGuard from "./layers/ToolGuard.js"

// Guarded tool adapters.
/** @since 0.1.0 */
export * as LlmTool from "./tools/LlmTool.js"
/** @since 0.1.0 */
export * as ShellTool from "./tools/ShellTool.js"

/** @since 0.1.0 */
export { version } from "./version.js"
/**
 * The Promise API, for code not written in Effect (`Graphent.create`).
 *
 * @since 0.2.0
 */
export * as Graphent from "./Graphent.js"

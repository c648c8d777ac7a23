/**
 * Markers that make a layer's type say what it wires in.
 *
 * Several of Graphent's services have a default value (`Context.Reference`:
 * the tool executor, credentials, prices, run ids, the logger, the tracer),
 * and Effect types a layer that replaces one as providing nothing
 * (`Layer<never>`): two wirings, one with stubbed tools and one without, would
 * have the same type. A layer that replaces such a service also provides
 * `Wired<"Name">`, so its type names what it changes, and a program or a
 * composition can require it.
 *
 * **Example** (What a layer's type shows)
 *
 * ```ts
 * const stubs = Tools.layerTest({ fetch_page: () => Effect.succeed("<html/>") })
 * //    ^? Layer<Wired<"Tools">>
 * ```
 *
 * @since 0.1.0
 */
import * as Context from "effect/Context"
import * as Layer from "effect/Layer"

const TypeId = "~graphent/Wired" as const

/**
 * The marker of a layer that wired in the service `Name`: it has no
 * operations; its value is the name.
 *
 * @since 0.1.0
 * @category models
 */
export interface Wired<Name extends string> {
  readonly [TypeId]: Name
}

/**
 * The context key of the marker `Name` (the same key for every call with the same name).
 *
 * @since 0.1.0
 * @category constructors
 */
export const key = <const Name extends string>(name: Name): Context.Service<Wired<Name>, Name> =>
  Context.Service<Wired<Name>, Name>(`graphent/Wired/${name}`)

/**
 * `layer`, with the marker `Name` added to what it provides.
 *
 * @since 0.1.0
 * @category combinators
 */
export const wires = <const Name extends string>(name: Name) =>
<ROut, E, RIn>(layer: Layer.Layer<ROut, E, RIn>): Layer.Layer<ROut | Wired<Name>, E, RIn> =>
  Layer.merge(layer, Layer.succeed(key(name), name))

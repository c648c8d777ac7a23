// The part of autocannon's API (it ships no types) that W6 uses.
declare module "autocannon" {
  interface Options {
    readonly url: string
    readonly method?: string
    readonly headers?: Record<string, string>
    readonly body?: string
    readonly connections?: number
    readonly duration?: number
  }
  interface Stats {
    readonly average: number
    readonly p50: number
    readonly p99: number
  }
  interface Result {
    readonly requests: Stats
    readonly latency: Stats
    readonly errors: number
    readonly non2xx: number
    readonly timeouts: number
  }
  function autocannon(options: Options): Promise<Result>
  export default autocannon
}

/**
 * The `graphent/eval` entry: datasets of cases, scorers, and experiments that
 * run an agent on a dataset and compare the report with a baseline
 * (`docs/evals.md`).
 *
 * @since 0.3.0
 */

/**
 * Datasets: JSON Lines files of cases (input, thread, expected answer, tools, tags).
 *
 * @since 0.3.0
 */
export * as Dataset from "./services/Dataset.js"
/**
 * Experiments: `Eval.run`, the typed report, baselines and thresholds.
 *
 * @since 0.3.0
 */
export * as Eval from "./services/Eval.js"
/**
 * Scorers: `Scorer.make` and the built-ins (exact match, Schema, contains, trajectory, ceilings, judge).
 *
 * @since 0.3.0
 */
export * as Scorer from "./services/Scorer.js"
/**
 * Kept experiments: the reports `graphent dev` lists and shows (`GET /v1/evals`).
 *
 * @since 0.3.0
 */
export * as Experiments from "./services/Experiments.js"
/**
 * Experiments kept as report files in `<GRAPHENT_HOME>/experiments`.
 *
 * @since 0.3.0
 */
export * as ExperimentsFolder from "./layers/ExperimentsFolder.js"

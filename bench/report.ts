/**
 * What a workload reports, and how the driver prints it.
 */

export type Cell = string | number

export interface Column {
  readonly key: string
  readonly header: string
  /** Decimals for numbers (default 1). */
  readonly digits?: number
}

export interface Report {
  readonly title: string
  /** The targets, shown next to the figures (not asserted). */
  readonly targets: string
  readonly columns: ReadonlyArray<Column>
  readonly rows: ReadonlyArray<Readonly<Record<string, Cell>>>
  /** Derived figures worth a line of their own. */
  readonly notes: ReadonlyArray<string>
}

/** A workload: runs its measurements (each in child processes) and reports them. */
export interface Workload {
  readonly id: string
  readonly run: () => Promise<Report>
}

const format = (cell: Cell | undefined, digits = 1): string =>
  cell === undefined ? "" : typeof cell === "number" ? cell.toFixed(digits) : cell

/** A readable, right-aligned table. */
export const renderTable = (id: string, report: Report): string => {
  const cells = report.rows.map((row) => report.columns.map((column) => format(row[column.key], column.digits)))
  const widths = report.columns.map((column, i) => Math.max(column.header.length, ...cells.map((line) => line[i]!.length)))
  const line = (values: ReadonlyArray<string>) => values.map((value, i) => value.padStart(widths[i]!)).join("  ")
  return [
    `${id.toUpperCase()}  ${report.title}`,
    `    targets: ${report.targets}`,
    line(report.columns.map((column) => column.header)),
    line(widths.map((width) => "-".repeat(width))),
    ...cells.map(line),
    ...report.notes.map((note) => `    ${note}`)
  ].join("\n")
}

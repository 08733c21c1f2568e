/**
 * A bounded list of problems (or warnings) for one answer. A pod can carry tens of thousands
 * of bad keys, a config file thousands of bad fields: listing them all made one review cost
 * seconds of CPU (a "did you mean" for each) and megabytes of answer and log line. The first
 * MAX_REPORTED_PROBLEMS are kept, the rest only counted, and work that only serves a message
 * (such as a suggestion) is done only for the problems that are shown.
 */

/** Enough to fix a real mistake in one go; a list longer than this is an attack or a wrong file. */
export const MAX_REPORTED_PROBLEMS = 20;

export class ProblemList {
  private readonly shown: string[] = [];
  private omitted = 0;

  constructor(readonly max: number = MAX_REPORTED_PROBLEMS) {}

  /** Whether another problem would be shown (callers skip work that only serves the message). */
  get room(): boolean {
    return this.shown.length < this.max;
  }

  /** Every problem added, shown or not. */
  get count(): number {
    return this.shown.length + this.omitted;
  }

  /** Adds a problem; a function is called only when the problem will be shown. */
  add(problem: string | (() => string)): void {
    if (this.room) this.shown.push(typeof problem === 'function' ? problem() : problem);
    else this.omitted += 1;
  }

  /** Adds every problem of another list, in order, with its own omitted count. */
  addAll(other: ProblemList): void {
    for (const p of other.shown) this.add(p);
    this.omitted += other.omitted;
  }

  /** The problems shown, then `... and N more` when some were left out. */
  lines(): string[] {
    return this.omitted === 0 ? [...this.shown] : [...this.shown, `... and ${this.omitted} more`];
  }
}

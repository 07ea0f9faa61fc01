// Routes keyed by table, then destination, without building a key string per route: the incremental
// diff indexes every planned route on each reconcile, so this is the part that grows with CIDRs.

export class RouteKeys<T = true> {
  private readonly byTable = new Map<number, Map<string, T>>();
  private count = 0;

  get size(): number {
    return this.count;
  }

  set(table: number, dst: string, value: T): void {
    let m = this.byTable.get(table);
    if (!m) this.byTable.set(table, (m = new Map()));
    if (!m.has(dst)) this.count++;
    m.set(dst, value);
  }

  get(table: number, dst: string): T | undefined {
    return this.byTable.get(table)?.get(dst);
  }

  has(table: number, dst: string): boolean {
    return this.byTable.get(table)?.has(dst) ?? false;
  }

  delete(table: number, dst: string): void {
    const m = this.byTable.get(table);
    if (m?.delete(dst)) this.count--;
  }

  clear(): void {
    this.byTable.clear();
    this.count = 0;
  }

  /** As entries(), without a generator and a tuple per item (the hot loops of the incremental diff). */
  forEach(fn: (table: number, dst: string, value: T) => void): void {
    for (const [table, m] of this.byTable) m.forEach((v, dst) => fn(table, dst, v));
  }

  *entries(): IterableIterator<[number, string, T]> {
    for (const [table, m] of this.byTable) for (const [dst, v] of m) yield [table, dst, v];
  }

  static of<R extends { table: number; dst: string }>(items: readonly R[]): RouteKeys<R> {
    const k = new RouteKeys<R>();
    for (const r of items) k.set(r.table, r.dst, r);
    return k;
  }
}

/**
 * Where `next` differs from `prev`: the longest common prefix and then the longest common suffix are
 * skipped, and what lies between is the change (`prev[from, prevTo)` became `next[from, nextTo)`). A
 * plan with one CIDR more than the last one differs from it in one place, so this finds it with one
 * comparison per item and nothing built; a failover changes every route, and the range is everything.
 */
export function changedRange<T>(prev: readonly T[], next: readonly T[], same: (a: T, b: T) => boolean): { from: number; prevTo: number; nextTo: number } {
  const n = Math.min(prev.length, next.length);
  let from = 0;
  while (from < n && same(prev[from]!, next[from]!)) from++;
  let tail = 0;
  while (tail < n - from && same(prev[prev.length - 1 - tail]!, next[next.length - 1 - tail]!)) tail++;
  return { from, prevTo: prev.length - tail, nextTo: next.length - tail };
}

/** A stage as the layout needs it: its name and the stages it comes after. */
export interface DagNode {
  name: string;
  after: readonly string[];
}

/**
 * Columns of the pipeline board, left to right: a stage's column is its depth in the DAG (0 with nothing before it,
 * else one more than the deepest stage it comes after). Within a column stages keep the pipeline file's order.
 * Names in `after` that are not stages are ignored, and a cycle (which the pipeline schema refuses) cannot loop.
 */
export function dagColumns<N extends DagNode>(nodes: readonly N[]): N[][] {
  const byName = new Map(nodes.map((n) => [n.name, n]));
  const depth = new Map<string, number>();
  const visiting = new Set<string>();
  const depthOf = (n: N): number => {
    const known = depth.get(n.name);
    if (known !== undefined) return known;
    if (visiting.has(n.name)) return 0;
    visiting.add(n.name);
    let d = 0;
    for (const a of n.after) {
      const p = byName.get(a);
      if (p && p !== n) d = Math.max(d, depthOf(p) + 1);
    }
    visiting.delete(n.name);
    depth.set(n.name, d);
    return d;
  };
  const columns: N[][] = [];
  for (const n of nodes) {
    const d = depthOf(n);
    while (columns.length <= d) columns.push([]);
    columns[d]!.push(n);
  }
  return columns;
}

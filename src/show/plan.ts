// `hawser show plan`: what the planners would do on this node now, as text. The sections are computed by the
// CLI (the one place allowed to call the roles' pure planners, src/cli/commands/show.ts); this module only
// holds their shape and renders them, so that `show` itself imports no role.

export interface PlanSection {
  /** e.g. `route agent (node w1)`. */
  title: string;
  /** The plan as its planner describes it, one line each. */
  plan: string[];
  /** What applying the plan now would change in the kernel (empty: the kernel already matches). */
  pending?: string[];
  /** Inputs the planner set aside or could not use. */
  warnings: string[];
  /** Why this section could not be planned, when it could not. */
  error?: string;
}

export function renderPlan(sections: readonly PlanSection[]): string {
  const out: string[] = [];
  for (const s of sections) {
    out.push(`${s.error ? '✗' : '✓'} ${s.title}`);
    if (s.error) out.push(`    ${s.error}`);
    for (const l of s.plan) out.push(`    ${l}`);
    for (const w of s.warnings) out.push(`    ! ${w}`);
    if (s.pending) {
      if (s.pending.length === 0) out.push('    pending: none (the kernel matches the plan)');
      else {
        out.push(`    pending: ${s.pending.length} change(s) a reconcile would make now`);
        for (const p of s.pending) out.push(`      ${p}`);
      }
    }
    out.push('');
  }
  return out.join('\n');
}

/** Exit code 1 when a section could not be planned. */
export const planFailed = (sections: readonly PlanSection[]): boolean => sections.some((s) => s.error !== undefined);

// Kubernetes LabelSelector: validated once into a typed value, then matched against pod labels.

export type SelectorOperator = 'In' | 'NotIn' | 'Exists' | 'DoesNotExist';

export interface SelectorRequirement {
  key: string;
  operator: SelectorOperator;
  values: string[];
}

export interface LabelSelector {
  matchLabels: Record<string, string>;
  matchExpressions: SelectorRequirement[];
}

export type ParsedSelector = { ok: true; value: LabelSelector } | { ok: false; error: string };

// Label keys: optional DNS-subdomain prefix and a name of up to 63 characters; values up to 63.
const LABEL_NAME = /^([A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?)$/;
const LABEL_PREFIX = /^[a-z0-9]([-a-z0-9.]{0,251}[a-z0-9])?$/;
const LABEL_VALUE = /^(([A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?)?)$/;

function validKey(k: string): boolean {
  const slash = k.indexOf('/');
  if (slash < 0) return LABEL_NAME.test(k);
  return LABEL_PREFIX.test(k.slice(0, slash)) && LABEL_NAME.test(k.slice(slash + 1));
}

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** Parses `spec.podSelector`; the error text names the offending part. */
export function parseLabelSelector(raw: unknown): ParsedSelector {
  if (!isRecord(raw)) return { ok: false, error: 'podSelector must be an object' };
  const matchLabels: Record<string, string> = {};
  if (raw.matchLabels !== undefined && raw.matchLabels !== null) {
    if (!isRecord(raw.matchLabels)) return { ok: false, error: 'podSelector.matchLabels must be a map of strings' };
    for (const [k, v] of Object.entries(raw.matchLabels)) {
      if (!validKey(k)) return { ok: false, error: `podSelector.matchLabels: invalid label key ${JSON.stringify(k)}` };
      if (typeof v !== 'string' || !LABEL_VALUE.test(v)) return { ok: false, error: `podSelector.matchLabels[${k}]: invalid label value ${JSON.stringify(v)}` };
      matchLabels[k] = v;
    }
  }
  const matchExpressions: SelectorRequirement[] = [];
  if (raw.matchExpressions !== undefined && raw.matchExpressions !== null) {
    if (!Array.isArray(raw.matchExpressions)) return { ok: false, error: 'podSelector.matchExpressions must be a list' };
    for (const [i, e] of raw.matchExpressions.entries()) {
      const at = `podSelector.matchExpressions[${i}]`;
      if (!isRecord(e) || typeof e.key !== 'string' || !validKey(e.key)) return { ok: false, error: `${at}: invalid or missing key` };
      const op = e.operator;
      if (op !== 'In' && op !== 'NotIn' && op !== 'Exists' && op !== 'DoesNotExist') {
        return { ok: false, error: `${at}: operator ${JSON.stringify(op)} is not one of In, NotIn, Exists, DoesNotExist` };
      }
      const values = e.values ?? [];
      if (!Array.isArray(values) || !values.every((v) => typeof v === 'string' && LABEL_VALUE.test(v))) {
        return { ok: false, error: `${at}: values must be a list of label values` };
      }
      if ((op === 'In' || op === 'NotIn') && values.length === 0) return { ok: false, error: `${at}: operator ${op} needs at least one value` };
      if ((op === 'Exists' || op === 'DoesNotExist') && values.length > 0) return { ok: false, error: `${at}: operator ${op} takes no values` };
      matchExpressions.push({ key: e.key, operator: op, values: values as string[] });
    }
  }
  return { ok: true, value: { matchLabels, matchExpressions } };
}

/** Kubernetes semantics: every requirement must hold; an empty selector matches everything. */
export function selectorMatches(sel: LabelSelector, labels: Readonly<Record<string, string>>): boolean {
  for (const [k, v] of Object.entries(sel.matchLabels)) if (labels[k] !== v) return false;
  for (const r of sel.matchExpressions) {
    const has = Object.prototype.hasOwnProperty.call(labels, r.key);
    const v = labels[r.key];
    switch (r.operator) {
      case 'In':
        if (!has || !r.values.includes(v!)) return false;
        break;
      case 'NotIn':
        if (has && r.values.includes(v!)) return false;
        break;
      case 'Exists':
        if (!has) return false;
        break;
      case 'DoesNotExist':
        if (has) return false;
        break;
    }
  }
  return true;
}

/** A Service's plain `selector` map (equality only) as a LabelSelector. */
export function mapSelector(m: Readonly<Record<string, string>>): LabelSelector {
  return { matchLabels: { ...m }, matchExpressions: [] };
}

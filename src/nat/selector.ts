// Kubernetes LabelSelector: validated once into a typed value, then matched against pod labels.
import { readLabelSelector, type LabelSelectorRead, type WireText } from '../k8s/submariner/globalnet.js';

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

/** Parses `spec.podSelector` (its shape read by k8s/submariner/globalnet.ts); the error text names the offending part. */
export function parseLabelSelector(raw: unknown): ParsedSelector {
  return labelSelectorFromRead(readLabelSelector(raw));
}

const json = (t: WireText | undefined): string => (t === undefined ? 'undefined' : 'text' in t ? JSON.stringify(t.text) : t.notText);

/** The meaning of a selector as written: the first bad part in document order is the error. */
export function labelSelectorFromRead(read: LabelSelectorRead | undefined): ParsedSelector {
  if (!read) return { ok: false, error: 'podSelector must be an object' };
  const matchLabels: Record<string, string> = {};
  if (read.matchLabels.kind === 'invalid') return { ok: false, error: 'podSelector.matchLabels must be a map of strings' };
  if (read.matchLabels.kind === 'map') {
    for (const { key: k, value: v } of read.matchLabels.entries) {
      if (!validKey(k)) return { ok: false, error: `podSelector.matchLabels: invalid label key ${JSON.stringify(k)}` };
      if (!('text' in v) || !LABEL_VALUE.test(v.text)) return { ok: false, error: `podSelector.matchLabels[${k}]: invalid label value ${json(v)}` };
      matchLabels[k] = v.text;
    }
  }
  const matchExpressions: SelectorRequirement[] = [];
  if (read.matchExpressions.kind === 'invalid') return { ok: false, error: 'podSelector.matchExpressions must be a list' };
  if (read.matchExpressions.kind === 'list') {
    for (const [i, e] of read.matchExpressions.items.entries()) {
      const at = `podSelector.matchExpressions[${i}]`;
      const key = 'values' in e && e.key && 'text' in e.key ? e.key.text : undefined;
      if (!('values' in e) || key === undefined || !validKey(key)) return { ok: false, error: `${at}: invalid or missing key` };
      const op = e.operator && 'text' in e.operator ? e.operator.text : undefined;
      if (op !== 'In' && op !== 'NotIn' && op !== 'Exists' && op !== 'DoesNotExist') {
        return { ok: false, error: `${at}: operator ${json(e.operator)} is not one of In, NotIn, Exists, DoesNotExist` };
      }
      const items = e.values.kind === 'absent' ? [] : e.values.kind === 'list' ? e.values.items : undefined;
      const values = items?.flatMap((x) => ('text' in x && LABEL_VALUE.test(x.text) ? [x.text] : []));
      if (!items || !values || values.length !== items.length) return { ok: false, error: `${at}: values must be a list of label values` };
      if ((op === 'In' || op === 'NotIn') && values.length === 0) return { ok: false, error: `${at}: operator ${op} needs at least one value` };
      if ((op === 'Exists' || op === 'DoesNotExist') && values.length > 0) return { ok: false, error: `${at}: operator ${op} takes no values` };
      matchExpressions.push({ key, operator: op, values });
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

// Label selectors (equality and set-based) and field selectors, parsed from their query-string
// form into plain requirements and matched against objects.
import { isObject, type Json, type JsonObject } from './types.js';

export type LabelOp = 'exists' | '!' | '=' | '!=' | 'in' | 'notin' | 'gt' | 'lt';

export interface LabelRequirement {
  key: string;
  op: LabelOp;
  values: string[];
}

export class SelectorError extends Error {}

const NAME_RE = /^([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]$/;
const DNS_SUBDOMAIN_RE = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;
const VALUE_RE = /^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$/;

/** Why a label key is invalid, or undefined when it is a valid qualified name. */
export function labelKeyError(key: string): string | undefined {
  const parts = key.split('/');
  if (parts.length > 2) return 'a qualified name must consist of alphanumeric characters, \'-\', \'_\' or \'.\', with an optional DNS subdomain prefix and \'/\'';
  const name = parts[parts.length - 1]!;
  if (parts.length === 2) {
    const prefix = parts[0]!;
    if (!prefix || prefix.length > 253 || !DNS_SUBDOMAIN_RE.test(prefix)) return 'prefix part must be a lowercase RFC 1123 subdomain';
  }
  if (!name) return 'name part must be non-empty';
  if (name.length > 63) return 'name part must be no more than 63 characters';
  if (!NAME_RE.test(name)) return 'name part must consist of alphanumeric characters, \'-\', \'_\' or \'.\', and must start and end with an alphanumeric character';
  return undefined;
}

export function labelValueError(value: string): string | undefined {
  if (value.length > 63) return 'must be no more than 63 characters';
  if (!VALUE_RE.test(value)) return 'a valid label must be an empty string or consist of alphanumeric characters, \'-\', \'_\' or \'.\', and must start and end with an alphanumeric character';
  return undefined;
}

type Token = { kind: 'word'; text: string } | { kind: 'op'; text: string };

function tokenize(input: string): Token[] {
  const out: Token[] = [];
  let i = 0;
  while (i < input.length) {
    const c = input[i]!;
    if (c === ' ' || c === '\t') {
      i++;
      continue;
    }
    const two = input.slice(i, i + 2);
    if (two === '==' || two === '!=') {
      out.push({ kind: 'op', text: two });
      i += 2;
      continue;
    }
    if ('=!(),<>'.includes(c)) {
      out.push({ kind: 'op', text: c });
      i++;
      continue;
    }
    let j = i;
    while (j < input.length && !' \t=!(),<>'.includes(input[j]!)) j++;
    out.push({ kind: 'word', text: input.slice(i, j) });
    i = j;
  }
  return out;
}

/** Parses `a=b,c!=d,e in (f,g),!h,i` into requirements; throws SelectorError when malformed. */
export function parseLabelSelector(input: string): LabelRequirement[] {
  const toks = tokenize(input);
  const reqs: LabelRequirement[] = [];
  let i = 0;
  const fail = (msg: string): never => {
    throw new SelectorError(`unable to parse requirement: ${msg}`);
  };
  const word = (what: string): string => {
    const t = toks[i];
    if (!t || t.kind !== 'word') return fail(`found '${t?.text ?? ''}', expected: ${what}`);
    i++;
    return t.text;
  };
  const checkKey = (k: string): void => {
    const e = labelKeyError(k);
    if (e) fail(`invalid label key "${k}": ${e}`);
  };
  const checkValue = (v: string): void => {
    const e = labelValueError(v);
    if (e) fail(`invalid label value: "${v}": ${e}`);
  };
  while (i < toks.length) {
    const t = toks[i]!;
    if (t.kind === 'op' && t.text === '!') {
      i++;
      const key = word('identifier after \'!\'');
      checkKey(key);
      reqs.push({ key, op: '!', values: [] });
    } else {
      const key = word('identifier');
      checkKey(key);
      const next = toks[i];
      if (!next || (next.kind === 'op' && next.text === ',')) {
        reqs.push({ key, op: 'exists', values: [] });
      } else if (next.kind === 'op' && ['=', '==', '!='].includes(next.text)) {
        i++;
        const after = toks[i];
        let value = '';
        if (after && after.kind === 'word') {
          value = after.text;
          i++;
        }
        checkValue(value);
        reqs.push({ key, op: next.text === '!=' ? '!=' : '=', values: [value] });
      } else if (next.kind === 'op' && (next.text === '<' || next.text === '>')) {
        i++;
        const v = word('integer value');
        if (!/^-?\d+$/.test(v)) fail(`for 'Gt', 'Lt' operators, the value must be an integer`);
        reqs.push({ key, op: next.text === '>' ? 'gt' : 'lt', values: [v] });
      } else if (next.kind === 'word' && (next.text === 'in' || next.text === 'notin')) {
        i++;
        const open = toks[i];
        if (!open || open.text !== '(') fail(`found '${open?.text ?? ''}', expected: '('`);
        i++;
        const values: string[] = [];
        for (;;) {
          const v = toks[i];
          if (!v) fail('found \'\', expected: \')\'');
          if (v!.kind === 'op' && v!.text === ')') {
            i++;
            break;
          }
          if (v!.kind === 'op' && v!.text === ',') {
            // an empty value between commas
            values.push('');
            i++;
            continue;
          }
          if (v!.kind !== 'word') fail(`found '${v!.text}', expected: value`);
          checkValue(v!.text);
          values.push(v!.text);
          i++;
          const sep = toks[i];
          if (sep && sep.kind === 'op' && sep.text === ',') i++;
        }
        if (values.length === 0) fail('for \'in\', \'notin\' operators, values set can\'t be empty');
        reqs.push({ key, op: next.text as 'in' | 'notin', values });
      } else {
        fail(`found '${next.text}', expected: '=', '!=', '==', 'in', notin'`);
      }
    }
    const sep = toks[i];
    if (sep) {
      if (sep.kind !== 'op' || sep.text !== ',') fail(`found '${sep.text}', expected: ','`);
      i++;
      if (i >= toks.length) fail('found \'\', expected: identifier after \',\'');
    }
  }
  return reqs;
}

export function matchLabels(reqs: readonly LabelRequirement[], labels: Record<string, string>): boolean {
  for (const r of reqs) {
    const has = Object.prototype.hasOwnProperty.call(labels, r.key);
    const v = has ? labels[r.key]! : undefined;
    switch (r.op) {
      case 'exists':
        if (!has) return false;
        break;
      case '!':
        if (has) return false;
        break;
      case '=':
      case 'in':
        if (!has || !r.values.includes(v!)) return false;
        break;
      case '!=':
      case 'notin':
        if (has && r.values.includes(v!)) return false;
        break;
      case 'gt':
      case 'lt': {
        if (!has || !/^-?\d+$/.test(v!)) return false;
        const n = Number(v);
        const bound = Number(r.values[0]);
        if (r.op === 'gt' ? !(n > bound) : !(n < bound)) return false;
        break;
      }
    }
  }
  return true;
}

export interface FieldRequirement {
  field: string;
  op: '=' | '!=';
  value: string;
}

/** Splits on unescaped `sep`, keeping escapes for the next stage. */
function splitUnescaped(s: string, sep: string): string[] {
  const out: string[] = [];
  let cur = '';
  for (let i = 0; i < s.length; i++) {
    const c = s[i]!;
    if (c === '\\' && i + 1 < s.length) {
      cur += c + s[i + 1];
      i++;
    } else if (c === sep) {
      out.push(cur);
      cur = '';
    } else cur += c;
  }
  out.push(cur);
  return out;
}

function unescapeField(s: string): string {
  return s.replace(/\\(.)/g, '$1');
}

/** Parses `metadata.name=x,spec.nodeName!=y`; only the listed field labels are accepted. */
export function parseFieldSelector(input: string, allowed: readonly string[]): FieldRequirement[] {
  const out: FieldRequirement[] = [];
  for (const part of splitUnescaped(input, ',')) {
    if (part.trim() === '') continue;
    const m = /^([^=!]+?)\s*(==|!=|=)\s*(.*)$/.exec(part);
    if (!m) throw new SelectorError(`invalid selector: '${input}'; can't understand '${part}'`);
    const field = m[1]!.trim();
    if (!allowed.includes(field)) throw new SelectorError(`field label not supported: ${field}`);
    out.push({ field, op: m[2] === '!=' ? '!=' : '=', value: unescapeField(m[3]!.trim()) });
  }
  return out;
}

/** The text of a dotted field path in an object, as field selectors compare it. */
export function fieldValue(obj: JsonObject, path: string): string {
  let cur: Json | undefined = obj;
  for (const p of path.split('.')) {
    if (!isObject(cur) || !Object.prototype.hasOwnProperty.call(cur, p)) return '';
    cur = cur[p];
  }
  if (cur === undefined || cur === null) return '';
  if (typeof cur === 'string') return cur;
  if (typeof cur === 'number' || typeof cur === 'boolean') return String(cur);
  return JSON.stringify(cur);
}

export function matchFields(reqs: readonly FieldRequirement[], obj: JsonObject): boolean {
  for (const r of reqs) {
    const v = fieldValue(obj, r.field);
    if (r.op === '=' ? v !== r.value : v === r.value) return false;
  }
  return true;
}

/** The name a field selector pins, if it pins exactly one (for RBAC resourceNames on list/watch). */
export function pinnedName(reqs: readonly FieldRequirement[]): string | undefined {
  const r = reqs.find((x) => x.field === 'metadata.name' && x.op === '=');
  return r?.value;
}

// ValidatingAdmissionPolicy (admissionregistration.k8s.io/v1) as kube-apiserver enforces it:
// a policy's matchConstraints and a binding's matchResources select requests (resource rules,
// operations, scope, namespace/object selectors, exclusions), matchConditions narrow them, and
// every validation must hold; a binding's validationActions say whether a failure denies the
// request (Deny), becomes a Warning header (Warn) or is only logged (Audit). Paramless policies only:
// a policy with paramKind fails as its failurePolicy says.
//
// CEL comes from @marcbachmann/cel-js: a maintained, dependency-free, pure-JS evaluator with the
// macros and the Kubernetes string extensions (startsWith, substring, split, ...) policies use; it
// only reads own properties of the values it is given, so a field named `constructor` or
// `__proto__` in an object cannot reach a prototype.
import { parse, type ParseResult } from '@marcbachmann/cel-js';
import type { Logger } from 'pino';
import type { AdmissionOperation } from './objects.js';
import type { UserInfo } from './rbac.js';
import type { ResourceType } from './registry.js';
import { matchLabels, type LabelOp, type LabelRequirement } from './selectors.js';
import type { Store } from './store.js';
import { ApiError, isObject, str, type Json, type JsonObject, type KubeObject, type StatusCause, type StatusReason } from './types.js';

const GROUP = 'admissionregistration.k8s.io';
const POLICIES = `${GROUP}/validatingadmissionpolicies`;
const BINDINGS = `${GROUP}/validatingadmissionpolicybindings`;
const NAMESPACES = '/namespaces';
/** Compiled expressions kept (by source text). */
const CACHE_LIMIT = 1000;

export interface AdmissionRequest {
  operation: AdmissionOperation;
  type: ResourceType;
  namespace: string;
  name: string;
  subresource?: string;
  object: KubeObject | undefined;
  oldObject: KubeObject | undefined;
  user: UserInfo;
  dryRun: boolean;
}

interface Compiled {
  run?: ParseResult;
  error?: string;
}

function strings(v: Json | undefined): string[] {
  return Array.isArray(v) ? v.filter((x): x is string => typeof x === 'string') : [];
}

function objAt(o: JsonObject | undefined, k: string): JsonObject | undefined {
  if (!o || !Object.prototype.hasOwnProperty.call(o, k)) return undefined;
  const v = o[k];
  return isObject(v) ? v : undefined;
}

function listAt(o: JsonObject | undefined, k: string): Json[] {
  if (!o || !Object.prototype.hasOwnProperty.call(o, k)) return [];
  const v = o[k];
  return Array.isArray(v) ? v : [];
}

/** A metav1.LabelSelector as requirements; undefined for an invalid one (which matches nothing). */
export function labelSelector(sel: JsonObject | undefined): LabelRequirement[] | undefined {
  if (!sel) return [];
  const reqs: LabelRequirement[] = [];
  const ml = objAt(sel, 'matchLabels');
  if (ml) for (const [k, v] of Object.entries(ml)) reqs.push({ key: k, op: '=', values: [String(v)] });
  for (const e of listAt(sel, 'matchExpressions')) {
    if (!isObject(e)) return undefined;
    const key = str(e.key) ?? '';
    const ops: Record<string, LabelOp> = { In: 'in', NotIn: 'notin', Exists: 'exists', DoesNotExist: '!' };
    const opName = str(e.operator) ?? '';
    const op = Object.prototype.hasOwnProperty.call(ops, opName) ? ops[opName] : undefined;
    if (!key || !op) return undefined;
    reqs.push({ key, op, values: strings(e.values) });
  }
  return reqs;
}

function labelsOf(o: KubeObject | undefined): Record<string, string> {
  const l = o ? objAt(o.metadata, 'labels') : undefined;
  const out: Record<string, string> = {};
  if (l) for (const [k, v] of Object.entries(l)) if (typeof v === 'string') out[k] = v;
  return out;
}

function ruleMatches(rule: JsonObject, req: AdmissionRequest): boolean {
  const t = req.type;
  const ops = strings(rule.operations);
  if (!ops.includes('*') && !ops.includes(req.operation)) return false;
  const groups = strings(rule.apiGroups);
  if (!groups.includes('*') && !groups.includes(t.group)) return false;
  const versions = strings(rule.apiVersions);
  if (!versions.includes('*') && !versions.includes(t.version)) return false;
  const res = req.subresource ? `${t.plural}/${req.subresource}` : t.plural;
  const resources = strings(rule.resources);
  const resOk = resources.some((r) => r === '*' ? !req.subresource : r === res || r === '*/*' || (req.subresource !== undefined && (r === `*/${req.subresource}` || r === `${t.plural}/*`)));
  if (!resOk) return false;
  const scope = str(rule.scope) ?? '*';
  if (scope === 'Cluster' && t.namespaced) return false;
  if (scope === 'Namespaced' && !t.namespaced) return false;
  const names = strings(rule.resourceNames);
  return names.length === 0 || names.includes(req.name);
}

export class AdmissionPolicies {
  private readonly compiled = new Map<string, Compiled>();

  constructor(
    private readonly store: Store,
    private readonly log: Logger,
  ) {}

  private compile(expr: string): Compiled {
    let c = this.compiled.get(expr);
    if (!c) {
      try {
        c = { run: parse(expr) };
      } catch (err) {
        c = { error: (err as Error).message.split('\n')[0] ?? 'does not compile' };
      }
      if (this.compiled.size >= CACHE_LIMIT) this.compiled.clear();
      this.compiled.set(expr, c);
    }
    return c;
  }

  /** The compile errors of a policy's expressions (a policy that does not compile is refused, 422). */
  causes(policy: KubeObject): StatusCause[] {
    const spec = objAt(policy, 'spec') ?? {};
    const out: StatusCause[] = [];
    const check = (field: string, expr: Json | undefined): void => {
      if (typeof expr !== 'string' || expr.trim() === '') {
        out.push({ field, reason: 'FieldValueRequired', message: 'Required value: expression is required' });
        return;
      }
      const c = this.compile(expr);
      if (c.error) out.push({ field, reason: 'FieldValueInvalid', message: `Invalid value: ${JSON.stringify(expr)}: compilation failed: ${c.error}` });
    };
    listAt(spec, 'validations').forEach((v, i) => {
      if (!isObject(v)) return;
      check(`spec.validations[${i}].expression`, v.expression);
      if (typeof v.messageExpression === 'string') check(`spec.validations[${i}].messageExpression`, v.messageExpression);
    });
    listAt(spec, 'matchConditions').forEach((v, i) => isObject(v) && check(`spec.matchConditions[${i}].expression`, v.expression));
    listAt(spec, 'variables').forEach((v, i) => isObject(v) && check(`spec.variables[${i}].expression`, v.expression));
    if (listAt(spec, 'validations').length === 0 && listAt(spec, 'auditAnnotations').length === 0) {
      out.push({ field: 'spec.validations', reason: 'FieldValueRequired', message: 'Required value: validations or auditAnnotations must contain at least one item' });
    }
    return out;
  }

  /**
   * Evaluates every binding that applies to the request. Throws the denial of the first failed
   * validation of a Deny binding; returns the warnings of Warn bindings.
   */
  admit(req: AdmissionRequest): string[] {
    // as in Kubernetes, the policies cannot lock their own kinds away
    if (req.type.group === GROUP) return [];
    const bindings = this.store.list(BINDINGS);
    if (bindings.length === 0) return [];
    const warnings: string[] = [];
    for (const be of bindings) {
      const binding = be.obj;
      const bspec = objAt(binding, 'spec') ?? {};
      const policyName = str(bspec.policyName) ?? '';
      const policy = this.store.get(POLICIES, '', policyName);
      if (!policy) continue;
      const pspec = objAt(policy, 'spec') ?? {};
      if (!this.matches(objAt(pspec, 'matchConstraints'), req, true)) continue;
      if (objAt(bspec, 'matchResources') && !this.matches(objAt(bspec, 'matchResources'), req, false)) continue;
      const actions = strings(bspec.validationActions);
      const bindingName = str(binding.metadata.name) ?? '';
      const failure = this.evaluate(policyName, pspec, bspec, req);
      if (!failure) continue;
      const text = `ValidatingAdmissionPolicy '${policyName}' with binding '${bindingName}' denied request: ${failure.message}`;
      if (actions.includes('Warn')) warnings.push(`Validation failed for ValidatingAdmissionPolicy '${policyName}' with binding '${bindingName}': ${failure.message}`);
      if (actions.includes('Audit')) this.log.info({ policy: policyName, binding: bindingName, user: req.user.name, resource: req.type.plural, name: req.name, message: failure.message }, 'admission policy audit: validation failed');
      if (actions.includes('Deny')) {
        this.log.info({ policy: policyName, binding: bindingName, user: req.user.name, resource: req.type.plural, name: req.name, operation: req.operation }, 'admission policy denied a request');
        throw new ApiError(failure.code, failure.reason, text, { name: req.name, group: req.type.group, kind: req.type.plural });
      }
    }
    return warnings;
  }

  /** Whether the request is selected by match constraints (required on a policy, optional on a binding). */
  private matches(m: JsonObject | undefined, req: AdmissionRequest, required: boolean): boolean {
    if (!m) return !required;
    const rules = listAt(m, 'resourceRules').filter(isObject);
    if (rules.length === 0 || !rules.some((r) => ruleMatches(r, req))) return false;
    if (listAt(m, 'excludeResourceRules').filter(isObject).some((r) => ruleMatches(r, req))) return false;
    const obj = req.object ?? req.oldObject;
    const objSel = labelSelector(objAt(m, 'objectSelector'));
    if (!objSel) return false;
    if (objSel.length > 0) {
      // on an update, the selector matching either the old or the new object is enough
      const hit = [req.object, req.oldObject].some((o) => o !== undefined && matchLabels(objSel, labelsOf(o)));
      if (!hit) return false;
    }
    const nsSel = labelSelector(objAt(m, 'namespaceSelector'));
    if (!nsSel) return false;
    if (nsSel.length > 0) {
      const isNamespace = req.type.group === '' && req.type.plural === 'namespaces';
      if (req.type.namespaced) {
        if (!matchLabels(nsSel, labelsOf(this.store.get(NAMESPACES, '', req.namespace)))) return false;
      } else if (isNamespace) {
        if (!matchLabels(nsSel, labelsOf(obj))) return false;
      }
    }
    return true;
  }

  private evaluate(policyName: string, pspec: JsonObject, bspec: JsonObject, req: AdmissionRequest): { message: string; code: number; reason: StatusReason } | undefined {
    const failurePolicy = str(pspec.failurePolicy) ?? 'Fail';
    const fail = (message: string): { message: string; code: number; reason: StatusReason } | undefined =>
      failurePolicy === 'Ignore' ? undefined : { message, code: 422, reason: 'Invalid' };
    if (objAt(pspec, 'paramKind')) {
      this.log.warn({ policy: policyName }, 'admission policy with paramKind: parameters are not supported by the embedded API server');
      return fail(`policy ${policyName} uses paramKind; parameters are not supported by this API server`);
    }
    void bspec;
    const ctx: Record<string, unknown> = {
      object: req.object ?? null,
      oldObject: req.oldObject ?? null,
      params: null,
      namespaceObject: req.type.namespaced ? (this.store.get(NAMESPACES, '', req.namespace) ?? null) : null,
      request: {
        kind: { group: req.type.group, version: req.type.version, kind: req.type.kind },
        resource: { group: req.type.group, version: req.type.version, resource: req.type.plural },
        requestKind: { group: req.type.group, version: req.type.version, kind: req.type.kind },
        requestResource: { group: req.type.group, version: req.type.version, resource: req.type.plural },
        subResource: req.subresource ?? '',
        name: req.name,
        namespace: req.type.namespaced ? req.namespace : '',
        operation: req.operation,
        userInfo: { username: req.user.name, uid: req.user.uid ?? '', groups: [...req.user.groups] },
        dryRun: req.dryRun,
      },
    };
    const run = (expr: string): unknown => {
      const c = this.compile(expr);
      if (!c.run) throw new Error(`compilation failed: ${c.error ?? ''}`);
      return c.run(ctx);
    };
    for (const mc of listAt(pspec, 'matchConditions')) {
      if (!isObject(mc) || typeof mc.expression !== 'string') continue;
      try {
        const v = run(mc.expression);
        if (v !== true) return undefined;
      } catch (err) {
        return fail(`failed to evaluate match condition ${str(mc.name) ?? ''}: ${(err as Error).message.split('\n')[0] ?? ''}`);
      }
    }
    const variables: Record<string, unknown> = {};
    ctx.variables = variables;
    for (const v of listAt(pspec, 'variables')) {
      if (!isObject(v) || typeof v.name !== 'string' || typeof v.expression !== 'string') continue;
      try {
        variables[v.name] = run(v.expression);
      } catch (err) {
        return fail(`variable ${v.name} resulted in error: ${(err as Error).message.split('\n')[0] ?? ''}`);
      }
    }
    for (const v of listAt(pspec, 'validations')) {
      if (!isObject(v) || typeof v.expression !== 'string') continue;
      let ok: unknown;
      try {
        ok = run(v.expression);
      } catch (err) {
        const f = fail(`expression '${v.expression}' resulted in error: ${(err as Error).message.split('\n')[0] ?? ''}`);
        if (f) return f;
        continue;
      }
      if (ok === true) continue;
      let message = typeof v.message === 'string' && v.message !== '' ? v.message : `failed expression: ${v.expression}`;
      if (typeof v.messageExpression === 'string') {
        try {
          const m = run(v.messageExpression);
          if (typeof m === 'string' && m.trim() !== '') message = m;
        } catch {
          // the static message stands
        }
      }
      const reason = str(v.reason) ?? 'Invalid';
      const codes: Record<string, [number, StatusReason]> = {
        Unauthorized: [401, 'Unauthorized'],
        Forbidden: [403, 'Forbidden'],
        Invalid: [422, 'Invalid'],
        RequestEntityTooLarge: [413, 'RequestEntityTooLarge'],
      };
      const [code, r] = Object.prototype.hasOwnProperty.call(codes, reason) ? codes[reason]! : [422, 'Invalid' as StatusReason];
      return { message, code, reason: r };
    }
    return undefined;
  }
}

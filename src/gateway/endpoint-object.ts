// An Endpoint as the cable engine's selection reads it: name, creation time (the newest per cluster wins)
// and the typed spec, read through the wire model (k8s/submariner/endpoint.ts).
import { parseEndpoint } from '../k8s/submariner/endpoint.js';
import type { Parsed } from '../k8s/submariner/common.js';
import type { EndpointObject } from '../cable-drivers/engine.js';

export function endpointObject(raw: unknown): Parsed<EndpointObject> {
  const p = parseEndpoint(raw);
  return p.ok ? { ok: true, value: { name: p.value.meta.name, creationTimestamp: p.value.meta.creationTimestamp, spec: p.value.spec } } : p;
}

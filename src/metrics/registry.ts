// A registry per role, with process metrics (CPU, memory, event-loop lag, GC) and build info.
import { Gauge, Registry, collectDefaultMetrics } from 'prom-client';

export interface RegistryOptions {
  /** Node.js process metrics (`process_*`, `nodejs_*`); default true. */
  processMetrics?: boolean;
  /** `hawser_build_info{component, version}` 1, when both are given. */
  component?: string;
  version?: string;
}

export function createRegistry(opts: RegistryOptions = {}): Registry {
  const registry = new Registry();
  if (opts.processMetrics ?? true) collectDefaultMetrics({ register: registry });
  if (opts.component !== undefined && opts.version !== undefined) {
    const info = new Gauge({
      name: 'hawser_build_info',
      help: 'Always 1; labels name the running component and version',
      labelNames: ['component', 'version'],
      registers: [registry],
    });
    info.set({ component: opts.component, version: opts.version }, 1);
  }
  return registry;
}

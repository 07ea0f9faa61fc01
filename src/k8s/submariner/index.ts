// The submariner.io/v1 wire model: one module per kind, each with typed parse and ToWire.
export * from './common.js';
export * from './endpoint.js';
export * from './cluster.js';
export * from './gateway.js';
export * from './routeagent.js';
export * from './globalnet.js';
export * from './duration.js';

// A standalone strongSwan VICI client (no hawser imports): codec, queueing client, typed commands.
export * from './errors.js';
export * from './codec.js';
export { ViciBaseClient, type ViciClientOptions, type RequestOptions, type ViciLogFn, type ViciEventHandler, type ViciConnectionListener } from './client.js';
export * from './commands.js';
export * from './types.js';

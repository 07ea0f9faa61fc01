// Moved to test/support/apiserver.ts (one home for test support); kept so importers in other folders keep working.
export * from '../support/apiserver.js';

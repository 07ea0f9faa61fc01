// Moved to test/support/lab.ts (one home for test support); kept so existing importers keep working.
export { apiServerAvailable, assertNothingLeft, rootLabLinks } from '../support/lab.js';

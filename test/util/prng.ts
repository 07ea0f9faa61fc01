// Moved to test/support/prng.ts (one home for test support); kept so importers in other folders keep working.
export { seededRandom } from '../support/prng.js';

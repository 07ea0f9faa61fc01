// The natdiscovery tests' namespace lab is the shared harness (test/support/netns.ts), under its old names.
export { NetnsHarness as NetLab, type NetnsProc as Proc } from '../../support/netns.js';

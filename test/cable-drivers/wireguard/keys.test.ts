import assert from 'node:assert/strict';
import { publicKeyOf } from '../../../src/cable-drivers/wireguard/wgctrl/index.js';
import { K1, K2, K3 } from './fixtures.js';

describe('wireguard keys: publicKeyOf', () => {
  it('gives each private key its own public key (as `wg pubkey`), also when keys alternate and repeat', () => {
    // The last answer is remembered: a repeat must come from the memo and a different key must not.
    for (const k of [K1, K1, K2, K1, K3, K3, K2]) assert.equal(publicKeyOf(k.priv), k.pub);
  });
});

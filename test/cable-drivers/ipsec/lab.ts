// The IPsec test lab is test/support/ipsec-lab.ts; this re-export keeps bench/cables/ipsec.ts's import working
// until its owner points it there.
export * from '../../support/ipsec-lab.js';

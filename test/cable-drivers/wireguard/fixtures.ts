// Fixed keys (made with `wg genkey`/`wg pubkey`) in both spellings, for hand-written transcripts.
export const K1 = {
  priv: 'UKMkEcx3tq6MyRmLpt91KdyzASy6GWXBbmCMcW0Vhlc=',
  privHex: '50a32411cc77b6ae8cc9198ba6df7529dcb3012cba1965c16e608c716d158657',
  pub: 'rBFGV22YyxZkl7aHNyWxH/biilzqeDR8lsQ24VuIN0Y=',
  pubHex: 'ac1146576d98cb166497b6873725b11ff6e28a5cea78347c96c436e15b883746',
};
export const K2 = {
  priv: '8IZ1k/msX/NF+pE0IberIg3vd8rTyz8m5yntdZupYEk=',
  privHex: 'f0867593f9ac5ff345fa913421b7ab220def77cad3cb3f26e729ed759ba96049',
  pub: '+THrSupBn0RwLOjhBNrWvsKK/PTDgxrxz9J5zP/WV1s=',
  pubHex: 'f931eb4aea419f44702ce8e104dad6bec28afcf4c3831af1cfd279ccffd6575b',
};
export const K3 = {
  priv: 'iLxpCVP+HxPhwOjGobwD4vPkPcwDd8EJ9Y/oMgYKt3o=',
  privHex: '88bc690953fe1f13e1c0e8c6a1bc03e2f3e43dcc0377c109f58fe832060ab77a',
  pub: 'fcsn7RSpmeWVbmsdKFPCp0ZRNtnRfZGulEVw4rxiEzA=',
  pubHex: '7dcb27ed14a999e5956e6b1d2853c2a7465136d9d17d91ae944570e2bc621330',
};
/** SHA-256("secret-psk"), base64 and hex. */
export const PSK = {
  text: 'secret-psk',
  key: 'fbEw4RBFJBRdsHX6TrpSP7dI122rbIYPOYaosrKlJ7c=',
  hex: Buffer.from('fbEw4RBFJBRdsHX6TrpSP7dI122rbIYPOYaosrKlJ7c=', 'base64').toString('hex'),
};
export const ZERO_HEX = '0'.repeat(64);

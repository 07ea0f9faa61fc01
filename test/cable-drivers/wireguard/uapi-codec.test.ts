import assert from 'node:assert/strict';
import { isHawserError } from '../../../src/util/errors.js';
import {
  generatePrivateKey, keyProblem, keyToBytes, parseUapiGet, parseUapiSetReply, presharedKeyFromText, publicKeyOf, renderUapiSet, WgErrnoError,
  ZERO_KEY, type Config, type Device,
} from '../../../src/cable-drivers/wireguard/wgctrl/index.js';
import { K1, K2, K3, PSK, ZERO_HEX } from './fixtures.js';

// A whole `get=1` reply as wireguard-go 0.0.20220316 prints it (captured here, keys replaced).
const OK_GET = [
  `private_key=${K1.privHex}`,
  'listen_port=4500',
  'fwmark=51820',
  `public_key=${K2.pubHex}`,
  `preshared_key=${PSK.hex}`,
  'protocol_version=1',
  'endpoint=192.0.2.7:4500',
  'last_handshake_time_sec=1700000000',
  'last_handshake_time_nsec=250000000',
  'tx_bytes=1184',
  'rx_bytes=92',
  'persistent_keepalive_interval=10',
  'allowed_ip=10.2.0.0/16',
  'allowed_ip=fd00:2::/64',
  `public_key=${K3.pubHex}`,
  `preshared_key=${ZERO_HEX}`,
  'protocol_version=1',
  'endpoint=[2001:db8::7]:51820',
  'last_handshake_time_sec=0',
  'last_handshake_time_nsec=0',
  'tx_bytes=0',
  'rx_bytes=0',
  'persistent_keepalive_interval=0',
  'errno=0',
  '',
  '',
].join('\n');

const OK_DEVICE: Device = {
  name: 'wg-t',
  type: 'userspace',
  privateKey: K1.priv,
  publicKey: K1.pub,
  listenPort: 4500,
  fwmark: 51820,
  peers: [
    {
      publicKey: K2.pub,
      presharedKey: PSK.key,
      endpoint: '192.0.2.7:4500',
      persistentKeepaliveIntervalSec: 10,
      lastHandshakeMs: 1_700_000_000_250,
      rxBytes: 92,
      txBytes: 1184,
      allowedIPs: ['10.2.0.0/16', 'fd00:2::/64'],
      protocolVersion: 1,
    },
    {
      publicKey: K3.pub,
      presharedKey: ZERO_KEY,
      endpoint: '[2001:db8::7]:51820',
      persistentKeepaliveIntervalSec: 0,
      lastHandshakeMs: 0,
      rxBytes: 0,
      txBytes: 0,
      allowedIPs: [],
      protocolVersion: 1,
    },
  ],
};

describe('wireguard UAPI codec', () => {
  describe('parseUapiGet', () => {
    it('parses a whole reply (device, two peers, IPv6 endpoint)', () => {
      assert.deepEqual(parseUapiGet(OK_GET, 'wg-t'), OK_DEVICE);
    });

    it('parses a fresh device (no key, no peers)', () => {
      assert.deepEqual(parseUapiGet('listen_port=38713\nerrno=0\n\n', 'wg-x'), { name: 'wg-x', type: 'userspace', listenPort: 38713, fwmark: 0, peers: [] });
    });

    it('ignores unknown keys (newer daemons)', () => {
      const dev = parseUapiGet(`listen_port=1\nshiny_new_key=42\npublic_key=${K2.pubHex}\nanother_peer_key=x\nerrno=0\n\n`);
      assert.equal(dev.peers.length, 1);
      assert.equal(dev.listenPort, 1);
    });

    const errorCases: Array<{ name: string; text: string; want: RegExp; errno?: number }> = [
      { name: 'errno from the device', text: 'errno=-22\n\n', want: /EINVAL \(-22\)/, errno: -22 },
      { name: 'errno 2', text: 'errno=2\n\n', want: /ENOENT/, errno: 2 },
      { name: 'line without =', text: 'listen_port\nerrno=0\n\n', want: /malformed line "listen_port"/ },
      { name: 'line with two =', text: 'listen_port=1=2\nerrno=0\n\n', want: /malformed line/ },
      { name: 'empty key', text: '=1\nerrno=0\n\n', want: /malformed line/ },
      { name: 'invalid listen_port', text: 'listen_port=abc\nerrno=0\n\n', want: /invalid listen_port "abc"/ },
      { name: 'listen_port out of range', text: 'listen_port=65536\nerrno=0\n\n', want: /invalid listen_port/ },
      { name: 'invalid fwmark', text: 'fwmark=-1\nerrno=0\n\n', want: /invalid fwmark/ },
      { name: 'short public_key', text: 'public_key=abcd\nerrno=0\n\n', want: /invalid public_key: expected 64 hex digits, got 4/ },
      { name: 'non-hex private_key', text: `private_key=${'z'.repeat(64)}\nerrno=0\n\n`, want: /invalid private_key/ },
      { name: 'peer key before public_key', text: 'endpoint=192.0.2.1:1\nerrno=0\n\n', want: /endpoint before any public_key/ },
      { name: 'invalid endpoint', text: `public_key=${K2.pubHex}\nendpoint=example.com:1\nerrno=0\n\n`, want: /invalid endpoint "example.com:1"/ },
      { name: 'invalid allowed_ip', text: `public_key=${K2.pubHex}\nallowed_ip=10.0.0.0/33\nerrno=0\n\n`, want: /invalid allowed_ip "10.0.0.0\/33"/ },
      { name: 'invalid handshake nsec', text: `public_key=${K2.pubHex}\nlast_handshake_time_nsec=1000000000\nerrno=0\n\n`, want: /invalid last_handshake_time_nsec/ },
      { name: 'truncated (no errno)', text: 'listen_port=1\n', want: /truncated reply/ },
      { name: 'errno without the closing empty line', text: 'errno=0\n', want: /truncated reply/ },
      { name: 'line after errno', text: 'errno=0\nlisten_port=1\n\n', want: /after errno/ },
      { name: 'first error wins', text: 'listen_port=x\nfwmark=y\nerrno=-22\n\n', want: /invalid listen_port "x"/ },
    ];
    for (const c of errorCases) {
      it(`rejects: ${c.name}`, () => {
        assert.throws(() => parseUapiGet(c.text, 'wg-t'), (err: unknown) => {
          assert.ok(isHawserError(err), `not a HawserError: ${String(err)}`);
          assert.match(err.message, c.want);
          if (c.errno !== undefined) {
            assert.ok(err instanceof WgErrnoError);
            assert.equal(err.errno, c.errno);
            assert.equal(err.code, 'UAPI_ERRNO');
          } else assert.equal(err.code, 'INVALID');
          return true;
        });
      });
    }
  });

  describe('renderUapiSet', () => {
    it('renders every field in protocol order', () => {
      const cfg: Config = {
        privateKey: K1.priv,
        listenPort: 4500,
        fwmark: 0,
        replacePeers: true,
        peers: [
          { publicKey: K2.pub, updateOnly: true, presharedKey: PSK.key, endpoint: '192.0.2.7:4500', persistentKeepaliveIntervalSec: 10, replaceAllowedIPs: true, allowedIPs: ['10.2.0.0/16', 'fd00:2::/64'] },
          { publicKey: K3.pub, remove: true, endpoint: '192.0.2.9:1' },
        ],
      };
      assert.equal(
        renderUapiSet(cfg),
        [
          'set=1',
          `private_key=${K1.privHex}`,
          'listen_port=4500',
          'fwmark=0',
          'replace_peers=true',
          `public_key=${K2.pubHex}`,
          'update_only=true',
          `preshared_key=${PSK.hex}`,
          'endpoint=192.0.2.7:4500',
          'persistent_keepalive_interval=10',
          'replace_allowed_ips=true',
          'allowed_ip=10.2.0.0/16',
          'allowed_ip=fd00:2::/64',
          `public_key=${K3.pubHex}`,
          'remove=true',
          '',
          '',
        ].join('\n'),
      );
    });

    it('writes only the fields that are set', () => {
      assert.equal(renderUapiSet({}), 'set=1\n\n');
      assert.equal(renderUapiSet({ peers: [{ publicKey: K2.pub, endpoint: '[2001:db8::1]:4500' }] }), `set=1\npublic_key=${K2.pubHex}\nendpoint=[2001:db8::1]:4500\n\n`);
      assert.equal(renderUapiSet({ peers: [{ publicKey: K2.pub, presharedKey: ZERO_KEY }] }), `set=1\npublic_key=${K2.pubHex}\npreshared_key=${ZERO_HEX}\n\n`);
      assert.equal(renderUapiSet({ peers: [{ publicKey: K2.pub, replaceAllowedIPs: true, allowedIPs: [] }] }), `set=1\npublic_key=${K2.pubHex}\nreplace_allowed_ips=true\n\n`);
    });

    const bad: Array<{ name: string; cfg: Config; want: RegExp }> = [
      { name: 'invalid private key', cfg: { privateKey: 'nope' }, want: /invalid private key/ },
      { name: 'listen port out of range', cfg: { listenPort: 70000 }, want: /invalid listen port 70000/ },
      { name: 'hostname endpoint', cfg: { peers: [{ publicKey: K2.pub, endpoint: 'gw.example:4500' }] }, want: /invalid endpoint "gw.example:4500"/ },
      { name: 'bad allowed IP', cfg: { peers: [{ publicKey: K2.pub, allowedIPs: ['10.0.0.0'] }] }, want: /invalid allowed IP "10.0.0.0"/ },
      { name: 'bad peer key', cfg: { peers: [{ publicKey: K2.pub.slice(1) }] }, want: /44 base64 characters/ },
    ];
    for (const c of bad) {
      it(`refuses: ${c.name}`, () => {
        assert.throws(() => renderUapiSet(c.cfg), (err: unknown) => isHawserError(err, 'INVALID') && c.want.test(err.message));
      });
    }
  });

  describe('parseUapiSetReply', () => {
    it('accepts exactly errno=0', () => {
      parseUapiSetReply('errno=0\n\n');
    });
    it('turns errno into WgErrnoError', () => {
      assert.throws(() => parseUapiSetReply('errno=-71\n\n', 'wg-t'), (err: unknown) => err instanceof WgErrnoError && err.errno === -71 && /UAPI set on wg-t.*EPROTO/.test(err.message));
    });
    it('rejects anything else', () => {
      assert.throws(() => parseUapiSetReply('ok\n\n'), /unexpected reply/);
    });
  });

  describe('keys', () => {
    it('derives the public key as wg pubkey does', () => {
      assert.equal(publicKeyOf(K1.priv), K1.pub);
      assert.equal(publicKeyOf(K2.priv), K2.pub);
    });
    it('generates clamped private keys', () => {
      for (let i = 0; i < 20; i++) {
        const k = keyToBytes(generatePrivateKey());
        assert.equal(k[0]! & 7, 0);
        assert.equal(k[31]! & 0x80, 0);
        assert.equal(k[31]! & 0x40, 0x40);
      }
    });
    it('derives the preshared key as SHA-256 of the PSK text', () => {
      assert.equal(presharedKeyFromText(PSK.text), PSK.key);
    });
    it('says what is wrong with a key', () => {
      assert.equal(keyProblem(K1.pub), undefined);
      assert.match(keyProblem('abc') ?? '', /44 base64 characters.*got 3/);
      assert.match(keyProblem(`${K1.pub.slice(0, 42)}B=`) ?? '', /not/);
      assert.match(keyProblem('!'.repeat(43) + '=') ?? '', /standard base64/);
    });
  });
});

// hawser's WireGuard control module: one API (WgClient) over wireguard-go's UAPI socket and kernel
// WireGuard's generic netlink family, shaped after wgctrl-go.
export type { Config, Device, DeviceType, Peer, PeerConfig, WgClient } from './types.js';
export { WgErrnoError, WgProtocolError, errnoName } from './errors.js';
export {
  KEY_LEN, ZERO_KEY, generatePresharedKey, generatePrivateKey, isZeroKey, keyFromBytes, keyFromHex, keyProblem, keyToBytes, keyToHex,
  parseKey, presharedKeyFromText, publicKeyOf,
} from './keys.js';
export { formatEndpoint, isCidr, parseEndpoint, parseUapiGet, parseUapiSetReply, renderUapiSet } from './uapi-codec.js';
export { defaultDial, uapiRoundTrip, type Dial, type RoundTripOptions } from './uapi-conn.js';
export { DEFAULT_SOCKET_DIR, UapiClient, type UapiClientOptions } from './uapi-client.js';
export {
  NetlinkClient, WG_CMD_GET_DEVICE, WG_CMD_SET_DEVICE, WG_GENL_NAME, WG_GENL_VERSION, decodeDeviceAttrs, decodeDeviceDump, encodeConfig,
  openKernelTransport,
  type GenlReply, type GenlTransport,
} from './netlink-client.js';
export { openKernelClient, type BackendChoice } from './client.js';

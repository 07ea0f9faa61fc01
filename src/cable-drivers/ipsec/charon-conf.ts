// hawser's own strongswan.conf for its own charon: an explicit plugin list (nothing that wants fixed paths:
// no stroke, lookip, error-notify, updown, resolve), its own VICI socket and log file, so it never fights a
// system strongSwan and two charons can run on one machine (one per network namespace).

export interface CharonConfOptions {
  viciSocket: string;
  logFile: string;
  /** kernel-libipsec: ESP in userspace through a TUN device, for kernels without ESP/XFRM. */
  userspace: boolean;
  /** CE_IPSEC_IKEPORT (charon.port); 0 picks a random port. */
  ikePort: number;
  /** The NAT-T port IKE is sent from and received on (charon.port_nat_t). */
  nattPort: number;
  debug: boolean;
  /** Where charon puts its routes into the TUN device (userspace mode). Default 220, as strongSwan. */
  routingTable?: number;
}

/** Plugins, in load order: kernel-libipsec must come before kernel-netlink. */
export function charonPlugins(userspace: boolean): string[] {
  return [
    'random', 'nonce', 'openssl', 'aes', 'sha1', 'sha2', 'hmac', 'gcm', 'kdf', 'gmp',
    ...(userspace ? ['kernel-libipsec'] : []),
    'kernel-netlink', 'socket-default', 'vici',
  ];
}

export const CHARON_ROUTING_TABLE = 220;

/**
 * Routing: with kernel-libipsec nothing but a route sends packets into charon's TUN device, so charon keeps
 * installing its own routes (table 220, rule priority 220, source = our address inside the local subnet):
 * it knows the device and adds/removes each route together with its SA (and a kernel-removed TUN takes
 * them along when charon dies). With kernel XFRM the policies catch the traffic, so, like Submariner's
 * libreswan, hawser's charon installs no routes and leaves routing to the route agent.
 */
export function renderStrongswanConf(o: CharonConfOptions): string {
  const table = o.routingTable ?? CHARON_ROUTING_TABLE;
  const level = o.debug ? 2 : 1;
  // An IKE port equal to the NAT-T port would make socket-default bind the same port twice.
  const ikePort = o.ikePort === o.nattPort ? 0 : o.ikePort;
  return `# Written by hawser: the configuration of hawser's own charon. Do not edit; hawser rewrites it.
charon {
  load_modular = no
  load = ${charonPlugins(o.userspace).join(' ')}
  port = ${ikePort}
  port_nat_t = ${o.nattPort}
  install_routes = ${o.userspace ? 'yes' : 'no'}
  install_virtual_ip = no
  routing_table = ${table}
  routing_table_prio = ${table}
  make_before_break = yes
  # A silent peer is given up after ~25 s (2+3+4.5+6.8+10 s) instead of strongSwan's 165 s.
  retransmit_timeout = 2.0
  retransmit_base = 1.5
  retransmit_tries = 4
  cisco_unity = no
  plugins {
    vici {
      socket = unix://${o.viciSocket}
    }
  }
  filelog {
    hawser {
      path = ${o.logFile}
      append = yes
      flush_line = yes
      time_format = %Y-%m-%dT%H:%M:%S
      ike_name = yes
      default = ${level}
      ike = ${level}
      cfg = ${level}
      knl = ${level}
    }
  }
  syslog {
    daemon {
      default = -1
    }
  }
}
charon-systemd {
  # hawser reads charon's log file (and its VICI log events); no journal duplicates.
  journal {
    default = -1
  }
}
`;
}

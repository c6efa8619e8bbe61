// SPDX-License-Identifier: MIT
// The options tcpserver(1) and tcpclient(1) share, each one line of a table as in the getopt loops of
// tcpserver.c and tcpclient.c (ucspi-tcp-ipv6 adds -4, -6 and -I to both). Each program spreads this
// table into its own.

export interface SharedOpts {
  verbosity: number;
  delay: boolean;
  remoteinfo: boolean;
  remotehost: boolean;
  noipv6: boolean;
  forcev6: boolean;
  iface?: string | undefined;
}

export const SHARED_SET: Record<string, (o: SharedOpts, arg: string | undefined) => void> = {
  d: (o) => {
    o.delay = true;
  },
  D: (o) => {
    o.delay = false;
  },
  v: (o) => {
    o.verbosity = 2;
  },
  q: (o) => {
    o.verbosity = 0;
  },
  Q: (o) => {
    o.verbosity = 1;
  },
  H: (o) => {
    o.remotehost = false;
  },
  h: (o) => {
    o.remotehost = true;
  },
  R: (o) => {
    o.remoteinfo = false;
  },
  r: (o) => {
    o.remoteinfo = true;
  },
  "4": (o) => {
    o.noipv6 = true;
  },
  "6": (o) => {
    o.forcev6 = true;
  },
  I: (o, a) => {
    o.iface = a;
  },
};

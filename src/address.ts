import { BlockList, isIP } from 'node:net';

/** IP address arithmetic shared by the parameter validators, the lockout guard and the lab. */

/** An IPv4 or IPv6 literal as an integer (IPv6 may carry an embedded IPv4 tail). */
export function ipToBigInt(ip: string): bigint {
  if (isIP(ip) === 4) return ip.split('.').reduce((acc, o) => (acc << 8n) + BigInt(Number(o)), 0n);
  let text = ip;
  // An embedded IPv4 tail (::ffff:1.2.3.4) becomes two hex groups.
  const m = /^(.*:)(\d+\.\d+\.\d+\.\d+)$/.exec(text);
  if (m) {
    const n = ipToBigInt(m[2]!);
    text = `${m[1]}${(n >> 16n).toString(16)}:${(n & 0xffffn).toString(16)}`;
  }
  const [head = '', tail] = text.split('::');
  const h = head ? head.split(':') : [];
  const t = tail ? tail.split(':') : [];
  const groups = tail === undefined ? h : [...h, ...Array<string>(8 - h.length - t.length).fill('0'), ...t];
  return groups.reduce((acc, g) => (acc << 16n) + BigInt(parseInt(g || '0', 16)), 0n);
}

/** Is `address` equal to, or inside, `block` (an address or a prefix)? Same family only. */
export function addressWithin(address: string, block: string): boolean {
  const [net = '', lenText] = block.split('/');
  const family = isIP(address);
  if (family === 0 || isIP(net) !== family) return false;
  const type = family === 4 ? 'ipv4' : 'ipv6';
  const list = new BlockList();
  if (lenText === undefined) list.addAddress(net, type);
  else list.addSubnet(net, Number(lenText), type);
  return list.check(address, type);
}

/** `--listen` parsing and the address written into sturdy refs. */
import test from 'ava';
import type { NetworkInterfaceInfo } from 'node:os';
import { advertisedHost, formatAddress, parseListenAddress } from '../../runtime/tcp.js';

test('--listen takes ADDR:PORT, [v6]:PORT or a bare port (loopback)', (t) => {
  t.deepEqual(parseListenAddress('127.0.0.1:7420'), { host: '127.0.0.1', port: 7420 });
  t.deepEqual(parseListenAddress('0.0.0.0:0'), { host: '0.0.0.0', port: 0 });
  t.deepEqual(parseListenAddress('[::1]:7420'), { host: '::1', port: 7420 });
  t.deepEqual(parseListenAddress('localhost:80'), { host: 'localhost', port: 80 });
  t.deepEqual(parseListenAddress('7420'), { host: '127.0.0.1', port: 7420 });
  for (const bad of ['', 'nowhere', '127.0.0.1', '127.0.0.1:70000', '::1:7420', '[::1]', 'a:b']) {
    t.throws(() => parseListenAddress(bad), { name: 'UsageError' }, bad);
  }
});

const nic = (address: string, family: 'IPv4' | 'IPv6', internal = false) =>
  ({ address, family, internal, netmask: '', mac: '', cidr: null }) as unknown as NetworkInterfaceInfo;

test('a wildcard listener advertises a real address of this machine, else the host name', (t) => {
  const ifaces = {
    lo: [nic('127.0.0.1', 'IPv4', true), nic('::1', 'IPv6', true)],
    eth0: [nic('fe80::1', 'IPv6'), nic('2001:db8::5', 'IPv6'), nic('192.0.2.7', 'IPv4')],
  };
  t.is(advertisedHost('127.0.0.1', ifaces, 'box'), '127.0.0.1', 'a specific address is kept');
  t.is(advertisedHost('0.0.0.0', ifaces, 'box'), '192.0.2.7');
  t.is(advertisedHost('::', { eth0: [nic('2001:db8::5', 'IPv6')] }, 'box'), '2001:db8::5');
  t.is(advertisedHost('0.0.0.0', { lo: [nic('127.0.0.1', 'IPv4', true)] }, 'box'), 'box');
});

test('formatAddress brackets IPv6 hosts, and what it prints parses back to the same address', (t) => {
  t.is(formatAddress('::1', 7420), '[::1]:7420');
  t.is(formatAddress('2001:db8::5', 1), '[2001:db8::5]:1');
  t.is(formatAddress('[::1]', 2), '[::1]:2', 'an already bracketed host is kept');
  t.is(formatAddress('127.0.0.1', 7420), '127.0.0.1:7420');
  t.is(formatAddress('box', 80), 'box:80');
  for (const [host, port] of [['::1', 7420], ['fe80::1:2', 0], ['0.0.0.0', 65535], ['localhost', 9]] as const) {
    t.deepEqual(parseListenAddress(formatAddress(host, port)), { host, port }, `${host} ${port}`);
  }
});

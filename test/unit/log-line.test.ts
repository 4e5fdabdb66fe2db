import '@endo/init';
import test from 'ava';
import { sanitizeLogLine } from '../../vats/supervisor.js';

test('a vat log line cannot break into several host lines or forge control output', (t) => {
  const forged = sanitizeLogLine('[x] hi\nready pid=1\r\u001b[2J\u2028end');
  for (const c of ['\n', '\r', '\u001b', '\u2028']) t.false(forged.includes(c));
  t.is(forged, '[x] hi\\nready pid=1\\u000d\\u001b[2J\\u2028end');
});

test('a vat log line is capped', (t) => {
  t.is(sanitizeLogLine('y'.repeat(10_000)).length, 4096);
});

import assert from 'node:assert/strict';
import { classify, nftFailure, parseNftErrors } from '../../src/os/nftables/errors.js';

describe('os/nft error translation', () => {
  const cases: { name: string; text: string; want: ReturnType<typeof parseNftErrors> }[] = [
    {
      name: 'libnftables buffer: message, line, carets',
      text: 'Error: No such file or directory\nlist table ip nosuch\n              ^^^^^^\n',
      want: [{ message: 'No such file or directory', line: 'list table ip nosuch' }],
    },
    {
      name: 'nft -f - prefixes a location',
      text: '/dev/stdin:2:40-44: Error: syntax error, unexpected bogus\n chain a { type filter hook input priority filter; bogus }\n                                       ^^^^^\n',
      want: [{ message: 'syntax error, unexpected bogus', line: 'chain a { type filter hook input priority filter; bogus }' }],
    },
    {
      name: 'two errors, the second without a line',
      text: 'Error: syntax error, unexpected }\nadd table ip x }\n                ^\nError: syntax error, unexpected end of file\n',
      want: [{ message: 'syntax error, unexpected }', line: 'add table ip x }' }, { message: 'syntax error, unexpected end of file' }],
    },
    { name: 'free text', text: 'cannot run nft: spawn nft ENOENT\n', want: [{ message: 'cannot run nft: spawn nft ENOENT' }] },
  ];
  for (const c of cases) it(c.name, () => assert.deepEqual(parseNftErrors(c.text), c.want));

  it('long command lines are cut in the message', () => {
    const line = `add element ip t m { ${Array.from({ length: 500 }, (_, i) => `10.0.${i >> 8}.${i & 255}`).join(', ')} }`;
    const e = nftFailure(`Error: No such file or directory\n${line}\n               ^^^^^\n`, line, ' (netns x)');
    assert.equal(e.code, 'NFT');
    assert.equal(e.failure, 'not-found');
    assert.ok(e.message.length < 260, e.message);
    assert.match(e.message, /^nft \(netns x\): No such file or directory in `add element ip t m \{ 10\.0\.0\.0, .*… \(\d+ chars\)`$/);
  });

  it('classifies errno texts', () => {
    assert.deepEqual(
      ['No such file or directory', 'Could not process rule: File exists', 'Device or resource busy', 'syntax error, unexpected x', 'interval overlaps with an existing one', 'Operation not permitted', 'No buffer space available', 'Protocol not supported'].map(classify),
      ['not-found', 'exists', 'busy', 'syntax', 'invalid', 'permission', 'no-buffer', 'other'],
    );
  });
});

// A reader for the YAML that kubeconfigs are written in (kubectl, client-go, the lab): block mappings and
// sequences, plain and quoted one-line scalars, `{}`/`[]`, comments. The full `yaml` package (~840 kB of
// modules) is more than the roles need at start; this covers what kubeconfig writers emit, and throws UnsupportedYaml for
// anything else (anchors, tags, block or multi-line scalars, non-empty flow collections), so that the
// caller can fall back to the full parser.

export class UnsupportedYaml extends Error {
  constructor(line: number, what: string) {
    super(`line ${line}: ${what}`);
    this.name = 'UnsupportedYaml';
  }
}

interface Line {
  no: number;
  indent: number;
  text: string;
}

type Value = string | number | boolean | null | Value[] | { [k: string]: Value };

/** Cuts a trailing comment (` #…`) that is outside quotes. */
function stripComment(s: string): string {
  let quote: string | undefined;
  for (let i = 0; i < s.length; i++) {
    const c = s[i]!;
    if (quote) {
      if (c === quote) quote = undefined;
    } else if (c === '"' || c === "'") quote = c;
    else if (c === '#' && (i === 0 || s[i - 1] === ' ')) return s.slice(0, i);
  }
  return s;
}

function toLines(text: string): Line[] {
  const out: Line[] = [];
  text.split(/\r?\n/).forEach((raw, i) => {
    if (/^\t| \t/.test(raw) && raw.trim()) throw new UnsupportedYaml(i + 1, 'tab indentation');
    const body = stripComment(raw).replace(/\s+$/, '');
    if (!body.trim()) return;
    if (i === 0 && body === '---') return;
    if (body === '---' || body === '...') throw new UnsupportedYaml(i + 1, 'several documents');
    const indent = body.length - body.trimStart().length;
    out.push({ no: i + 1, indent, text: body.slice(indent) });
  });
  return out;
}

function scalar(s: string, no: number): Value {
  if (s.startsWith('"')) {
    if (!s.endsWith('"') || s.length < 2) throw new UnsupportedYaml(no, 'unterminated or multi-line double-quoted scalar');
    try {
      return JSON.parse(s) as string;
    } catch {
      throw new UnsupportedYaml(no, 'double-quoted escape beyond JSON');
    }
  }
  if (s.startsWith("'")) {
    if (!s.endsWith("'") || s.length < 2) throw new UnsupportedYaml(no, 'unterminated or multi-line single-quoted scalar');
    const inner = s.slice(1, -1);
    if (/'(?!')/.test(inner.replace(/''/g, ''))) throw new UnsupportedYaml(no, 'stray quote');
    return inner.replace(/''/g, "'");
  }
  if (s === '{}') return {};
  if (s === '[]') return [];
  if (/^[[{&*!|>%@`]/.test(s)) throw new UnsupportedYaml(no, `unsupported value ${JSON.stringify(s.slice(0, 20))}`);
  if (s === 'true' || s === 'True' || s === 'TRUE') return true;
  if (s === 'false' || s === 'False' || s === 'FALSE') return false;
  if (s === 'null' || s === 'Null' || s === 'NULL' || s === '~') return null;
  if (/^-?(0|[1-9][0-9]*)$/.test(s)) return Number(s);
  return s;
}

/** Splits `key: value` (value may be empty); undefined if the line is not a mapping entry. */
function splitKey(text: string, no: number): { key: string; rest: string } | undefined {
  if (text.startsWith('"') || text.startsWith("'")) {
    const q = text[0]!;
    const end = text.indexOf(q, 1);
    if (end < 0) throw new UnsupportedYaml(no, 'unterminated quoted key');
    const after = text.slice(end + 1);
    if (after !== ':' && !after.startsWith(': ')) return undefined;
    return { key: scalar(text.slice(0, end + 1), no) as string, rest: after.slice(1).trim() };
  }
  const sep = text.indexOf(': ');
  if (sep > 0) return { key: text.slice(0, sep), rest: text.slice(sep + 2).trim() };
  if (text.endsWith(':') && text.length > 1) return { key: text.slice(0, -1), rest: '' };
  return undefined;
}

class Parser {
  private i = 0;

  constructor(private readonly lines: Line[]) {}

  parse(): Value {
    if (!this.lines.length) return null;
    const v = this.node(this.lines[0]!.indent);
    if (this.i < this.lines.length) throw new UnsupportedYaml(this.lines[this.i]!.no, 'unexpected indentation');
    return v;
  }

  private isItem(l: Line): boolean {
    return l.text === '-' || l.text.startsWith('- ');
  }

  private node(indent: number): Value {
    const l = this.lines[this.i]!;
    if (l.indent !== indent) throw new UnsupportedYaml(l.no, 'unexpected indentation');
    if (this.isItem(l)) return this.sequence(indent);
    if (!splitKey(l.text, l.no)) {
      // A lone scalar (a document that is one value).
      this.i++;
      return scalar(l.text, l.no);
    }
    return this.mapping(indent);
  }

  private mapping(indent: number): Value {
    const out: { [k: string]: Value } = {};
    while (this.i < this.lines.length) {
      const l = this.lines[this.i]!;
      if (l.indent < indent) break;
      if (l.indent > indent) throw new UnsupportedYaml(l.no, 'unexpected indentation (multi-line scalar?)');
      if (this.isItem(l)) break;
      const kv = splitKey(l.text, l.no);
      if (!kv) throw new UnsupportedYaml(l.no, 'expected `key: value`');
      if (Object.prototype.hasOwnProperty.call(out, kv.key)) throw new UnsupportedYaml(l.no, `duplicate key ${kv.key}`);
      this.i++;
      if (kv.rest) {
        out[kv.key] = scalar(kv.rest, l.no);
        continue;
      }
      const next = this.lines[this.i];
      if (next && next.indent > indent) out[kv.key] = this.node(next.indent);
      else if (next && next.indent === indent && this.isItem(next)) out[kv.key] = this.sequence(indent);
      else out[kv.key] = null;
    }
    return out;
  }

  private sequence(indent: number): Value {
    const out: Value[] = [];
    while (this.i < this.lines.length) {
      const l = this.lines[this.i]!;
      if (l.indent !== indent || !this.isItem(l)) break;
      const rest = l.text === '-' ? '' : l.text.slice(2).replace(/^\s+/, '');
      if (!rest) {
        this.i++;
        const next = this.lines[this.i];
        out.push(next && next.indent > indent ? this.node(next.indent) : null);
        continue;
      }
      // `- key: value` starts a mapping whose keys sit at the column after the dash.
      const column = indent + (l.text.length - rest.length);
      this.lines[this.i] = { no: l.no, indent: column, text: rest };
      out.push(this.node(column));
    }
    return out;
  }
}

/** Parses kubeconfig YAML (or JSON, which is YAML too); throws UnsupportedYaml for other constructs. */
export function parseKubeconfigYaml(text: string): unknown {
  const trimmed = text.trimStart();
  if (trimmed.startsWith('{')) {
    try {
      return JSON.parse(trimmed) as unknown;
    } catch {
      throw new UnsupportedYaml(1, 'flow mapping that is not JSON');
    }
  }
  return new Parser(toLines(text)).parse();
}

/**
 * The condition language of relations and constraints: a small, total expression subset parsed once
 * at policy load and evaluated without `eval`. docs/policy-language.md is its reference.
 *
 *   expr    := or
 *   or      := and (('||' | 'or') and)*
 *   and     := not (('&&' | 'and') not)*
 *   not     := ('!' | 'not') not | compare
 *   compare := operand (('==' | '!=' | '<' | '<=' | '>' | '>=' | 'in' | 'not in') operand)?
 *   operand := number | string | true | false | null | list | path | '(' expr ')'
 *   path    := ident ('.' ident)*        -- `request.x` reads the request, anything else the context
 */

export type Value = string | number | boolean | null | Value[] | { [key: string]: Value };

type CompareOp = '==' | '!=' | '<' | '<=' | '>' | '>=' | 'in' | 'not in';

export type Condition =
  | { kind: 'literal'; value: Value }
  | { kind: 'path'; root: 'context' | 'request'; segments: string[] }
  | { kind: 'list'; items: Condition[] }
  | { kind: 'not'; operand: Condition }
  | { kind: 'and' | 'or'; left: Condition; right: Condition }
  | { kind: 'compare'; op: CompareOp; left: Condition; right: Condition };

export interface ConditionScope {
  context: Record<string, unknown>;
  /** The decision request as it came; conditions read only the fields REQUEST_FIELDS names. */
  request: object;
}

/**
 * The request fields a condition may read (docs/policy-language.md, "Paths"): the name conditions use,
 * and the request's field that holds it. Conditions say `request.action` for the API's `proposed_action`.
 */
const REQUEST_FIELDS: ReadonlyMap<string, string> = new Map([
  ['actor', 'actor'],
  ['action', 'proposed_action'],
  ['tool', 'tool'],
  ['user_intent', 'user_intent'],
  ['data_classes', 'data_classes'],
  ['risk_level', 'risk_level'],
]);

export const CONDITION_LIMITS = { maxLength: 1000, maxDepth: 32 } as const;

export type ParseResult = { ok: true; condition: Condition } | { ok: false; error: string };

export function parseCondition(text: string): ParseResult {
  if (text.length > CONDITION_LIMITS.maxLength) {
    return { ok: false, error: `longer than ${CONDITION_LIMITS.maxLength} characters` };
  }
  try {
    const parser = new Parser(tokenize(text));
    const condition = parser.expression(0);
    parser.expectEnd();
    return { ok: true, condition };
  } catch (err) {
    if (err instanceof ConditionSyntaxError) return { ok: false, error: err.message };
    throw err;
  }
}

/** A condition holds only when it evaluates to exactly `true`: a missing or non-boolean value never grants. */
export function conditionHolds(condition: Condition, scope: ConditionScope): boolean {
  return evaluate(condition, scope) === true;
}

/** One value a condition read, named as conditions write it: `context.ward`, `request.action`. */
export interface ConditionRead {
  path: string;
  value: unknown;
}

/** Every value the condition reads, once each, in the order written: what an explanation shows beside it. */
export function conditionReads(condition: Condition, scope: ConditionScope): ConditionRead[] {
  const reads = new Map<string, unknown>();
  const visit = (node: Condition): void => {
    if (node.kind === 'path') {
      const name =
        node.root === 'request'
          ? [REQUEST_NAMES.get(node.segments[0] ?? ''), ...node.segments.slice(1)]
          : node.segments;
      reads.set(`${node.root}.${name.join('.')}`, evaluate(node, scope));
    } else if (node.kind === 'list') {
      node.items.forEach(visit);
    } else if (node.kind === 'not') {
      visit(node.operand);
    } else if (node.kind !== 'literal') {
      visit(node.left);
      visit(node.right);
    }
  };
  visit(condition);
  return [...reads].map(([path, value]) => ({ path, value }));
}

const REQUEST_NAMES: ReadonlyMap<string, string> = new Map([...REQUEST_FIELDS].map(([name, field]) => [field, name]));

function evaluate(node: Condition, scope: ConditionScope): unknown {
  switch (node.kind) {
    case 'literal':
      return node.value;
    case 'path':
      return lookup(node.root === 'request' ? scope.request : scope.context, node.segments);
    case 'list':
      return node.items.map((item) => evaluate(item, scope));
    case 'not':
      return evaluate(node.operand, scope) !== true;
    case 'and':
      return evaluate(node.left, scope) === true && evaluate(node.right, scope) === true;
    case 'or':
      return evaluate(node.left, scope) === true || evaluate(node.right, scope) === true;
    case 'compare':
      return compare(node.op, evaluate(node.left, scope), evaluate(node.right, scope));
  }
}

function lookup(root: object, segments: string[]): unknown {
  let current: unknown = root;
  for (const segment of segments) {
    if (current === null || typeof current !== 'object' || Array.isArray(current)) return null;
    if (!Object.hasOwn(current, segment)) return null;
    current = (current as Record<string, unknown>)[segment];
  }
  return current === undefined ? null : current;
}

function compare(op: CompareOp, left: unknown, right: unknown): boolean {
  switch (op) {
    case '==':
      return equal(left, right);
    case '!=':
      return !equal(left, right);
    case 'in':
      return Array.isArray(right) && right.some((item) => equal(left, item));
    case 'not in':
      return Array.isArray(right) && !right.some((item) => equal(left, item));
    default: {
      // Ordering only between two numbers or two strings; anything else is simply false.
      const comparable =
        (typeof left === 'number' && typeof right === 'number') ||
        (typeof left === 'string' && typeof right === 'string');
      if (!comparable) return false;
      const a = left as number | string;
      const b = right as number | string;
      return op === '<' ? a < b : op === '<=' ? a <= b : op === '>' ? a > b : a >= b;
    }
  }
}

/** Value equality, as JSON sees it: lists item by item, objects key by key. */
function equal(a: unknown, b: unknown): boolean {
  if (a === b) return true;
  if (a === null || b === null || typeof a !== 'object' || typeof b !== 'object') return false;
  if (Array.isArray(a) || Array.isArray(b)) {
    return Array.isArray(a) && Array.isArray(b) && a.length === b.length && a.every((item, i) => equal(item, b[i]));
  }
  const aKeys = Object.keys(a);
  const bRecord = b as Record<string, unknown>;
  return (
    aKeys.length === Object.keys(b).length &&
    aKeys.every((key) => Object.hasOwn(bRecord, key) && equal((a as Record<string, unknown>)[key], bRecord[key]))
  );
}

/** `request.<field>…`, resolved once at parse: any other field (its id, its context, its mode) is missing. */
function requestPath([name = '', ...rest]: string[]): Condition {
  const field = REQUEST_FIELDS.get(name);
  return field ? { kind: 'path', root: 'request', segments: [field, ...rest] } : { kind: 'literal', value: null };
}

// --- tokenizer -------------------------------------------------------------------------------

type Token =
  | { type: 'number'; value: number; at: number }
  | { type: 'string'; value: string; at: number }
  | { type: 'ident'; value: string; at: number }
  | { type: 'op'; value: string; at: number };

class ConditionSyntaxError extends Error {}

const OPERATORS = ['==', '!=', '<=', '>=', '&&', '||', '<', '>', '!', '(', ')', '[', ']', ',', '.'];
const NUMBER = /^-?(?:0|[1-9]\d*)(?:\.\d+)?(?:[eE][+-]?\d+)?(?![A-Za-z_\d])/;
const IDENT = /^[A-Za-z_][A-Za-z0-9_]*/;

function tokenize(text: string): Token[] {
  const tokens: Token[] = [];
  let i = 0;
  while (i < text.length) {
    const rest = text.slice(i);
    const ch = text[i] as string;
    if (/\s/.test(ch)) {
      i++;
      continue;
    }
    const number = NUMBER.exec(rest);
    if (number && (ch !== '-' || !endsOperand(tokens.at(-1)))) {
      tokens.push({ type: 'number', value: Number(number[0]), at: i });
      i += number[0].length;
      continue;
    }
    if (ch === '"' || ch === "'") {
      const { value, length } = readString(text, i);
      tokens.push({ type: 'string', value, at: i });
      i += length;
      continue;
    }
    const ident = IDENT.exec(rest);
    if (ident) {
      tokens.push({ type: 'ident', value: ident[0], at: i });
      i += ident[0].length;
      continue;
    }
    const op = OPERATORS.find((o) => rest.startsWith(o));
    if (!op) throw new ConditionSyntaxError(`unexpected character "${ch}" at position ${i}`);
    tokens.push({ type: 'op', value: op, at: i });
    i += op.length;
  }
  return tokens;
}

function endsOperand(token: Token | undefined): boolean {
  if (!token) return false;
  return token.type !== 'op' || token.value === ')' || token.value === ']';
}

function readString(text: string, start: number): { value: string; length: number } {
  const quote = text[start];
  let value = '';
  for (let i = start + 1; i < text.length; i++) {
    const ch = text[i] as string;
    if (ch === quote) return { value, length: i - start + 1 };
    if (ch === '\\') {
      const next = text[i + 1];
      if (next === undefined) break;
      value += next === 'n' ? '\n' : next === 't' ? '\t' : next;
      i++;
      continue;
    }
    value += ch;
  }
  throw new ConditionSyntaxError(`unterminated string starting at position ${start}`);
}

// --- parser ----------------------------------------------------------------------------------

const KEYWORDS = new Set(['and', 'or', 'not', 'in', 'true', 'false', 'null']);

class Parser {
  private pos = 0;

  constructor(private readonly tokens: Token[]) {}

  expression(depth: number): Condition {
    if (depth > CONDITION_LIMITS.maxDepth) throw new ConditionSyntaxError('nested too deeply');
    let left = this.conjunction(depth);
    while (this.acceptOp('||') || this.acceptWord('or')) {
      left = { kind: 'or', left, right: this.conjunction(depth) };
    }
    return left;
  }

  expectEnd(): void {
    const token = this.tokens[this.pos];
    if (token) throw new ConditionSyntaxError(`unexpected "${token.value}" at position ${token.at}`);
  }

  private conjunction(depth: number): Condition {
    let left = this.negation(depth);
    while (this.acceptOp('&&') || this.acceptWord('and')) {
      left = { kind: 'and', left, right: this.negation(depth) };
    }
    return left;
  }

  private negation(depth: number): Condition {
    if (depth > CONDITION_LIMITS.maxDepth) throw new ConditionSyntaxError('nested too deeply');
    if (this.acceptOp('!') || this.acceptWord('not')) return { kind: 'not', operand: this.negation(depth + 1) };
    return this.comparison(depth);
  }

  private comparison(depth: number): Condition {
    const left = this.operand(depth);
    const token = this.tokens[this.pos];
    let op: CompareOp | undefined;
    if (token?.type === 'op' && ['==', '!=', '<', '<=', '>', '>='].includes(token.value)) {
      op = token.value as CompareOp;
      this.pos++;
    } else if (this.acceptWord('in')) {
      op = 'in';
    } else if (this.peekWord('not') && this.peekWord('in', 1)) {
      this.pos += 2;
      op = 'not in';
    }
    return op ? { kind: 'compare', op, left, right: this.operand(depth) } : left;
  }

  private operand(depth: number): Condition {
    if (depth > CONDITION_LIMITS.maxDepth) throw new ConditionSyntaxError('nested too deeply');
    const token = this.tokens[this.pos++];
    if (!token) throw new ConditionSyntaxError('unexpected end of condition');
    switch (token.type) {
      case 'number':
      case 'string':
        return { kind: 'literal', value: token.value };
      case 'ident':
        return this.identifier(token);
      case 'op':
        if (token.value === '(') {
          const inner = this.expression(depth + 1);
          this.expectOp(')');
          return inner;
        }
        if (token.value === '[') return this.list(depth);
        throw new ConditionSyntaxError(`unexpected "${token.value}" at position ${token.at}`);
    }
  }

  private identifier(token: Token & { type: 'ident' }): Condition {
    if (token.value === 'true') return { kind: 'literal', value: true };
    if (token.value === 'false') return { kind: 'literal', value: false };
    if (token.value === 'null') return { kind: 'literal', value: null };
    if (KEYWORDS.has(token.value))
      throw new ConditionSyntaxError(`unexpected "${token.value}" at position ${token.at}`);
    const segments = [token.value];
    while (this.acceptOp('.')) {
      const dot = this.tokens[this.pos - 1] as Token;
      const next = this.tokens[this.pos++];
      if (next?.type !== 'ident') {
        throw new ConditionSyntaxError(`expected a name after "." at position ${next?.at ?? dot.at + 1}`);
      }
      segments.push(next.value);
    }
    if (segments[0] === 'request' && segments.length > 1) return requestPath(segments.slice(1));
    if (segments[0] === 'context' && segments.length > 1)
      return { kind: 'path', root: 'context', segments: segments.slice(1) };
    return { kind: 'path', root: 'context', segments };
  }

  private list(depth: number): Condition {
    const items: Condition[] = [];
    if (this.acceptOp(']')) return { kind: 'list', items };
    do items.push(this.operand(depth + 1));
    while (this.acceptOp(','));
    this.expectOp(']');
    return { kind: 'list', items };
  }

  private acceptOp(value: string): boolean {
    const token = this.tokens[this.pos];
    if (token?.type === 'op' && token.value === value) {
      this.pos++;
      return true;
    }
    return false;
  }

  private acceptWord(value: string): boolean {
    if (!this.peekWord(value)) return false;
    this.pos++;
    return true;
  }

  private peekWord(value: string, offset = 0): boolean {
    const token = this.tokens[this.pos + offset];
    return token?.type === 'ident' && token.value === value;
  }

  private expectOp(value: string): void {
    if (!this.acceptOp(value)) {
      const token = this.tokens[this.pos];
      throw new ConditionSyntaxError(
        token ? `expected "${value}" at position ${token.at}` : `expected "${value}" at end of condition`,
      );
    }
  }
}

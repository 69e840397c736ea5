/**
 * JUnit XML, the report CI systems read (Jenkins, GitLab, GitHub Actions' test reporters): one
 * <testsuite> per tests file, one <testcase> per case, a <failure> for a case that failed and an
 * <error> for a file that could not be run.
 */
export interface JunitSuite {
  name: string;
  cases: JunitCase[];
}

export interface JunitCase {
  name: string;
  classname: string;
  failure?: { message: string; text: string };
  error?: { message: string; text: string };
}

export function junitXml(name: string, suites: readonly JunitSuite[]): string {
  const count = (cases: readonly JunitCase[]) => ({
    tests: cases.length,
    failures: cases.filter((c) => c.failure).length,
    errors: cases.filter((c) => c.error).length,
  });
  const all = count(suites.flatMap((s) => s.cases));
  const lines = [
    '<?xml version="1.0" encoding="UTF-8"?>',
    `<testsuites${attributes({ name, ...all })}>`,
    ...suites.flatMap((suite) => [
      `  <testsuite${attributes({ name: suite.name, ...count(suite.cases), skipped: 0 })}>`,
      ...suite.cases.map(testcase),
      '  </testsuite>',
    ]),
    '</testsuites>',
  ];
  return `${lines.join('\n')}\n`;
}

function testcase(c: JunitCase): string {
  const open = `    <testcase${attributes({ name: c.name, classname: c.classname })}`;
  const outcome = c.failure ? ['failure', c.failure] : c.error ? ['error', c.error] : undefined;
  if (!outcome) return `${open}/>`;
  const [element, { message, text }] = outcome as [string, { message: string; text: string }];
  return `${open}>\n      <${element}${attributes({ message })}>${escapeText(text)}</${element}>\n    </testcase>`;
}

function attributes(values: Record<string, string | number>): string {
  return Object.entries(values)
    .map(([key, value]) => ` ${key}="${escapeAttribute(String(value))}"`)
    .join('');
}

// Characters XML 1.0 cannot hold at all, escaped or not (§2.2): most C0 controls, lone surrogates, U+FFFE/FFFF.
const NOT_XML = /[^\t\n\r\u0020-\ud7ff\ue000-\ufffd\u{10000}-\u{10ffff}]/gu;

function escapeText(text: string): string {
  return text.replace(NOT_XML, '\ufffd').replaceAll('&', '&amp;').replaceAll('<', '&lt;').replaceAll('>', '&gt;');
}

/** Line breaks and tabs as character references, so attribute-value normalisation keeps them. */
function escapeAttribute(text: string): string {
  return escapeText(text)
    .replaceAll('"', '&quot;')
    .replaceAll("'", '&apos;')
    .replaceAll('\n', '&#10;')
    .replaceAll('\r', '&#13;')
    .replaceAll('\t', '&#9;');
}

/**
 * Training data: listwise JSONL validation (every error names its file and line), BEIR folders + TREC runs
 * (hard negatives, missing positives, split and run resolution), and the real Cranfield folder.
 */
import { mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { InputError } from '../src/errors.js';
import { loadTrainingData, type LoadTrainingDataOptions } from '../src/train/data.js';

const root = fileURLToPath(new URL('..', import.meta.url));
const tmp = mkdtempSync(join(tmpdir(), 'gpurank-train-data-'));
let counter = 0;

function file(text: string, name = `d${counter++}.jsonl`): string {
  const p = join(tmp, name);
  writeFileSync(p, text);
  return p;
}

function folder(files: Record<string, string>): string {
  const dir = join(tmp, `beir${counter++}`);
  for (const [name, text] of Object.entries(files)) {
    mkdirSync(join(dir, name, '..'), { recursive: true });
    writeFileSync(join(dir, name), text);
  }
  return dir;
}

async function inputError(p: Promise<unknown>): Promise<InputError> {
  const e = await p.then(
    () => undefined,
    (err: unknown) => err,
  );
  expect(e).toBeInstanceOf(InputError);
  return e as InputError;
}

const ex = (o: Record<string, unknown>) => JSON.stringify({ query: 'q', documents: ['a', 'b'], labels: [1, 0], ...o });

describe('listwise JSONL', () => {
  it('reads examples, teacher scores and qids; skips blank lines; tolerates CRLF and a BOM', async () => {
    const p = file(
      '\uFEFF' + ex({ qid: 'x1', teacher_scores: [2.5, -1] }) + '\r\n\r\n   \n' +
        JSON.stringify({ qid: 7, query: 'second', documents: ['only'], labels: [0] }) + '\n',
    );
    const examples = await loadTrainingData(p);
    expect(examples).toEqual([
      { qid: 'x1', query: 'q', documents: ['a', 'b'], labels: [1, 0], teacherScores: [2.5, -1] },
      { qid: '7', query: 'second', documents: ['only'], labels: [0] },
    ]);
  });

  it('applies a query filter by qid', async () => {
    const p = file([1, 2, 3, 4, 5, 6].map((i) => ex({ qid: String(i), query: `q${i}` })).join('\n'));
    const kept = await loadTrainingData(p, { queryFilter: (q) => Number(q) % 5 !== 0 });
    expect(kept.map((e) => e.qid)).toEqual(['1', '2', '3', '4', '6']);
  });

  const bad: [string, string, number, RegExp][] = [
    ['malformed JSON', `${ex({})}\n{"query": "q",`, 2, /malformed JSON/],
    ['not an object', `${ex({})}\n\n[1, 2]`, 3, /expected a JSON object/],
    ['null line', 'null', 1, /expected a JSON object/],
    ['missing query', JSON.stringify({ documents: ['a'], labels: [1] }), 1, /"query" must be a string, got undefined/],
    ['query not a string', ex({ query: 3 }), 1, /"query" must be a string, got number/],
    ['empty query', ex({ query: '  ' }), 1, /"query" is empty/],
    ['missing documents', JSON.stringify({ query: 'q', labels: [1] }), 1, /"documents" must be an array/],
    ['documents not an array', ex({ documents: 'a' }), 1, /"documents" must be an array of strings, got string/],
    ['empty documents', ex({ documents: [], labels: [] }), 1, /"documents" is empty/],
    ['a document not a string', ex({ documents: ['a', null] }), 1, /"documents"\[1\] must be a string, got null/],
    ['missing labels', JSON.stringify({ query: 'q', documents: ['a'] }), 1, /"labels" must be an array of numbers, got undefined/],
    ['labels not an array', ex({ labels: { a: 1 } }), 1, /"labels" must be an array of numbers, got object/],
    ['labels length mismatch', ex({ labels: [1] }), 1, /"labels" has 1 entries but "documents" has 2/],
    ['a label not a number', ex({ labels: [1, '0'] }), 1, /"labels"\[1\] must be a number, got string/],
    ['an infinite label', '{"query":"q","documents":["a"],"labels":[1e999]}', 1, /"labels"\[0\] is not finite/],
    ['teacher scores length mismatch', ex({ teacher_scores: [1, 2, 3] }), 1, /"teacher_scores" has 3 entries but "documents" has 2/],
    ['teacher scores not an array', ex({ teacher_scores: 1 }), 1, /"teacher_scores" must be an array/],
    ['an infinite teacher score', '{"query":"q","documents":["a"],"labels":[1],"teacher_scores":[-1e999]}', 1, /"teacher_scores"\[0\] is not finite/],
    ['a teacher score not a number', ex({ teacher_scores: [1, true] }), 1, /"teacher_scores"\[1\] must be a number, got boolean/],
    ['qid of the wrong type', ex({ qid: ['1'] }), 1, /"qid" must be a string or a number, got an array/],
  ];
  for (const [what, text, line, message] of bad) {
    it(`reports ${what} with the file and line`, async () => {
      const p = file(text);
      const e = await inputError(loadTrainingData(p));
      expect(e.file).toBe(p);
      expect(e.line).toBe(line);
      expect(e.code).toBe('BAD_EXAMPLE');
      expect(e.message).toMatch(message);
      expect(e.message.startsWith(`${p}:${line}: `)).toBe(true);
    });
  }

  it('needs a qid on every line for a query filter', async () => {
    const p = file(`${ex({ qid: '1' })}\n${ex({})}\n`);
    const e = await inputError(loadTrainingData(p, { queryFilter: () => true }));
    expect([e.line, e.code]).toEqual([2, 'BAD_EXAMPLE']);
    expect(e.message).toMatch(/needs a "qid"/);
  });

  it('rejects an empty file, and a filter that keeps nothing', async () => {
    const empty = file('\n\n');
    const e = await inputError(loadTrainingData(empty));
    expect([e.file, e.code]).toEqual([empty, 'NO_TRAINING_DATA']);
    const p = file(ex({ qid: '1' }));
    expect((await inputError(loadTrainingData(p, { queryFilter: () => false }))).message).toMatch(/pass the query filter/);
  });

  it('rejects BEIR-only options and a missing file', async () => {
    const p = file(ex({}));
    for (const o of [{ run: 'x.run' }, { split: 'dev' }] as LoadTrainingDataOptions[]) {
      expect((await inputError(loadTrainingData(p, o))).code).toBe('BAD_OPTION');
    }
    const missing = join(tmp, 'nope.jsonl');
    const e = await inputError(loadTrainingData(missing));
    expect([e.file, e.code]).toEqual([missing, 'UNREADABLE_FILE']);
    expect(e.message).toMatch(/no such file/);
  });

  it('streams a large file', async () => {
    const lines = Array.from({ length: 20_000 }, (_, i) => JSON.stringify({ qid: `q${i}`, query: `query ${i}`, documents: ['d'.repeat(50), 'e'], labels: [i % 2, 0] }));
    const examples = await loadTrainingData(file(lines.join('\n')));
    expect(examples.length).toBe(20_000);
    expect(examples[19_999]).toMatchObject({ qid: 'q19999', labels: [1, 0] });
  });
});

const corpus = [
  { _id: 'd1', title: 'Alpha', text: 'Alpha starts with its title.' },
  { _id: 'd2', title: 'Beta', text: 'body of beta' },
  { _id: 'd3', text: 'no title here' },
  { _id: 'd4', title: '', text: 'empty title' },
  { _id: 'd5', title: null, text: 'null title' },
  { _id: 'd6', title: 'Zeta', text: 'unused, not in any list' },
]
  .map((d) => JSON.stringify(d))
  .join('\n');
const queries = [
  { _id: 'q1', text: 'first query' },
  { _id: 'q2', text: 'second query' },
  { _id: 'q3', text: 'judged but not retrieved' },
  { _id: 'q4', text: 'retrieved but not judged' },
]
  .map((d) => JSON.stringify(d))
  .join('\n');
const qrels = 'query-id\tcorpus-id\tscore\nq1\td2\t2\nq1\td5\t1\nq1\td3\t0\nq2\td1\t1\nq2\td4\t-1\nq3\td1\t1\n';
// q1's candidates come out of score order in the file; ranking is by score.
const run = ['q1 Q0 d1 1 3.0 bm25', 'q1 Q0 d3 2 5.0 bm25', 'q1 Q0 d2 3 1.0 bm25', 'q2 Q0 d4 1 2.0 bm25', 'q2 Q0 d1 2 1.0 bm25', 'q4 Q0 d1 1 1.0 bm25'].join('\n');
const beir = (extra: Record<string, string> = {}) =>
  folder({ 'corpus.jsonl': corpus, 'queries.jsonl': queries, 'qrels.tsv': qrels, 'bm25.run': run, ...extra });

describe('BEIR folder + TREC run', () => {
  it('builds ranked lists with hard negatives and the missing positives', async () => {
    const examples = await loadTrainingData(beir());
    expect(examples).toEqual([
      // d3 (5.0) > d1 (3.0) > d2 (1.0); d5 (grade 1) was not retrieved and is appended.
      { qid: 'q1', query: 'first query', documents: ['no title here', 'Alpha starts with its title.', 'Beta body of beta', 'null title'], labels: [0, 0, 2, 1] },
      // A negative grade is a judged non-relevant document: label 0.
      { qid: 'q2', query: 'second query', documents: ['empty title', 'Alpha starts with its title.'], labels: [0, 1] },
    ]);
  });

  it('can leave the missing positives out, and filters queries', async () => {
    const dir = beir();
    const examples = await loadTrainingData(dir, { addMissingPositives: false });
    expect(examples[0].labels).toEqual([0, 0, 2]);
    const filtered = await loadTrainingData(dir, { queryFilter: (q) => q !== 'q1' });
    expect(filtered.map((e) => e.qid)).toEqual(['q2']);
    expect((await inputError(loadTrainingData(dir, { queryFilter: () => false }))).code).toBe('NO_TRAINING_DATA');
  });

  it('resolves qrels splits and runs', async () => {
    const dir = folder({ 'corpus.jsonl': corpus, 'queries.jsonl': queries, 'qrels/train.tsv': qrels, 'qrels/test.tsv': 'query-id\tcorpus-id\tscore\nq2\td1\t1\n', 'candidates.trec': run });
    expect((await loadTrainingData(dir)).map((e) => e.qid)).toEqual(['q1', 'q2']);
    expect((await loadTrainingData(dir, { split: 'test' })).map((e) => e.qid)).toEqual(['q2']);
    const e = await inputError(loadTrainingData(dir, { split: 'dev' }));
    expect([e.file, e.code]).toEqual([dir, 'NO_QRELS']);
    expect(e.message).toMatch(/split 'dev'.*available splits: (train, test|test, train)/);

    const only = folder({ 'corpus.jsonl': corpus, 'queries.jsonl': queries, 'qrels/dev.tsv': qrels, 'x.run': run });
    expect((await loadTrainingData(only)).length).toBe(2);

    const two = folder({ 'corpus.jsonl': corpus, 'queries.jsonl': queries, 'qrels/dev.tsv': qrels, 'qrels/test.tsv': qrels, 'x.run': run });
    expect((await inputError(loadTrainingData(two))).message).toMatch(/several qrels splits .*choose one/);
    const none = folder({ 'corpus.jsonl': corpus, 'queries.jsonl': queries, 'x.run': run });
    expect((await inputError(loadTrainingData(none))).message).toMatch(/no qrels\.tsv or qrels\/<split>\.tsv/);
    expect((await inputError(loadTrainingData(none, { split: 'train' }))).message).toMatch(/there is no qrels\/ folder/);
  });

  it('needs exactly one run in the folder unless one is given', async () => {
    const noRun = folder({ 'corpus.jsonl': corpus, 'queries.jsonl': queries, 'qrels.tsv': qrels });
    const e = await inputError(loadTrainingData(noRun));
    expect([e.file, e.code]).toEqual([noRun, 'NO_RUN']);
    expect(e.message).toMatch(/pass one with --run/);
    const explicit = file(run, 'explicit.run');
    expect((await loadTrainingData(noRun, { run: explicit })).length).toBe(2);
    const twoRuns = beir({ 'other.trec': run });
    expect((await inputError(loadTrainingData(twoRuns))).message).toMatch(/several runs \(bm25\.run, other\.trec\)/);
    const missing = join(tmp, 'missing.run');
    const m = await inputError(loadTrainingData(noRun, { run: missing }));
    expect([m.file, m.code]).toEqual([missing, 'UNREADABLE_FILE']);
  });

  it('passes qrels and run errors through with their lines', async () => {
    const badRun = beir({ 'bm25.run': 'q1 Q0 d1 1 3.0 bm25\nq1 Q0 d2 2 x bm25\n' });
    const e = await inputError(loadTrainingData(badRun));
    expect([e.file, e.line]).toEqual([join(badRun, 'bm25.run'), 2]);
    const badQrels = beir({ 'qrels.tsv': 'query-id\tcorpus-id\tscore\nq1\td1\n' });
    const q = await inputError(loadTrainingData(badQrels));
    expect([q.file, q.line]).toEqual([join(badQrels, 'qrels.tsv'), 2]);
  });

  it('reports malformed corpus and queries lines', async () => {
    const cases: [Record<string, string>, string, number, RegExp][] = [
      [{ 'corpus.jsonl': `${corpus}\n{"_id": "d9", "text": 5}` }, 'corpus.jsonl', 7, /"text" must be a string, got number/],
      [{ 'corpus.jsonl': `${corpus}\n{"_id": "d9", "title": 1, "text": "t"}` }, 'corpus.jsonl', 7, /"title" must be a string/],
      [{ 'corpus.jsonl': `{"text": "t"}` }, 'corpus.jsonl', 1, /"_id" must be a string, got undefined/],
      [{ 'corpus.jsonl': `${corpus}\n{"_id": "d1", "text": "again"}` }, 'corpus.jsonl', 7, /document 'd1' appears twice/],
      [{ 'corpus.jsonl': `${corpus}\n{oops` }, 'corpus.jsonl', 7, /malformed JSON/],
      [{ 'queries.jsonl': `${queries}\n"just a string"` }, 'queries.jsonl', 5, /expected a JSON object/],
      [{ 'queries.jsonl': `${queries}\n{"_id": "q1", "text": "dup"}` }, 'queries.jsonl', 5, /query 'q1' appears twice/],
    ];
    for (const [files, name, line, message] of cases) {
      const dir = beir(files);
      const e = await inputError(loadTrainingData(dir));
      expect([e.file, e.line, e.code]).toEqual([join(dir, name), line, 'BAD_EXAMPLE']);
      expect(e.message).toMatch(message);
    }
  });

  it('reports references to unknown queries and documents', async () => {
    const unknownQuery = beir({ 'qrels.tsv': `${qrels}q9\td1\t1\n` });
    const a = await inputError(loadTrainingData(unknownQuery));
    expect(a.file).toBe(join(unknownQuery, 'qrels.tsv'));
    expect(a.message).toMatch(/query 'q9' is judged but not in/);
    const unknownCandidate = beir({ 'bm25.run': `${run}\nq1 Q0 d99 4 0.5 bm25` });
    const b = await inputError(loadTrainingData(unknownCandidate));
    expect(b.file).toBe(join(unknownCandidate, 'bm25.run'));
    expect(b.message).toMatch(/document 'd99' \(query 'q1'\) is not in/);
    const unknownPositive = beir({ 'qrels.tsv': `${qrels}q2\td77\t1\n` });
    const c = await inputError(loadTrainingData(unknownPositive));
    expect(c.file).toBe(join(unknownPositive, 'qrels.tsv'));
    expect(c.message).toMatch(/document 'd77' \(query 'q2'\)/);
    // Without missing positives the unknown judged document is never needed.
    expect((await loadTrainingData(unknownPositive, { addMissingPositives: false })).length).toBe(2);
  });

  it('reports a missing corpus or queries file', async () => {
    const dir = folder({ 'queries.jsonl': queries, 'qrels.tsv': qrels, 'bm25.run': run });
    const e = await inputError(loadTrainingData(dir));
    expect([e.file, e.code]).toEqual([join(dir, 'corpus.jsonl'), 'UNREADABLE_FILE']);
    const dir2 = folder({ 'corpus.jsonl': corpus, 'qrels.tsv': qrels, 'bm25.run': run });
    expect((await inputError(loadTrainingData(dir2))).file).toBe(join(dir2, 'queries.jsonl'));
  });

  it('loads the real Cranfield folder with BM25 hard negatives', async () => {
    const dir = join(root, 'data/cranfield');
    const train = await loadTrainingData(dir, { queryFilter: (q) => Number(q) % 5 !== 0 });
    const held = await loadTrainingData(dir, { queryFilter: (q) => Number(q) % 5 === 0 });
    expect(train.length).toBe(180);
    expect(held.length).toBe(45);
    const qrels = readFileSync(join(dir, 'qrels.tsv'), 'utf8').trim().split('\n').slice(1).map((l) => l.split('\t'));
    const judged = (q: string) => qrels.filter(([qid, , g]) => qid === q && Number(g) > 0).length;
    for (const e of [...train, ...held]) {
      // 100 BM25 candidates, plus the judged-relevant ones BM25 missed; every positive is there.
      expect(e.documents.length).toBeGreaterThanOrEqual(100);
      expect(e.labels.filter((l) => l > 0).length).toBe(judged(e.qid!));
      expect(e.documents.length).toBe(e.labels.length);
    }
    // Query 1's top BM25 hit is document 51; Cranfield's text already starts with its title, so it is kept as is.
    const first = train[0];
    expect(first.qid).toBe('1');
    expect(first.query).toMatch(/^what similarity laws must be obeyed/);
    const corpusLine = readFileSync(join(dir, 'corpus.jsonl'), 'utf8').split('\n').find((l) => l.startsWith('{"_id": "51"'))!;
    expect(first.documents[0]).toBe(JSON.parse(corpusLine).text);
    expect(first.labels.slice(0, 100).some((l) => l === 0)).toBe(true);
    const noTopUp = await loadTrainingData(dir, { addMissingPositives: false, queryFilter: (q) => q === '1' });
    expect(noTopUp[0].documents.length).toBe(100);
  });
});

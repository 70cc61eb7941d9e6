import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { ModelLoadError } from '../src/errors.js';
import { parseBertConfig } from '../src/model/config.js';

const base = (): Record<string, unknown> => JSON.parse(readFileSync('test/fixtures/models/small-vocab/f32/config.json', 'utf8'));

function configError(edit: (c: Record<string, unknown>) => void): ModelLoadError {
  const c = base();
  edit(c);
  try {
    parseBertConfig(c, 'x/config.json');
  } catch (e) {
    expect(e).toBeInstanceOf(ModelLoadError);
    return e as ModelLoadError;
  }
  throw new Error('expected a ModelLoadError');
}

describe('parseBertConfig', () => {
  it('reads an HF config into camelCase fields', () => {
    expect(parseBertConfig(base())).toEqual({
      modelType: 'bert',
      architectures: ['BertForSequenceClassification'],
      vocabSize: 128,
      hiddenSize: 32,
      numHiddenLayers: 2,
      numAttentionHeads: 4,
      headDim: 8,
      intermediateSize: 64,
      hiddenAct: 'gelu',
      maxPositionEmbeddings: 32,
      typeVocabSize: 2,
      layerNormEps: 1e-12,
      padTokenId: 0,
      numLabels: 2,
      id2label: ['irrelevant', 'relevant'],
      hiddenDropoutProb: 0,
      attentionProbsDropoutProb: 0,
      classifierDropout: 0,
    });
  });

  it("reads dropout rates with HF's defaults (0.1; classifier_dropout null = the hidden rate) and refuses bad ones", () => {
    const c = base();
    for (const k of ['hidden_dropout_prob', 'attention_probs_dropout_prob', 'classifier_dropout']) delete c[k];
    expect(parseBertConfig(c)).toMatchObject({ hiddenDropoutProb: 0.1, attentionProbsDropoutProb: 0.1, classifierDropout: 0.1 });
    expect(parseBertConfig({ ...c, hidden_dropout_prob: 0.2, classifier_dropout: null })).toMatchObject({ classifierDropout: 0.2 });
    expect(parseBertConfig({ ...c, classifier_dropout: 0.3 })).toMatchObject({ hiddenDropoutProb: 0.1, classifierDropout: 0.3 });
    expect(() => parseBertConfig({ ...c, hidden_dropout_prob: 1 })).toThrow(/hidden_dropout_prob.*\[0, 1\)/);
    expect(() => parseBertConfig({ ...c, attention_probs_dropout_prob: 'x' })).toThrow(/attention_probs_dropout_prob/);
  });

  it("applies HF's defaults: 2 labels named LABEL_i, 2 token types, pad id 0, eps 1e-12, gelu", () => {
    const c = base();
    for (const k of ['id2label', 'label2id', 'num_labels', 'type_vocab_size', 'pad_token_id', 'layer_norm_eps', 'hidden_act', 'architectures']) delete c[k];
    expect(parseBertConfig(c)).toMatchObject({ numLabels: 2, id2label: ['LABEL_0', 'LABEL_1'], typeVocabSize: 2, padTokenId: 0, layerNormEps: 1e-12, hiddenAct: 'gelu', architectures: [] });
    c.num_labels = 1;
    expect(parseBertConfig(c)).toMatchObject({ numLabels: 1, id2label: ['LABEL_0'] });
  });

  it('maps the tanh GELU variants to gelu_tanh and accepts relu', () => {
    for (const [act, want] of [['gelu_new', 'gelu_tanh'], ['gelu_pytorch_tanh', 'gelu_tanh'], ['relu', 'relu']]) {
      expect(parseBertConfig({ ...base(), hidden_act: act }).hiddenAct).toBe(want);
    }
  });

  it('orders id2label by its keys', () => {
    expect(parseBertConfig({ ...base(), id2label: { '1': 'b', '0': 'a', '2': 'c' }, num_labels: undefined }).id2label).toEqual(['a', 'b', 'c']);
  });

  it.each([
    ['model_type', (c: any) => (c.model_type = 'roberta'), 'MODEL_UNSUPPORTED', 'model_type "roberta" is not supported'],
    ['no model_type', (c: any) => delete c.model_type, 'MODEL_UNSUPPORTED', 'model_type null is not supported'],
    ['hidden_act', (c: any) => (c.hidden_act = 'swish'), 'MODEL_UNSUPPORTED', 'hidden_act "swish" is not supported'],
    ['position_embedding_type', (c: any) => (c.position_embedding_type = 'relative_key'), 'MODEL_UNSUPPORTED', 'position_embedding_type "relative_key"'],
    ['hidden_size', (c: any) => (c.hidden_size = 32.5), 'MODEL_CONFIG_INVALID', 'hidden_size: expected an integer >= 1, got 32.5'],
    ['missing vocab_size', (c: any) => delete c.vocab_size, 'MODEL_CONFIG_INVALID', 'vocab_size: expected an integer >= 1, got null'],
    ['heads', (c: any) => (c.num_attention_heads = 5), 'MODEL_CONFIG_INVALID', 'hidden_size 32 is not a multiple of num_attention_heads 5'],
    ['num_hidden_layers', (c: any) => (c.num_hidden_layers = 0), 'MODEL_CONFIG_INVALID', 'num_hidden_layers'],
    ['pad_token_id', (c: any) => (c.pad_token_id = -1), 'MODEL_CONFIG_INVALID', 'pad_token_id: expected an integer >= 0'],
    ['layer_norm_eps', (c: any) => (c.layer_norm_eps = 0), 'MODEL_CONFIG_INVALID', 'layer_norm_eps: expected a positive number'],
    ['architectures', (c: any) => (c.architectures = 'BertModel'), 'MODEL_CONFIG_INVALID', 'architectures: expected a list of strings'],
    ['id2label keys', (c: any) => (c.id2label = { '0': 'a', '2': 'b' }), 'MODEL_CONFIG_INVALID', 'id2label: expected keys 0..1'],
    ['id2label values', (c: any) => (c.id2label = { '0': 1 }), 'MODEL_CONFIG_INVALID', 'id2label'],
    ['empty id2label', (c: any) => (c.id2label = {}), 'MODEL_CONFIG_INVALID', 'id2label: is empty'],
    ['num_labels vs id2label', (c: any) => (c.num_labels = 3), 'MODEL_CONFIG_INVALID', "num_labels: 3 disagrees with id2label's 2 labels"],
    ['num_labels', (c: any) => {
      delete c.id2label;
      c.num_labels = 0;
    }, 'MODEL_CONFIG_INVALID', 'num_labels: expected an integer >= 1'],
  ])('refuses a bad %s', (_, edit, code, message) => {
    const err = configError(edit);
    expect(err.code).toBe(code);
    expect(err.message).toContain('x/config.json: ');
    expect(err.message).toContain(message);
  });

  it('refuses a config that is not an object', () => {
    expect(() => parseBertConfig([1])).toThrow(ModelLoadError);
    expect(() => parseBertConfig(null)).toThrow(/expected a JSON object/);
  });
});

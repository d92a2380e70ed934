// A small decoder-only transformer (GPT-style, pre-LayerNorm), as a PyTorch user writes it:
//   token embedding + position embedding → dropout
//   × layers: x + Dropout(MultiheadAttention(LayerNorm(x), causal)); x + Dropout(MLP(LayerNorm(x)))
//             with MLP = Linear(d, 4d) → GELU → Linear(4d, d)
//   LayerNorm → Linear(d, vocab)
// Input `x` i32[batch, context] (token ids), targets `y` i32[batch, context] (the next token, or
// -100 where no loss is taken), output `logits` f32[batch, context, vocab]. Param names follow
// nn.Module (tok_emb.weight, blocks.0.attn.in_proj_weight, …). `pnpm example transformer` trains
// it; the bench's `transformer_train_step` times one Adam step at batch 32 (peers mirror
// TRANSFORMER_CONFIG).
import { add, arange, crossEntropy, dense, dropout, embeddingLayer, gelu, input, layerNormLayer, model, multiHeadAttention, type Model, type Tensor } from "@graft/core";

/** The architecture (vocab and context set by the example's task). */
export interface TransformerConfig {
  readonly vocab: number;
  readonly context: number;
  readonly width: number;
  readonly heads: number;
  readonly layers: number;
  readonly mlp: number;
  readonly dropout: number;
}

/** The example's transformer: 10 digits + separator, 8 digits in → 8 digits out (context 16). */
export const TRANSFORMER_CONFIG: TransformerConfig = { vocab: 11, context: 16, width: 64, heads: 4, layers: 2, mlp: 256, dropout: 0.1 };

/** The transformer of `config` (default TRANSFORMER_CONFIG). */
export function transformerModel(config: TransformerConfig = TRANSFORMER_CONFIG): Model {
  const { vocab, context, width, heads, layers, mlp } = config;
  const x = input("x", ["batch", context], "i32");
  const y = input("y", ["batch", context], "i32");
  const positions = embeddingLayer(arange(context), context, width, "pos_emb");
  let h: Tensor = dropout(add(embeddingLayer(x, vocab, width, "tok_emb"), positions), config.dropout);
  for (let layer = 0; layer < layers; layer++) {
    const name = `blocks.${layer}`;
    const attended = multiHeadAttention(layerNormLayer(h, [width], `${name}.ln1`), width, heads, `${name}.attn`, { causal: true });
    h = add(h, dropout(attended, config.dropout));
    const expanded = gelu(dense(layerNormLayer(h, [width], `${name}.ln2`), width, mlp, `${name}.mlp.fc`));
    h = add(h, dropout(dense(expanded, mlp, width, `${name}.mlp.proj`), config.dropout));
  }
  const logits = dense(layerNormLayer(h, [width], "ln_f"), width, vocab, "head");
  // class dim last (PyTorch would take logits.transpose(1, 2)); mean over the positions with a target
  const loss = crossEntropy(logits, y, { dim: 2, ignoreIndex: -100 });
  return model({ name: "transformer", outputs: { logits }, loss });
}

export default transformerModel();

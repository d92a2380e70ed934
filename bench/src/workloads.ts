/**
 * The benchmark cases: which workloads, at which sizes, with which shared data.
 */
import type { WorkloadData } from "./data.js";
import { MLP_SIZES, makeCeData, makeGemmData, makeMlpData } from "./data.js";
import type { BenchCase, WorkloadName } from "./harness.js";
import { makeCnnData, makeConvData, makeTransformerData } from "./model-data.js";

/** A case with the means to build its (deterministic) data. */
export interface CaseSpec {
  readonly case: BenchCase;
  /** One-line description for reports. */
  readonly description: string;
  /** Builds the shared input data (called once per case, before any system runs). */
  makeData(): WorkloadData;
  /** FLOPs of one run, when GFLOP/s is reported. */
  readonly flops?: number;
}

const mlpName = MLP_SIZES.join("-");
const GEMM = 1024;
/** conv2d case: batch 16, 64 → 64 channels, 32×32, 3×3, padding 1 (same size out), bias. */
const CONV = { n: 16, cin: 64, cout: 64, size: 32, k: 3, pad: 1 } as const;
const convOut = CONV.size + 2 * CONV.pad - CONV.k + 1;

/** Every benchmark case, in report order. */
export const CASES: readonly CaseSpec[] = [
  ...[32, 256].map(
    (batch): CaseSpec => ({
      case: { workload: "mlp_train_step", caseName: `batch ${batch}` },
      description: `MLP ${mlpName} ReLU, mean softmax CE (int labels), Adam lr 1e-3: forward + backward + update`,
      makeData: () => makeMlpData(batch),
    }),
  ),
  {
    case: { workload: "softmax_ce", caseName: "4096x1000" },
    description: "mean softmax cross-entropy forward + gradient wrt logits, logits 4096x1000, int labels",
    makeData: () => makeCeData(4096, 1000),
  },
  {
    case: { workload: "sgemm", caseName: `${GEMM}x${GEMM}x${GEMM}` },
    description: `f32 C = A @ B, ${GEMM}x${GEMM} by ${GEMM}x${GEMM}`,
    makeData: () => makeGemmData(GEMM, GEMM, GEMM),
    flops: 2 * GEMM * GEMM * GEMM,
  },
  ...[1, 1024].map(
    (batch): CaseSpec => ({
      case: { workload: "inference", caseName: `batch ${batch}` },
      description: `MLP ${mlpName} forward pass (logits)`,
      makeData: () => makeMlpData(batch),
    }),
  ),
  {
    case: { workload: "conv2d", caseName: `${CONV.n}x${CONV.cin}x${CONV.size}x${CONV.size} k${CONV.k} -> ${CONV.cout}` },
    description: `f32 conv2d forward (NCHW, PyTorch semantics): x [${CONV.n},${CONV.cin},${CONV.size},${CONV.size}], weight [${CONV.cout},${CONV.cin},${CONV.k},${CONV.k}], bias, stride 1, padding ${CONV.pad}`,
    makeData: () => makeConvData(CONV.n, CONV.cin, CONV.cout, CONV.size, CONV.k, CONV.pad),
    flops: 2 * CONV.n * CONV.cout * convOut * convOut * CONV.cin * CONV.k * CONV.k,
  },
  {
    case: { workload: "cnn_train_step", caseName: "batch 64" },
    description:
      "examples/mnist-cnn: conv5x5(1->16)-BN(train)-ReLU-maxpool2, conv5x5(16->32)-BN-ReLU-maxpool2, dense 512->128 ReLU, dropout 0.25, dense 128->10, mean CE, Adam lr 1e-3: forward + backward + update (checked with dropout 0)",
    makeData: () => makeCnnData(64),
  },
  {
    case: { workload: "transformer_train_step", caseName: "batch 32" },
    description:
      "examples/transformer: decoder-only, 2 pre-LN blocks, width 64, 4 heads (causal, packed in_proj), GELU (erf) MLP 256, dropout 0.1, vocab 11, context 16, CE ignore_index -100, Adam lr 1e-3 (checked with dropout 0)",
    makeData: () => makeTransformerData(32),
  },
  {
    case: { workload: "compile", caseName: "mlp train step" },
    description: `time to compile the MLP ${mlpName} train step (batch 32), graft only`,
    makeData: () => makeMlpData(32),
  },
];

/** Cases of the given workloads (all when `only` is empty). */
export function selectCases(only: readonly WorkloadName[]): CaseSpec[] {
  return CASES.filter((c) => only.length === 0 || only.includes(c.case.workload));
}

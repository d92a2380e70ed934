/**
 * The benchmark cases: which workloads, at which sizes, with which shared data.
 */
import type { WorkloadData } from "./data.js";
import { MLP_SIZES, makeCeData, makeGemmData, makeMlpData } from "./data.js";
import type { BenchCase, WorkloadName } from "./harness.js";

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
    case: { workload: "compile", caseName: "mlp train step" },
    description: `time to compile the MLP ${mlpName} train step (batch 32), graft only`,
    makeData: () => makeMlpData(32),
  },
];

/** Cases of the given workloads (all when `only` is empty). */
export function selectCases(only: readonly WorkloadName[]): CaseSpec[] {
  return CASES.filter((c) => only.length === 0 || only.includes(c.case.workload));
}

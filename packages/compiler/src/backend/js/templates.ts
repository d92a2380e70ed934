/**
 * @file Kernel templates for JS bundles: generated loop kernels that differ only in their numbers
 * (arena offsets, sizes, constants) — an optimizer's update repeated for every param, a bias
 * gradient per layer, the same forward in `forward` and `evaluate` — are emitted once, as a
 * function of those numbers, and each kernel becomes a call of it. The code a kernel runs is
 * unchanged (the numbers become constants of a closure); the bundle holds each loop once.
 */

/** A number literal of generated kernel source (never part of a name such as `t0` or `i1`). */
const NUMBER = /(?<![\w$.])\d+(?:\.\d+)?(?:e[+-]?\d+)?(?![\w$.])/g;

/** A kernel source shared by several kernels: `source` uses `params` where they differ. */
export interface KernelTemplate {
  readonly name: string;
  readonly params: readonly string[];
  /** A `function(F,I,lib){…}` expression over the params. */
  readonly source: string;
  /** How many kernels it stands for. */
  readonly uses: number;
}

/** What {@link kernelTemplates} makes of a list of kernel sources. */
export interface TemplatedKernels {
  readonly templates: readonly KernelTemplate[];
  /** Per kernel, in order: its source unchanged, or the template call that makes it. */
  readonly kernels: readonly string[];
}

/** True for the kernels worth sharing: loops (library calls are one short line each). */
const isLoopKernel = (source: string): boolean => source.includes("for(");

/**
 * Shares the loop kernels among `sources` (kernel function expressions, as the JS code generator
 * writes them) that are the same up to their number literals: each group of two or more becomes
 * one template (named `${prefix}<n>`) whose parameters are the numbers that differ within the
 * group (numbers equal in every member stay literal; numbers that vary together are one parameter).
 */
export const kernelTemplates = (sources: readonly string[], prefix = "kernelTemplate"): TemplatedKernels => {
  const skeletonOf = (source: string): string => source.replace(NUMBER, "#");
  const groups = new Map<string, number[]>();
  sources.forEach((source, index) => {
    if (!isLoopKernel(source)) return;
    const skeleton = skeletonOf(source);
    const members = groups.get(skeleton) ?? [];
    members.push(index);
    groups.set(skeleton, members);
  });
  const kernels = [...sources];
  const templates: KernelTemplate[] = [];
  for (const members of groups.values()) {
    if (members.length < 2) continue;
    const literals = members.map((index) => (sources[index] ?? "").match(NUMBER) ?? []);
    const first = literals[0] ?? [];
    // a parameter per distinct column of values that is not the same in every member
    const paramOf: Array<number | undefined> = [];
    const columns = new Map<string, number>();
    const representatives: number[] = [];
    first.forEach((_, position) => {
      const column = literals.map((values) => values[position] ?? "");
      if (column.every((value) => value === column[0])) return;
      const key = column.join(",");
      let param = columns.get(key);
      if (param === undefined) {
        param = representatives.length;
        columns.set(key, param);
        representatives.push(position);
      }
      paramOf[position] = param;
    });
    const name = `${prefix}${templates.length}`;
    const params = representatives.map((_, param) => `p${param}`);
    let position = 0;
    const source = (sources[members[0] ?? 0] ?? "").replace(NUMBER, (literal) => {
      const param = paramOf[position++];
      return param === undefined ? literal : `p${param}`;
    });
    templates.push({ name, params, source, uses: members.length });
    members.forEach((index, member) => {
      const values = literals[member] ?? [];
      kernels[index] = params.length === 0 ? name : `${name}(${representatives.map((at) => values[at] ?? "").join(",")})`;
    });
  }
  return { templates, kernels };
};

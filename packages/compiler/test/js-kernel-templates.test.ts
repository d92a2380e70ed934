// Kernel templates of JS bundles (backend/js/templates.ts): loop kernels that differ only in their
// numbers are written once; every kernel is still exactly what the code generator wrote.
import { describe, expect, it } from "vitest";
import { kernelTemplates, type KernelTemplate } from "../src/backend/js/templates.js";

const adamMoment = (out: number, size: number, grad: number): string =>
  `function(F,I,lib){\nlet o=${out};\nfor(let i0=0;i0<${size};i0++){\nconst t0=F[${out}+i0];\nconst t1=Math.fround(t0*(0.999));\nconst t2=F[${grad}+i0];\nconst t3=Math.fround(t2*(1e-8));\nF[o++]=Math.fround(t1+t3);\n}\n}`;
const matmul = (out: number): string => `function(F,I,lib){\nlib.matmul(F,${out},1,32,10,64,0,0,64,1,640,0,1,64,-1,0);\n}`;

/** A kernel as its template call makes it: the template's source with the call's numbers put back. */
const expand = (templates: readonly KernelTemplate[], kernel: string): string => {
  const call = /^(\w+)(?:\(([^)]*)\))?$/.exec(kernel);
  const template = templates.find((candidate) => candidate.name === call?.[1]);
  if (call === null || template === undefined) return kernel;
  const values = call[2] === undefined ? [] : call[2].split(",");
  return template.source.replace(/\bp(\d+)\b/g, (_, index: string) => values[Number(index)] ?? "?");
};

describe("JS kernel templates", () => {
  it("writes loop kernels that differ only in numbers once, with a parameter per varying number", () => {
    const sources = [matmul(100), adamMoment(272, 200704, 728368), adamMoment(16, 256, 728368), adamMoment(201104, 32768, 728368)];
    const { templates, kernels } = kernelTemplates(sources);
    expect(templates).toEqual([
      {
        name: "kernelTemplate0",
        // the output offset read and written is one parameter; the gradient offset and the constants, equal in all, stay literal
        params: ["p0", "p1"],
        source: "function(F,I,lib){\nlet o=p0;\nfor(let i0=0;i0<p1;i0++){\nconst t0=F[p0+i0];\nconst t1=Math.fround(t0*(0.999));\nconst t2=F[728368+i0];\nconst t3=Math.fround(t2*(1e-8));\nF[o++]=Math.fround(t1+t3);\n}\n}",
        uses: 3,
      },
    ]);
    expect(kernels).toEqual([matmul(100), "kernelTemplate0(272,200704)", "kernelTemplate0(16,256)", "kernelTemplate0(201104,32768)"]);
    kernels.forEach((kernel, index) => expect(expand(templates, kernel)).toBe(sources[index]));
  });

  it("shares identical loop kernels as one function and leaves library calls and lone kernels alone", () => {
    const reduce = "function(F,I,lib){\nF.fill(0,10,20);\nfor(let i0=0;i0<32;i0++){\nconst t10=F[40+i0];\nF[10]+=t10;\n}\n}";
    const lone = "function(F,I,lib){\nlet o=5;\nfor(let i0=0;i0<2;i0++){\nF[o++]=(-1.5e-7);\n}\n}";
    const sources = [matmul(7), matmul(7), reduce, lone, reduce];
    const { templates, kernels } = kernelTemplates(sources, "k");
    expect(templates).toEqual([{ name: "k0", params: [], source: reduce, uses: 2 }]);
    expect(kernels).toEqual([matmul(7), matmul(7), "k0", lone, "k0"]);
  });

  it("never takes digits of a name or of a decimal apart", () => {
    const kernel = (value: string): string => `function(F,I,lib){\nlet o=3;\nfor(let i12=0;i12<4;i12++){\nconst t12=(${value});\nF[o++]=t12;\n}\n}`;
    const sources = [kernel("0.25"), kernel("2.5e-3"), kernel("7")];
    const { templates, kernels } = kernelTemplates(sources);
    expect(templates[0]?.source).toBe(kernel("p0"));
    expect(kernels).toEqual(["kernelTemplate0(0.25)", "kernelTemplate0(2.5e-3)", "kernelTemplate0(7)"]);
  });
});

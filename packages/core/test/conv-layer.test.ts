/**
 * @file conv2dLayer: PyTorch's nn.Conv2d params (names, shapes, default init bounds) and its
 * argument errors at the user's line.
 */
import * as E from "fp-ts/lib/Either.js";
import { describe, expect, it } from "vitest";
import * as g from "@graft/core";
import { messagesOf } from "./helpers.js";

describe("conv2dLayer", () => {
  it("creates name.weight [out, in/groups, kh, kw] and name.bias [out] with nn.Conv2d's init bounds", () => {
    const x = g.input("x", ["batch", 6, 12, 12]);
    const y = g.conv2dLayer(x, 6, 16, [5, 3], "conv1", { padding: 1, groups: 2 });
    expect(y.type === undefined ? "?" : g.formatType(y.type)).toBe("f32[batch,16,10,12]");
    const graph = g.check(g.model({ name: "cnn", outputs: { y } }));
    if (E.isLeft(graph)) throw new Error(g.formatDiagnostics(graph.left));
    const params = g.initParams(graph.right, 7);
    const weight = params["conv1.weight"];
    const bias = params["conv1.bias"];
    expect(weight?.shape).toEqual([16, 3, 5, 3]);
    expect(bias?.shape).toEqual([16]);
    // kaiming_uniform(a=√5) on fan_in = 3·5·3 = 45 is U(±1/√45); the bias U(±1/√45) too
    const bound = 1 / Math.sqrt(45);
    const largest = (a: g.NDArray | undefined) => Math.max(...Array.from(a?.data ?? []).map(Math.abs));
    expect(largest(weight)).toBeLessThanOrEqual(bound);
    expect(largest(weight)).toBeGreaterThan(0.95 * bound);
    expect(largest(bias)).toBeLessThanOrEqual(bound);
    expect(largest(bias)).toBeGreaterThan(0.5 * bound);
  });

  it("bias: false creates the weight only", () => {
    const y = g.conv2dLayer(g.input("x", [1, 3, 8, 8]), 3, 4, 3, "c", { bias: false });
    const graph = g.check(g.model({ name: "cnn", outputs: { y } }));
    if (E.isLeft(graph)) throw new Error(g.formatDiagnostics(graph.left));
    expect(Object.keys(g.initParams(graph.right, 1)).sort()).toEqual(["c.weight"]);
  });

  it("names the bad argument", () => {
    expect(messagesOf(g.conv2dLayer(g.input("x", [1, 3, 8, 8]), 3, 4, 3, "c", { groups: 2 }))).toEqual(["conv2dLayer: in channels 3 must be a positive multiple of groups 2"]);
    expect(messagesOf(g.conv2dLayer(g.input("x", [1, 4, 8, 8]), 4, 3, 3, "c", { groups: 2 }))).toEqual(["conv2dLayer: out channels 3 must be a positive multiple of groups 2"]);
    expect(messagesOf(g.conv2dLayer(g.input("x", [1, 3, 8, 8]), 3, 4, 0, "c"))).toEqual(["conv2dLayer: kernel size must be positive integers, got [0,0]"]);
    // the layer's input channels disagree with the tensor: conv2d's own message
    expect(messagesOf(g.conv2dLayer(g.input("x", [1, 3, 8, 8]), 1, 6, 5, "c"))).toEqual(["conv2d: input has 3 channels, weight expects 1 (weight f32[6,1,5,5])"]);
  });
});

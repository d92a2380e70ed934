# Prints the PyTorch numbers of compiler/test/normattn.test.ts (python3-torch 1.13).
import json, torch
x = torch.tensor([[[1.0, -2.0, 0.5], [3.0, 0.25, -1.0]], [[0.0, 4.0, -3.0], [2.0, -0.5, 1.5]]])  # [N=2, C=2, L=3]
bn = torch.nn.BatchNorm1d(2, momentum=0.2, eps=1e-3)
with torch.no_grad():
    bn.weight.copy_(torch.tensor([1.5, -0.5])); bn.bias.copy_(torch.tensor([0.1, 0.2]))
bn.train(); y_train = bn(x)
out = {"bn_train": y_train.flatten().tolist(), "running_mean": bn.running_mean.tolist(), "running_var": bn.running_var.tolist(), "num_batches_tracked": int(bn.num_batches_tracked)}
bn.eval(); out["bn_eval"] = bn(x).flatten().tolist()
ln = torch.nn.LayerNorm([2, 3], eps=1e-4)
with torch.no_grad():
    ln.weight.copy_(torch.tensor([[1.0, 2.0, 0.5], [-1.0, 1.0, 3.0]])); ln.bias.copy_(torch.tensor([[0.0, 0.1, 0.2], [0.3, 0.4, 0.5]]))
out["ln"] = ln(x).flatten().tolist()
print(json.dumps(out))

# nn.MultiheadAttention(4, 2, batch_first=True) (causal) → LayerNorm(4), and BatchNorm1d(4) in eval
# over x transposed to [N, C, L]; every state-dict entry set to sin(0.37·i + k) (k: its rank in
# sorted key order), running_var to 1 + that squared; prints the keys with shapes and the outputs.
mods = torch.nn.ModuleDict({"attn": torch.nn.MultiheadAttention(4, 2, batch_first=True), "ln": torch.nn.LayerNorm(4), "bn": torch.nn.BatchNorm1d(4)})
state = mods.state_dict()
with torch.no_grad():
    for k, name in enumerate(sorted(state)):
        t = state[name]
        if t.dtype != torch.float32:
            continue
        values = torch.sin(0.37 * torch.arange(t.numel(), dtype=torch.float64) + k).to(torch.float32).reshape(t.shape)
        t.copy_(1 + values * values if name.endswith("running_var") else values)
mods.eval()
xs = torch.sin(0.5 * torch.arange(24, dtype=torch.float64)).to(torch.float32).reshape(2, 3, 4)
causal = torch.triu(torch.ones(3, 3, dtype=torch.bool), 1)
attended = mods["attn"](xs, xs, xs, attn_mask=causal, need_weights=False)[0]
mha = {"keys": sorted(f"{n}{list(t.shape)}" for n, t in state.items()), "attn_ln": mods["ln"](attended).flatten().tolist(), "bn_eval": mods["bn"](xs.transpose(1, 2)).flatten().tolist()}
print(json.dumps(mha))

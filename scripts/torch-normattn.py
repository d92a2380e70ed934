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

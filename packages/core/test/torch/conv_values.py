# Prints the PyTorch values the conv/pool value tests (core/test/conv-values.test.ts) compare against.
# Run: /usr/bin/python3 packages/core/test/torch/conv_values.py   (Debian python3-torch 1.13)
import torch
import torch.nn.functional as F

torch.set_printoptions(precision=10)
x = torch.arange(1, 1 + 2 * 2 * 4 * 5, dtype=torch.float64).reshape(2, 2, 4, 5).sin()
w = torch.arange(1, 1 + 4 * 1 * 3 * 2, dtype=torch.float64).reshape(4, 1, 3, 2).cos()
b = torch.tensor([0.5, -0.25, 1.0, 2.0], dtype=torch.float64)
seq = torch.arange(1, 1 + 1 * 2 * 7, dtype=torch.float64).reshape(1, 2, 7).cos()
w1 = torch.arange(1, 1 + 2 * 2 * 3, dtype=torch.float64).reshape(2, 2, 3).sin()
wt = torch.arange(1, 1 + 2 * 3 * 2 * 2, dtype=torch.float64).reshape(2, 3, 2, 2).sin()

def show(name, t):
    print(name, list(t.shape), t.flatten().tolist())

show("conv2d", F.conv2d(x, w, b, stride=(2, 1), padding=(1, 2), dilation=(1, 2), groups=2))
show("conv2d_same", F.conv2d(x, w[:2].reshape(2, 1, 3, 2).repeat(1, 2, 1, 1), None, padding="same"))
show("conv1d", F.conv1d(seq, w1, None, stride=2, padding=1, dilation=1))
show("conv_transpose2d", F.conv_transpose2d(x, wt, None, stride=2, padding=1, output_padding=1, groups=1))
show("max_pool2d", F.max_pool2d(x, 3, stride=2, padding=1))
show("max_pool2d_ceil", F.max_pool2d(x, 2, stride=2, ceil_mode=True))
show("avg_pool2d_exclude", F.avg_pool2d(x, 3, stride=2, padding=1, count_include_pad=False))
show("avg_pool2d_ceil", F.avg_pool2d(x, 2, stride=2, ceil_mode=True))
show("adaptive_avg_pool2d", F.adaptive_avg_pool2d(x, (3, 2)))
show("max_pool1d", F.max_pool1d(seq, 3, stride=2, padding=1))
show("avg_pool1d", F.avg_pool1d(seq, 2))
# max-pool ties: the gradient goes to the first maximum in window order
ties = torch.tensor([[[[1.0, 1.0, 0.0], [1.0, 1.0, 0.0], [0.0, 0.0, 0.0]]]], dtype=torch.float64, requires_grad=True)
F.max_pool2d(ties, 2, stride=1).sum().backward()
show("max_pool2d_ties_grad", ties.grad)
# gradients of conv2d
xg = x.clone().requires_grad_(True)
wg = w.clone().requires_grad_(True)
bg = b.clone().requires_grad_(True)
(F.conv2d(xg, wg, bg, stride=(2, 1), padding=(1, 2), dilation=(1, 2), groups=2) ** 2).sum().backward()
show("conv2d_grad_x", xg.grad)
show("conv2d_grad_w", wg.grad)
show("conv2d_grad_b", bg.grad)

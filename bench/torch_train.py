"""PyTorch side of `lowbit bench train`: the same model and batch, timed on
request so the Go harness can interleave it with its own configs.

Protocol (one line each way, like the Go workers):
  -> on start, after warm-up:  "ready <seconds of the last warm-up step>"
  <- "run N"                   -> "done <seconds for N steps> - -"
  <- "quit"                    -> "peak <VmHWM kB>"
Errors print "error <message>" and exit 1.

A step is forward, cross-entropy, backward and Adam (lr 1e-3), as in
recipes.Train. Models follow models/lenet.go (conv without bias before BN,
dense 500 without bias, dense 10 with bias) and, for resnet20, He et al.'s
CIFAR ResNet-20 (16-32-64 channels, 3 basic blocks per stage, 1x1
projection shortcuts where the shape changes).
"""
import argparse
import sys
import time


def reply(s):
    sys.stdout.write(s + "\n")
    sys.stdout.flush()


def peak_kb():
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1])
    except OSError:
        pass
    import resource
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss


def lenet5(nn):
    return nn.Sequential(
        nn.Conv2d(1, 20, 5, bias=False), nn.BatchNorm2d(20), nn.ReLU(), nn.MaxPool2d(2),
        nn.Conv2d(20, 50, 5, bias=False), nn.BatchNorm2d(50), nn.ReLU(), nn.MaxPool2d(2),
        nn.Flatten(),
        nn.Linear(800, 500, bias=False), nn.BatchNorm1d(500), nn.ReLU(),
        nn.Linear(500, 10),
    )


def resnet20(nn):
    class Block(nn.Module):
        def __init__(self, cin, cout, stride):
            super().__init__()
            self.body = nn.Sequential(
                nn.Conv2d(cin, cout, 3, stride, 1, bias=False), nn.BatchNorm2d(cout), nn.ReLU(),
                nn.Conv2d(cout, cout, 3, 1, 1, bias=False), nn.BatchNorm2d(cout),
            )
            self.short = nn.Identity()
            if stride != 1 or cin != cout:
                self.short = nn.Sequential(nn.Conv2d(cin, cout, 1, stride, bias=False), nn.BatchNorm2d(cout))
            self.act = nn.ReLU()

        def forward(self, x):
            return self.act(self.body(x) + self.short(x))

    layers = [nn.Conv2d(3, 16, 3, 1, 1, bias=False), nn.BatchNorm2d(16), nn.ReLU()]
    cin = 16
    for cout, stride in ((16, 1), (32, 2), (64, 2)):
        for i in range(3):
            layers.append(Block(cin, cout, stride if i == 0 else 1))
            cin = cout
    layers += [nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(64, 10)]
    return nn.Sequential(*layers)


MODELS = {"lenet5": (lenet5, (1, 28, 28)), "resnet20": (resnet20, (3, 32, 32))}


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--model", default="lenet5", choices=sorted(MODELS))
    p.add_argument("--batch", type=int, default=64)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--warmup", type=int, default=3)
    p.add_argument("--seed", type=int, default=1)
    a = p.parse_args()
    try:
        import torch
        import torch.nn as nn
    except ImportError as e:
        reply("error no torch: %s" % e)
        return 1
    torch.set_num_threads(a.threads)
    torch.manual_seed(a.seed)
    build, shape = MODELS[a.model]
    model = build(nn)
    model.train()
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    loss_fn = nn.CrossEntropyLoss()
    x = torch.rand((a.batch,) + shape)
    y = torch.randint(0, 10, (a.batch,))

    def step():
        opt.zero_grad(set_to_none=True)
        loss = loss_fn(model(x), y)
        loss.backward()
        opt.step()

    last = 0.0  # the last warm-up step, as the Go workers report
    for _ in range(max(a.warmup, 1)):
        t0 = time.perf_counter()
        step()
        last = time.perf_counter() - t0
    reply("ready %.9f" % last)
    for line in sys.stdin:
        f = line.split()
        if not f:
            continue
        if f[0] == "run" and len(f) == 2:
            n = int(f[1])
            t0 = time.perf_counter()
            for _ in range(n):
                step()
            reply("done %.9f - -" % (time.perf_counter() - t0))
        elif f[0] == "quit":
            reply("peak %d" % peak_kb())
            return 0
        else:
            reply("error unknown command %r" % line.strip())
            return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())

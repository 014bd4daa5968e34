"""PyTorch side of `lowbit bench train`: the same model and batch, timed on
request so the Go harness can interleave it with its own configs.

Protocol (one line each way, like the Go workers):
  -> on start, after warm-up:  "ready <seconds of the last warm-up step>"
  <- "run N"                   -> "done <seconds for N steps> - -"
  <- "info"                    -> "info <JSON: torch version, threads, BLAS, OpenBLAS core, oneDNN>"
  <- "quit"                    -> "peak <VmHWM kB>"
Errors print "error <message>" and exit 1.

A step is forward, cross-entropy, backward and Adam (lr 1e-3), as in
recipes.Train. Models follow models/lenet.go (conv without bias before BN,
dense 500 without bias, dense 10 with bias) and, for resnet20, He et al.'s
CIFAR ResNet-20 (16-32-64 channels, 3 basic blocks per stage, 1x1
projection shortcuts where the shape changes); resnet18 follows
models/resnet.go (7x7/2 stem, BN, ReLU, 2x2/2 max pool, basic blocks
64-128-256-512, 1000 classes).

The harness starts this script with OMP_WAIT_POLICY=PASSIVE and without
OPENBLAS_CORETYPE / OPENBLAS_L2_SIZE, so OpenBLAS picks its native kernel;
"info" reports what it then runs on.

Memory format: a PyTorch user training a convnet on CPU may keep it NCHW
or move model and input to channels_last (oneDNN's preferred layout, often
faster). With --format auto (the default) a probe process, started with the
same arguments and --probe, times a few steps of each and prints the
faster; this worker then builds only that one, so its peak RSS is the
chosen format's alone. "info" reports the format as "variant".
"""
import argparse
import ctypes
import json
import re
import subprocess
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


def mapped_blas():
    """BLAS libraries mapped into this process (after a step has run)."""
    libs = set()
    try:
        with open("/proc/self/maps") as f:
            for line in f:
                path = line.split()[-1]
                name = path.rsplit("/", 1)[-1].lower()
                if path.startswith("/") and ("blas" in name or "mkl" in name):
                    libs.add(path)
    except OSError:
        pass
    return sorted(libs)


def openblas_core(libs):
    """openblas_get_corename() of the OpenBLAS in use, "" when none."""
    for path in libs:
        if "openblas" not in path:
            continue
        try:
            lib = ctypes.CDLL(path)
            lib.openblas_get_corename.restype = ctypes.c_char_p
            return lib.openblas_get_corename().decode()
        except (OSError, AttributeError):
            continue
    return ""


def info(torch):
    """What this peer runs on, for the report."""
    m = re.search(r"BLAS_INFO=([^,\s]+)", torch.__config__.show())
    libs = mapped_blas()
    blas = ", ".join(libs) or "none mapped"
    try:
        from threadpoolctl import threadpool_info
        pools = [p for p in threadpool_info() if p.get("user_api") == "blas"]
        if pools:
            blas = ", ".join("%s %s (%s)" % (p.get("internal_api"), p.get("version"), p.get("architecture")) for p in pools)
    except ImportError:
        pass
    return {
        "torch": torch.__version__,
        "threads": torch.get_num_threads(),
        "blas_info": m.group(1) if m else "unknown",
        "blas": blas,
        "openblas_core": openblas_core(libs),
        "mkldnn": bool(torch.backends.mkldnn.is_available() and torch.backends.mkldnn.enabled),
    }


def lenet5(nn):
    return nn.Sequential(
        nn.Conv2d(1, 20, 5, bias=False), nn.BatchNorm2d(20), nn.ReLU(), nn.MaxPool2d(2),
        nn.Conv2d(20, 50, 5, bias=False), nn.BatchNorm2d(50), nn.ReLU(), nn.MaxPool2d(2),
        nn.Flatten(),
        nn.Linear(800, 500, bias=False), nn.BatchNorm1d(500), nn.ReLU(),
        nn.Linear(500, 10),
    )


def resnet20(nn):
    layers = [nn.Conv2d(3, 16, 3, 1, 1, bias=False), nn.BatchNorm2d(16), nn.ReLU()]
    cin = 16
    for cout, stride in ((16, 1), (32, 2), (64, 2)):
        for i in range(3):
            layers.append(Block.make(nn, cin, cout, stride if i == 0 else 1))
            cin = cout
    layers += [nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(64, 10)]
    return nn.Sequential(*layers)


class Block:
    """He et al.'s basic block: two 3x3 convs with BN, a projection shortcut
    where the shape changes."""

    @staticmethod
    def make(nn, cin, cout, stride):
        class B(nn.Module):
            def __init__(self):
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

        return B()


def resnet18(nn):
    layers = [nn.Conv2d(3, 64, 7, 2, 3, bias=False), nn.BatchNorm2d(64), nn.ReLU(), nn.MaxPool2d(2, 2)]
    cin = 64
    for stage, cout in enumerate((64, 128, 256, 512)):
        for i in range(2):
            layers.append(Block.make(nn, cin, cout, 2 if stage > 0 and i == 0 else 1))
            cin = cout
    layers += [nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(512, 1000)]
    return nn.Sequential(*layers)


# name: (builder, input shape, classes)
MODELS = {
    "lenet5": (lenet5, (1, 28, 28), 10),
    "resnet20": (resnet20, (3, 32, 32), 10),
    "resnet18": (resnet18, (3, 224, 224), 1000),
}


FORMATS = ("nchw", "channels_last")


def setup(torch, nn, a, fmt):
    """Model, optimizer and one fixed batch in memory format fmt."""
    torch.manual_seed(a.seed)
    build, shape, classes = MODELS[a.model]
    model = build(nn)
    model.train()
    x = torch.rand((a.batch,) + shape)
    y = torch.randint(0, classes, (a.batch,))
    if fmt == "channels_last" and len(shape) == 3:
        model = model.to(memory_format=torch.channels_last)
        x = x.contiguous(memory_format=torch.channels_last)
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    loss_fn = nn.CrossEntropyLoss()

    def step():
        opt.zero_grad(set_to_none=True)
        loss = loss_fn(model(x), y)
        loss.backward()
        opt.step()

    return step


def probe(torch, nn, a):
    """The faster memory format: median of 3 timed steps after 2 warm-up
    steps, each format in turn."""
    best, best_t = None, None
    for fmt in FORMATS:
        step = setup(torch, nn, a, fmt)
        for _ in range(2):
            step()
        ts = []
        for _ in range(3):
            t0 = time.perf_counter()
            step()
            ts.append(time.perf_counter() - t0)
        t = sorted(ts)[1]
        if best_t is None or t < best_t:
            best, best_t = fmt, t
        del step
    return best


def choose_format(a):
    """Runs the probe in its own process (its memory does not count
    towards this worker's peak RSS) and returns its answer."""
    args = [sys.executable, __file__, "--model", a.model, "--batch", str(a.batch),
            "--threads", str(a.threads), "--seed", str(a.seed), "--probe"]
    out = subprocess.run(args, capture_output=True, text=True, check=False)
    fmt = out.stdout.strip()
    if out.returncode != 0 or fmt not in FORMATS:
        raise RuntimeError("format probe failed: %s %s" % (fmt, out.stderr.strip()[-300:]))
    return fmt


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--model", default="lenet5", choices=sorted(MODELS))
    p.add_argument("--batch", type=int, default=64)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--warmup", type=int, default=3)
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--format", default="auto", choices=("auto",) + FORMATS)
    p.add_argument("--probe", action="store_true", help="print the faster memory format and exit")
    a = p.parse_args()
    try:
        import torch
        import torch.nn as nn
    except ImportError as e:
        reply("error no torch: %s" % e)
        return 1
    torch.set_num_threads(a.threads)
    if a.probe:
        print(probe(torch, nn, a))
        return 0
    fmt = a.format
    if fmt == "auto":
        try:
            fmt = choose_format(a)
        except (RuntimeError, OSError) as e:
            reply("error %s" % e)
            return 1
    step = setup(torch, nn, a, fmt)

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
        elif f[0] == "info":
            reply("info " + json.dumps(dict(info(torch), variant=fmt)))
        elif f[0] == "quit":
            reply("peak %d" % peak_kb())
            return 0
        else:
            reply("error unknown command %r" % line.strip())
            return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())

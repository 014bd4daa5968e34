"""PyTorch side of `lowbit bench infer`: torchvision's ResNet-18 in inference
mode, float or PyTorch's own int8 model, timed on request so the Go harness
can interleave it with the packed engine.

Peers:
  float  torchvision.models.resnet18(), eval(), torch.inference_mode(); the
         fastest at batch 1 of eager NCHW, channels_last and
         torch.utils.mkldnn.to_mkldnn (oneDNN's layout), reported by "info"
  int8   torchvision.models.quantization.resnet18(quantize=False), eval(),
         fuse_model(), torch.backends.quantized.engine = "onednn",
         qconfig get_default_qconfig("onednn"), prepare, calibrate on a few
         random batches, convert (post-training static quantization), a
         deep copy of the converted model (faster here, see build)

Protocol (one line each way, like the Go workers):
  -> on start, after warm-up:  "ready <seconds of the last warm-up batch-1 call>"
  <- "run B N [T]"             -> "done <median s> <min s> <total s>" (N calls at batch B,
                                  after torch.set_num_threads(T) when T is given)
  <- "layers N [T]"            -> "layers <conv1 median s> <fc median s>" (float peer: conv1 at
                                  batch 1, 224 px, and fc on one 512-vector, N calls each;
                                  conv1 the fastest of its eager, channels_last and
                                  to_mkldnn forms, as float_variants offers the network)
The harness keeps one process per peer kind and gives each request its
thread setting (OMP_NUM_THREADS is the largest).
  <- "info"                    -> "info <JSON: torch version, threads, BLAS, OpenBLAS core, oneDNN>"
  <- "quit"                    -> "peak <VmHWM kB>"
Errors print "error <message>" and exit 1.

Weights are torchvision's initialisation (seeded): speed does not depend on
training. The harness starts this script with OMP_WAIT_POLICY=PASSIVE and
without OPENBLAS_CORETYPE / OPENBLAS_L2_SIZE, so OpenBLAS picks its native
kernel; "info" reports what it then runs on (info() of torch_train.py).
"""
import argparse
import copy
import json
import sys
import time

from torch_train import info, peak_kb, reply


def build(torch, peer, seed, batch):
    import torchvision
    torch.manual_seed(seed)
    if peer == "float":
        return torchvision.models.resnet18(weights=None).eval()
    from torch.ao.quantization import convert, get_default_qconfig, prepare
    m = torchvision.models.quantization.resnet18(weights=None, quantize=False).eval()
    m.fuse_model()
    torch.backends.quantized.engine = "onednn"
    m.qconfig = get_default_qconfig("onednn")
    prepare(m, inplace=True)
    with torch.inference_mode():
        for _ in range(4):
            m(torch.randn(batch, 3, 224, 224))
    return convert(m, inplace=True)


def float_variants(torch, model):
    """The float model as a user may run it: eager NCHW, channels_last, or
    converted to oneDNN's own layout (torch.utils.mkldnn); each is a
    callable of an NCHW batch."""
    from torch.utils import mkldnn
    cl = copy.deepcopy(model).to(memory_format=torch.channels_last)
    mk = mkldnn.to_mkldnn(copy.deepcopy(model))
    return {
        "eager": model,
        "channels_last": lambda x: cl(x.contiguous(memory_format=torch.channels_last)),
        "to_mkldnn": lambda x: mk(x.to_mkldnn()).to_dense(),
    }


def conv1_forms(torch, conv, x1):
    """The first conv as each float variant runs it, with its input already
    in that variant's layout (the network converts once, not per layer)."""
    from torch.utils import mkldnn
    cl = copy.deepcopy(conv).to(memory_format=torch.channels_last)
    mk = mkldnn.to_mkldnn(copy.deepcopy(conv))
    return [(conv, x1), (cl, x1.contiguous(memory_format=torch.channels_last)), (mk, x1.to_mkldnn())]


def fastest(torch, variants, x1, n=8):
    """The variant with the smallest median batch-1 time (after a warm-up call)."""
    best, best_t = None, None
    with torch.inference_mode():
        for name, fn in variants.items():
            fn(x1)
            t, _, _ = timed(lambda: fn(x1), n)
            if best_t is None or t < best_t:
                best, best_t = name, t
    return best


def timed(fn, n):
    """Median, min and total seconds of n calls of fn, after untimed calls
    for 20 ms and at least one (the process was just thawed; the Go
    workers do the same: bench/infer_serve.go warmUp)."""
    w0 = time.perf_counter()
    fn()
    while time.perf_counter() - w0 < 0.020:
        fn()
    ts = []
    t00 = time.perf_counter()
    for _ in range(n):
        t0 = time.perf_counter()
        fn()
        ts.append(time.perf_counter() - t0)
    total = time.perf_counter() - t00
    ts.sort()
    k = len(ts)
    med = ts[k // 2] if k % 2 else (ts[k // 2 - 1] + ts[k // 2]) / 2
    return med, ts[0], total


def serve(torch, model, peer, x, variant):
    for line in sys.stdin:
        f = line.split()
        if not f:
            continue
        if f[0] == "run" and len(f) in (3, 4):
            b, n = int(f[1]), int(f[2])
            if len(f) == 4:
                torch.set_num_threads(int(f[3]))
            xb = x[:b].clone()
            mb = model.get(b)
            with torch.inference_mode():
                mb(xb)
                med, lo, tot = timed(lambda: mb(xb), n)
            reply("done %.9f %.9f %.9f" % (med, lo, tot))
        elif f[0] == "layers" and len(f) in (2, 3) and peer == "float":
            n = int(f[1])
            if len(f) == 3:
                torch.set_num_threads(int(f[2]))
            x1, v = x[:1], torch.randn(1, 512)
            with torch.inference_mode():
                c = None
                for fn, xin in conv1_forms(torch, model.conv1, x1):
                    fn(xin)
                    t, _, _ = timed(lambda: fn(xin), n)
                    c = t if c is None else min(c, t)
                model.fc(v)
                d, _, _ = timed(lambda: model.fc(v), n)
            reply("layers %.9f %.9f" % (c, d))
        elif f[0] == "info":
            i = info(torch)
            i["quantized_engine"] = torch.backends.quantized.engine
            i["variant"] = variant
            reply("info " + json.dumps(i))
        elif f[0] == "quit":
            reply("peak %d" % peak_kb())
            return 0
        else:
            reply("error unknown command %r" % line.strip())
            return 1
    return 0


class PerBatch:
    """One copy of the model per batch size, each first called at its own
    size: the int8 model here runs batch 1 at 12 ms when that is the first
    size it sees, and at 18-24 ms after a batch-32 call (torch 1.13,
    onednn, measured 2026-12-04), so every size gets the fast case. conv1
    and fc are the eager model's, for the per-layer timings."""

    def __init__(self, make, eager):
        self.make, self.models = make, {}
        self.conv1, self.fc = eager.conv1, eager.fc

    def get(self, b):
        if b not in self.models:
            self.models[b] = self.make()
        return self.models[b]


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--peer", default="float", choices=["float", "int8"])
    p.add_argument("--batch", type=int, default=32)
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--warmup", type=int, default=3)
    p.add_argument("--seed", type=int, default=1)
    a = p.parse_args()
    try:
        import torch
    except ImportError as e:
        reply("error no torch: %s" % e)
        return 1
    try:
        torch.set_num_threads(a.threads)
        pristine = build(torch, a.peer, a.seed, 8)  # never called: copied per batch size
        eager = copy.deepcopy(pristine)
        x = torch.randn(a.batch, 3, 224, 224)
        variant = "eager"
        if a.peer == "float":
            variant = fastest(torch, float_variants(torch, copy.deepcopy(pristine)), torch.randn(1, 3, 224, 224))
            model = PerBatch(lambda: float_variants(torch, copy.deepcopy(pristine))[variant], eager)
        else:
            model = PerBatch(lambda: copy.deepcopy(pristine), eager)
        last = 0.0  # the last warm-up call, as the Go workers report
        with torch.inference_mode():
            x1 = x[:1].clone()
            for _ in range(max(a.warmup, 1)):
                t0 = time.perf_counter()
                model.get(1)(x1)
                last = time.perf_counter() - t0
            model.get(a.batch)(x)
    except Exception as e:  # reported to the harness, which records it in the row
        reply("error %s: %s" % (type(e).__name__, str(e).replace("\n", " ")))
        return 1
    reply("ready %.9f" % last)
    return serve(torch, model, a.peer, x, variant)


if __name__ == "__main__":
    sys.exit(main())

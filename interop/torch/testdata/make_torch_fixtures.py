#!/usr/bin/env python3
"""PyTorch fixtures for lowbit's interop/torch tests, and a loader check for `lowbit convert`.

Run once by hand (outputs are committed; needs Debian python3-torch and python3-torchvision,
and the system python: /usr/bin/python3, since a pyenv python may shadow it):

    /usr/bin/python3 make_torch_fixtures.py
        writes, next to this file:
        lenet5.safetensors, lenet5.pt, resnet20.safetensors, resnet20.pt
            state_dicts at seeded random init, every BatchNorm given non-trivial
            weight/bias/running_mean/running_var (so the BN mapping is tested)
        logits.safetensors
            '<model>.input' (NCHW) and '<model>.logits' (eval mode) for lenet5 and resnet20
        state_dicts.json
            [name, shape] of every state_dict entry of the PyTorch layouts below,
            ResNet-18 straight from torchvision

    /usr/bin/python3 make_torch_fixtures.py check MODEL WEIGHTS.safetensors [IO.safetensors]
        loads WEIGHTS (e.g. `lowbit convert` output) into the PyTorch MODEL with
        load_state_dict(strict=True), sized by the file's 'lowbit.model' metadata (width,
        input, classes; else the defaults), and prints its eval logits on IO's 'input'
        (default: this directory's logits.safetensors, lenet5/resnet20 only); when IO
        holds 'logits' too, exits 1 unless max |PyTorch - IO| <= 1e-4.

The PyTorch layouts are lowbit's models (models/*.go) written in PyTorch, with these names:

    lenet5     conv1 (1->20, 5x5, no bias), bn1, conv2 (20->50, 5x5, no bias), bn2,
               fc1 (800->500, no bias), bn3 (BatchNorm1d), fc2 (500->10);
               conv -> BN -> ReLU -> maxpool 2x2, flatten in NCHW order.
    resnet20   torchvision's ResNet naming: conv1, bn1, layer{1,2,3}.{0,1,2}.{conv1,bn1,conv2,bn2},
               layer{2,3}.0.downsample.{0,1} (1x1 projection, option B), fc (64->10).
    resnet18   torchvision.models.resnet18; lowbit pools the stem 2x2/2 instead of 3x3/2 pad 1
               (same 56x56 map, same parameters), so `check` swaps the maxpool in.
    vgg-small  IR-Net/LSQ's CIFAR VGG-small: conv0..conv5 (3x3, pad 1, no bias), bn0..bn5, fc
               (8192->10); conv1, conv3, conv5 run conv -> maxpool 2x2 -> BN -> ReLU.
    alexnet    conv1..conv5 (96, 256, 384, 384, 256; no bias), bn1..bn5, fc1, bn6, fc2, bn7, fc3;
               conv1, conv2, conv5 run conv -> maxpool 3x3/2 -> BN -> ReLU; fc1/fc2 have no bias.
"""
import json
import os
import struct
import sys

import torch
import torch.nn as nn
import torch.nn.functional as F

HERE = os.path.dirname(os.path.abspath(__file__))
TOL = 1e-4


def ch(c, width):
    """lowbit's channel multiplier (models.width): max(1, round-half-up(c * width))."""
    return c if width in (0, 1) else max(1, int(c * width + 0.5))


def flat_features(features, chw):
    """The length of features(x) flattened, for one zero image of shape chw."""
    with torch.no_grad():
        return torch.flatten(features(torch.zeros((1,) + tuple(chw))), 1).shape[1]


class LeNet5(nn.Module):
    def __init__(self, classes=10, width=1, chw=(1, 28, 28)):
        super().__init__()
        c1, c2, f = ch(20, width), ch(50, width), ch(500, width)
        self.conv1 = nn.Conv2d(chw[0], c1, 5, bias=False)
        self.bn1 = nn.BatchNorm2d(c1)
        self.conv2 = nn.Conv2d(c1, c2, 5, bias=False)
        self.bn2 = nn.BatchNorm2d(c2)
        self.fc1 = nn.Linear(flat_features(self.features, chw), f, bias=False)
        self.bn3 = nn.BatchNorm1d(f)
        self.fc2 = nn.Linear(f, classes)

    def features(self, x):
        x = F.max_pool2d(F.relu(self.bn1(self.conv1(x))), 2)
        return F.max_pool2d(F.relu(self.bn2(self.conv2(x))), 2)

    def forward(self, x):
        x = F.relu(self.bn3(self.fc1(torch.flatten(self.features(x), 1))))
        return self.fc2(x)


class BasicBlock(nn.Module):
    def __init__(self, cin, cout, stride):
        super().__init__()
        self.conv1 = nn.Conv2d(cin, cout, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(cout)
        self.conv2 = nn.Conv2d(cout, cout, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(cout)
        self.downsample = None
        if stride != 1 or cin != cout:
            self.downsample = nn.Sequential(nn.Conv2d(cin, cout, 1, stride, bias=False), nn.BatchNorm2d(cout))

    def forward(self, x):
        y = self.bn2(self.conv2(F.relu(self.bn1(self.conv1(x)))))
        return F.relu(y + (x if self.downsample is None else self.downsample(x)))


class ResNet20(nn.Module):
    def __init__(self, classes=10, width=1, chw=(3, 32, 32)):
        super().__init__()
        cin = ch(16, width)
        self.conv1 = nn.Conv2d(chw[0], cin, 3, 1, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(cin)
        for i, c in enumerate([16, 32, 64]):
            blocks = []
            for j in range(3):
                blocks.append(BasicBlock(cin, ch(c, width), 2 if i > 0 and j == 0 else 1))
                cin = ch(c, width)
            setattr(self, "layer%d" % (i + 1), nn.Sequential(*blocks))
        self.fc = nn.Linear(cin, classes)

    def forward(self, x):
        x = F.relu(self.bn1(self.conv1(x)))
        x = self.layer3(self.layer2(self.layer1(x)))
        return self.fc(torch.flatten(F.adaptive_avg_pool2d(x, 1), 1))


class VGGSmall(nn.Module):
    def __init__(self, classes=10, width=1, chw=(3, 32, 32)):
        super().__init__()
        cin = chw[0]
        for i, c in enumerate([128, 128, 256, 256, 512, 512]):
            setattr(self, "conv%d" % i, nn.Conv2d(cin, ch(c, width), 3, 1, 1, bias=False))
            setattr(self, "bn%d" % i, nn.BatchNorm2d(ch(c, width)))
            cin = ch(c, width)
        self.fc = nn.Linear(flat_features(self.features, chw), classes)

    def features(self, x):
        for i in range(6):
            x = getattr(self, "conv%d" % i)(x)
            if i % 2 == 1:
                x = F.max_pool2d(x, 2)
            x = F.relu(getattr(self, "bn%d" % i)(x))
        return x

    def forward(self, x):
        return self.fc(torch.flatten(self.features(x), 1))


class AlexNetBN(nn.Module):
    CONVS = [(96, 11, 4, 2, True), (256, 5, 1, 2, True), (384, 3, 1, 1, False), (384, 3, 1, 1, False), (256, 3, 1, 1, True)]

    def __init__(self, classes=1000, width=1, chw=(3, 224, 224)):
        super().__init__()
        cin = chw[0]
        for i, (c, k, s, p, _) in enumerate(self.CONVS):
            setattr(self, "conv%d" % (i + 1), nn.Conv2d(cin, ch(c, width), k, s, p, bias=False))
            setattr(self, "bn%d" % (i + 1), nn.BatchNorm2d(ch(c, width)))
            cin = ch(c, width)
        f = ch(4096, width)
        self.fc1 = nn.Linear(flat_features(self.features, chw), f, bias=False)
        self.bn6 = nn.BatchNorm1d(f)
        self.fc2 = nn.Linear(f, f, bias=False)
        self.bn7 = nn.BatchNorm1d(f)
        self.fc3 = nn.Linear(f, classes)

    def features(self, x):
        for i, (_, _, _, _, pool) in enumerate(self.CONVS):
            x = getattr(self, "conv%d" % (i + 1))(x)
            if pool:
                x = F.max_pool2d(x, 3, 2)
            x = F.relu(getattr(self, "bn%d" % (i + 1))(x))
        return x

    def forward(self, x):
        x = torch.flatten(self.features(x), 1)
        x = F.relu(self.bn6(self.fc1(x)))
        x = F.relu(self.bn7(self.fc2(x)))
        return self.fc3(x)


def resnet18(classes=1000, width=1, chw=(3, 224, 224), lowbit_stem=False):
    import torchvision
    if width not in (0, 1) or chw[0] != 3:
        raise SystemExit("resnet18: torchvision's model has width 1 and 3 input channels")
    m = torchvision.models.resnet18(num_classes=classes)
    if lowbit_stem:
        m.maxpool = nn.MaxPool2d(2, 2)
    return m


# name -> (constructor(classes, width, chw), default per-sample input C, H, W, default classes)
MODELS = {
    "lenet5": (LeNet5, (1, 28, 28), 10),
    "resnet20": (ResNet20, (3, 32, 32), 10),
    "vgg-small": (VGGSmall, (3, 32, 32), 10),
    "alexnet": (AlexNetBN, (3, 224, 224), 1000),
    "resnet18": (lambda classes, width, chw: resnet18(classes, width, chw, lowbit_stem=True), (3, 224, 224), 1000),
}


def randomize(model, gen):
    """He-normal conv/linear weights (logits of order 1, so 1e-4 is a tight tolerance), and
    non-trivial parameters and running statistics for every BatchNorm."""
    for mod in model.modules():
        if isinstance(mod, (nn.Conv2d, nn.Linear)):
            fan_in = mod.weight[0].numel()
            with torch.no_grad():
                mod.weight.copy_(torch.randn(mod.weight.shape, generator=gen) * (2 / fan_in) ** 0.5)
                if mod.bias is not None:
                    mod.bias.copy_(torch.randn(mod.bias.shape, generator=gen) * 0.1)
        if isinstance(mod, (nn.BatchNorm1d, nn.BatchNorm2d)):
            n = mod.num_features
            with torch.no_grad():
                mod.weight.copy_(torch.rand(n, generator=gen) + 0.5)
                mod.bias.copy_(torch.randn(n, generator=gen) * 0.1)
                mod.running_mean.copy_(torch.randn(n, generator=gen) * 0.1)
                mod.running_var.copy_(torch.rand(n, generator=gen) * 1.5 + 0.5)
                mod.num_batches_tracked.fill_(7)


def save_safetensors(path, tensors):
    """Writes {name: tensor} as safetensors (8-byte header length, JSON header, data)."""
    dtypes = {torch.float32: "F32", torch.int64: "I64"}
    header, blobs, off = {"__metadata__": {"format": "pt"}}, [], 0
    for name, t in tensors.items():
        t = t.detach().contiguous().cpu()
        b = t.numpy().tobytes()
        header[name] = {"dtype": dtypes[t.dtype], "shape": list(t.shape), "data_offsets": [off, off + len(b)]}
        blobs.append(b)
        off += len(b)
    h = json.dumps(header, separators=(",", ":")).encode()
    h += b" " * (-len(h) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(h)) + h + b"".join(blobs))


def load_safetensors(path, with_metadata=False):
    """Reads a safetensors file into {name: tensor} (F32, F16, BF16, F64, I64, I32)."""
    dtypes = {"F32": torch.float32, "F16": torch.float16, "BF16": torch.bfloat16,
              "F64": torch.float64, "I64": torch.int64, "I32": torch.int32}
    with open(path, "rb") as f:
        raw = f.read()
    (n,) = struct.unpack("<Q", raw[:8])
    header = json.loads(raw[8:8 + n])
    data = raw[8 + n:]
    out = {}
    for name, info in header.items():
        if name == "__metadata__":
            continue
        a, b = info["data_offsets"]
        flat = torch.frombuffer(bytearray(data[a:b]), dtype=dtypes[info["dtype"]]) if b > a else \
            torch.empty(0, dtype=dtypes[info["dtype"]])
        out[name] = flat.reshape(info["shape"]).clone()
    return (out, header.get("__metadata__", {})) if with_metadata else out


def shapes(model):
    return [[k, list(v.shape)] for k, v in model.state_dict().items()]


def make():
    torch.manual_seed(13)
    gen = torch.Generator().manual_seed(13)
    io = {}
    for name in ["lenet5", "resnet20"]:
        ctor, chw, classes = MODELS[name]
        model = ctor(classes, 1, chw)
        randomize(model, gen)
        model.eval()
        sd = model.state_dict()
        save_safetensors(os.path.join(HERE, name + ".safetensors"), sd)
        torch.save(sd, os.path.join(HERE, name + ".pt"))
        x = torch.randn((4,) + chw, generator=gen)
        with torch.no_grad():
            io[name + ".input"] = x
            io[name + ".logits"] = model(x)
    save_safetensors(os.path.join(HERE, "logits.safetensors"), io)
    layouts = {name: shapes(ctor(classes, 1, chw)) for name, (ctor, chw, classes) in MODELS.items() if name != "resnet18"}
    layouts["resnet18"] = shapes(resnet18())
    with open(os.path.join(HERE, "state_dicts.json"), "w") as f:  # one tensor a line
        f.write("{\n" + ",\n".join('"%s": [\n%s\n]' % (name, ",\n".join(json.dumps(e) for e in entries))
                                    for name, entries in layouts.items()) + "\n}\n")


def check(name, weights, io_path=None):
    """Loads weights into the PyTorch model with strict=True; its size (width, input,
    classes) comes from the 'lowbit.model' metadata `lowbit convert` writes, else the defaults."""
    ctor, chw, classes = MODELS[name]
    sd, meta = load_safetensors(weights, with_metadata=True)
    spec = json.loads(meta.get("lowbit.model", "{}"))
    width = spec.get("width", 1)
    if "input" in spec:
        h, w, c = spec["input"]
        chw = (c, h, w)
    model = ctor(spec.get("classes", classes), width, chw)
    model.load_state_dict(sd, strict=True)
    model.eval()
    print("%s: loaded %s into PyTorch %s with strict=True (%d tensors)" % (name, weights, torch.__version__, len(sd)))
    io = load_safetensors(io_path or os.path.join(HERE, "logits.safetensors"))
    key = "input" if io_path else name + ".input"
    if key not in io:
        return 0
    with torch.no_grad():
        logits = model(io[key])
    print("logits[0]:", " ".join("%.5f" % v for v in logits[0].tolist()))
    if io_path and "logits" in io:
        diff = (logits - io["logits"]).abs().max().item()
        print("max |PyTorch - lowbit| = %.3g over %d logits (tolerance %g)" % (diff, logits.numel(), TOL))
        return 0 if diff <= TOL else 1
    return 0


if __name__ == "__main__":
    if len(sys.argv) >= 4 and sys.argv[1] == "check" and sys.argv[2] in MODELS:
        sys.exit(check(sys.argv[2], sys.argv[3], sys.argv[4] if len(sys.argv) > 4 else None))
    if len(sys.argv) == 1:
        make()
        sys.exit(0)
    sys.exit(__doc__)

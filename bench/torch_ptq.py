#!/usr/bin/python3
"""PyTorch's own post-training int8 quantization of a lowbit float ResNet-20.

The peer of `lowbit bench ptq -torch python3`: reads the safetensors file that lowbit
writes (the float model's layers in execution order with OHWI conv weights and their
BatchNorms, the calibration images and the test split, NHWC, already normalised),
rebuilds ResNet-20, checks its float accuracy, then quantizes it the way PyTorch's
users do (eager mode: fuse conv+BN(+ReLU), get_default_qconfig("onednn"), prepare,
calibrate, convert) and prints one JSON line: {"Acc", "FPAcc", "Seconds", ...}.

As in lowbit's W8A8 rows, the first conv and the last linear layer stay in float
(lowbit's first/last-layer policy "fp"); every body conv and residual add is int8.
Usage: /usr/bin/python3 bench/torch_ptq.py FILE.safetensors
"""
import json
import struct
import sys
import time

import numpy as np
import torch
import torch.nn as nn
from torch.ao.quantization import DeQuantStub, QuantStub, convert, fuse_modules, get_default_qconfig, prepare

ENGINE = "onednn"


def read_safetensors(path):
    with open(path, "rb") as f:
        b = f.read()
    n = struct.unpack("<Q", b[:8])[0]
    hdr = json.loads(b[8:8 + n])
    meta = hdr.pop("__metadata__", {})
    out = {}
    for k, v in hdr.items():
        dt = {"F32": np.float32, "I32": np.int32}[v["dtype"]]
        a, e = v["data_offsets"]
        out[k] = np.frombuffer(b[8 + n + a:8 + n + e], dtype=dt).reshape(v["shape"])
    return out, meta


def conv_bn(t, i, spec):
    conv = nn.Conv2d(spec["in"], spec["out"], spec["kernel"], spec.get("stride", 1), spec.get("pad", 0), bias=spec["bias"])
    conv.weight.data = torch.from_numpy(t[f"layer.{i}.weight"].transpose(0, 3, 1, 2).copy())
    if spec["bias"]:
        conv.bias.data = torch.from_numpy(t[f"layer.{i}.bias"].copy())
    bn = nn.BatchNorm2d(spec["out"], eps=spec["eps"])
    for name in ("weight", "bias", "running_mean", "running_var"):
        getattr(bn, name).data = torch.from_numpy(t[f"layer.{i}.bn.{name}"].copy())
    return conv, bn


class Block(nn.Module):
    def __init__(self, t, i, specs):
        super().__init__()
        self.conv_a, self.bn_a = conv_bn(t, i, specs[i])
        self.relu_a = nn.ReLU()
        self.conv_b, self.bn_b = conv_bn(t, i + 1, specs[i + 1])
        self.used = 2
        self.sc = None
        if i + 2 < len(specs) and specs[i + 2]["kind"] == "conv" and specs[i + 2]["kernel"] == 1:
            self.sc = nn.Sequential(*conv_bn(t, i + 2, specs[i + 2]))
            self.used = 3
        self.add = nn.quantized.FloatFunctional()

    def forward(self, x):
        y = self.relu_a(self.bn_a(self.conv_a(x)))
        y = self.bn_b(self.conv_b(y))
        return self.add.add_relu(y, self.sc(x) if self.sc is not None else x)

    def fuse(self):
        fuse_modules(self, [["conv_a", "bn_a", "relu_a"], ["conv_b", "bn_b"]], inplace=True)
        if self.sc is not None:
            fuse_modules(self.sc, [["0", "1"]], inplace=True)


class ResNet20(nn.Module):
    def __init__(self, t, specs):
        super().__init__()
        self.conv, self.bn = conv_bn(t, 0, specs[0])
        self.relu = nn.ReLU()
        self.quant, self.dequant = QuantStub(), DeQuantStub()
        blocks, i = [], 1
        while specs[i]["kind"] == "conv":
            b = Block(t, i, specs)
            blocks.append(b)
            i += b.used
        self.blocks = nn.Sequential(*blocks)
        fc = specs[i]
        self.fc = nn.Linear(fc["in"], fc["out"])
        self.fc.weight.data = torch.from_numpy(t[f"layer.{i}.weight"].copy())
        self.fc.bias.data = torch.from_numpy(t[f"layer.{i}.bias"].copy())

    def forward(self, x):
        x = self.relu(self.bn(self.conv(x)))
        x = self.dequant(self.blocks(self.quant(x)))
        return self.fc(torch.flatten(nn.functional.adaptive_avg_pool2d(x, 1), 1))


def accuracy(model, x, y):
    right = 0
    with torch.no_grad():
        for i in range(0, len(y), 250):
            right += (model(x[i:i + 250]).argmax(1) == y[i:i + 250]).sum().item()
    return 100.0 * right / len(y)


def main():
    t, meta = read_safetensors(sys.argv[1])
    if meta.get("model") != "resnet20":
        sys.exit("torch_ptq.py builds ResNet-20 only, the file holds " + meta.get("model", "?"))
    specs = json.loads(meta["layers"])
    nchw = lambda a: torch.from_numpy(a.transpose(0, 3, 1, 2).copy())
    cx, tx = nchw(t["calib.x"]), nchw(t["test.x"])
    ty = torch.from_numpy(t["test.y"].astype(np.int64))
    torch.backends.quantized.engine = ENGINE
    model = ResNet20(t, specs).eval()
    fp = accuracy(model, tx, ty)
    t0 = time.time()
    fuse_modules(model, [["conv", "bn", "relu"]], inplace=True)
    for b in model.blocks:
        b.fuse()
    model.qconfig = get_default_qconfig(ENGINE)
    model.conv.qconfig = None  # first and last layers stay float, as in lowbit's rows
    model.fc.qconfig = None
    prepare(model, inplace=True)
    with torch.no_grad():
        for i in range(0, len(cx), 100):
            model(cx[i:i + 100])
    convert(model, inplace=True)
    secs = time.time() - t0
    acc = accuracy(model, tx, ty)
    print(json.dumps({"Acc": acc, "FPAcc": fp, "Seconds": secs, "Engine": ENGINE,
                      "Torch": torch.__version__, "Threads": torch.get_num_threads()}))


if __name__ == "__main__":
    main()

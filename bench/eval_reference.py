#!/usr/bin/python3
# The reference for `dfq eval`: PyTorch's own forward of the same TorchScript file on the same
# CIFAR-10 binary file, as a PyTorch user would write it (torch.jit.load, inference mode,
# batches of --batch images normalized with the mean/std of the file's dfq_meta.json).
#   /usr/bin/python3 bench/eval_reference.py MODEL.pt DATA.bin [--batch 256] [--threads N]
# Prints one line: top-1, images, seconds inside the loop (load and decode excluded).
import argparse
import json
import time

import numpy as np
import torch


def main():
    p = argparse.ArgumentParser()
    p.add_argument("model")
    p.add_argument("data")
    p.add_argument("--batch", type=int, default=256)
    p.add_argument("--threads", type=int, default=0)
    a = p.parse_args()
    if a.threads > 0:
        torch.set_num_threads(a.threads)
    files = {"dfq_meta.json": ""}
    model = torch.jit.load(a.model, _extra_files=files).eval()
    meta = json.loads(files["dfq_meta.json"] or "{}")
    mean = torch.tensor(meta.get("mean", [0.0, 0.0, 0.0])).view(1, 3, 1, 1)
    std = torch.tensor(meta.get("std", [1.0, 1.0, 1.0])).view(1, 3, 1, 1)
    raw = np.fromfile(a.data, dtype=np.uint8).reshape(-1, 1 + 3 * 32 * 32)
    labels = torch.from_numpy(raw[:, 0].astype(np.int64))
    images = torch.from_numpy(raw[:, 1:].copy()).view(-1, 3, 32, 32)
    correct = 0
    start = time.perf_counter()
    with torch.inference_mode():
        for b in range(0, len(labels), a.batch):
            x = (images[b:b + a.batch].float() / 255 - mean) / std
            correct += (model(x).argmax(1) == labels[b:b + a.batch]).sum().item()
    seconds = time.perf_counter() - start
    print("pytorch %s  top-1 %.2f %%  %d images in %.2f s  (%d threads)" %
          (torch.__version__, 100.0 * correct / len(labels), len(labels), seconds,
           torch.get_num_threads()))


if __name__ == "__main__":
    main()

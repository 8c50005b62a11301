#!/usr/bin/python3
"""Writes the fuzzers' seed corpora (tests/fuzz/corpus/<target>/): small valid inputs of every
format, so that the fuzzers start from what the readers accept. Deterministic; run it again
after changing it and commit the result. Needs Pillow for the JPEG and BMP seeds."""
import gzip
import io
import os
import shutil
import struct
import sys
import zipfile

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
OUT = os.path.join(HERE, "corpus")


def put(target, name, data):
    d = os.path.join(OUT, target)
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, name), "wb") as f:
        f.write(data if isinstance(data, bytes) else data.encode())


def idx(dims, payload, dtype=0x08):
    return struct.pack(">HBB", 0, dtype, len(dims)) + b"".join(struct.pack(">I", d) for d in dims) + payload


def main():
    shutil.rmtree(OUT, ignore_errors=True)
    # IDX: 3 images of 4x4, their labels, gzipped too.
    images = idx([3, 4, 4], bytes(range(48)))
    labels = idx([3], bytes([0, 1, 2]))
    put("fuzz_idx", "images.idx", images)
    put("fuzz_idx", "labels.idx", labels)
    put("fuzz_idx", "images.idx.gz", gzip.compress(images, mtime=0))
    put("fuzz_idx", "floats.idx", idx([2, 2], struct.pack(">4f", 1, 2, 3, 4), 0x0D))
    # CIFAR: two records of each kind (label byte(s) + 3x32x32 pixels).
    pixels = bytes(i % 251 for i in range(3072))
    put("fuzz_cifar", "cifar10.bin", bytes([3]) + pixels + bytes([7]) + pixels)
    put("fuzz_cifar", "cifar100.bin", bytes([1, 42]) + pixels + bytes([0, 99]) + pixels)
    # Images: the first byte picks the extension (0 png, 1 jpg, 2 jpeg, 3 bmp).
    from PIL import Image
    img = Image.new("RGB", (6, 5))
    img.putdata([(x * 40, y * 50, (x + y) * 20) for y in range(5) for x in range(6)])
    for ext, fmt, pick in (("png", "PNG", 0), ("jpg", "JPEG", 1), ("bmp", "BMP", 3)):
        b = io.BytesIO()
        img.save(b, fmt)
        put("fuzz_image_folder", ext, bytes([pick]) + b.getvalue())
    gray = io.BytesIO()
    img.convert("L").save(gray, "PNG")
    put("fuzz_image_folder", "gray.png", bytes([0]) + gray.getvalue())
    # Experiments: the presets, and one with overrides after a NUL.
    presets = os.path.join(ROOT, "resources", "presets")
    for name in sorted(os.listdir(presets)):
        with open(os.path.join(presets, name), "rb") as f:
            put("fuzz_config", name, f.read())
    put("fuzz_config", "overrides", "name: x\nmodel: {path: demo}\n\0schedule.epochs=3\n"
        "quant.layer_bits={conv1: 8}\nschedule.lr_milestones=[2, 3]")
    # dfq_meta.json as the workbench and the fixture script write it.
    put("fuzz_meta", "full.json",
        '{"input_shape":[1,28,28],"mean":[0.286],"std":[0.353],"num_classes":3,'
        '"class_names":["a","b","c"],"dataset":"fashion-mnist","top1":92.5}')
    put("fuzz_meta", "minimal.json", '{"input_shape":[3,32,32]}')
    # Run folders: the first byte picks the file the rest replaces (see fuzz_run_folder.cpp).
    files = ["metrics.csv", "eval.csv", "bn_match.csv", "bn_channels.csv", "rounding.csv",
             "alpha.csv", "layers.csv", "boundary.csv", "features.csv", "summary.json",
             "config.yaml", "architecture.csv", "architecture.txt"]
    put("fuzz_run_folder", "metrics", bytes([files.index("metrics.csv")]) +
        b"step,epoch,iteration,g_ce,g_bns,g_loss,s_ce,s_kd,s_loss,student_trained,calibrating,"
        b"lr_g,lr_s,it_per_s,g_ms,s_ms\n0,0,0,2.3,1,3,0,0,0,0,1,0.001,0,5,10,0\n")
    put("fuzz_run_folder", "layers", bytes([files.index("layers.csv")]) +
        b"step,source,layer,kind,sqnr_db,bn_mean_mse,bn_var_mse\n5,real,conv1,weight,12.5,,\n")
    put("fuzz_run_folder", "summary", bytes([files.index("summary.json")]) +
        b'{"fp_top1":90,"status":"failed","error":"x","warnings":["w"]}')
    # TorchScript: the smallest fixtures.
    models = os.path.join(ROOT, "tests", "fixtures", "models")
    for name in ("nobn.traced.pt", "with_meta.traced.pt", "no_forward.scripted.pt",
                 "runtime_error.traced.pt"):
        with open(os.path.join(models, name), "rb") as f:
            put("fuzz_torchscript", name, f.read())
    # A zip whose member is deflated, to reach the checker's inflate path.
    b = io.BytesIO()
    with zipfile.ZipFile(b, "w", zipfile.ZIP_DEFLATED) as z:
        z.writestr(zipfile.ZipInfo("archive/data.pkl", (1980, 1, 1, 0, 0, 0)), b"x" * 200)
    put("fuzz_torchscript", "deflated.zip", b.getvalue())
    return 0


if __name__ == "__main__":
    sys.exit(main())

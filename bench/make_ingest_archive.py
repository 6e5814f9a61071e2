"""Writes the ingest benchmark drop: N 64x64 RGB PNGs (smooth gradients + blobs + noise, so PNG
compression behaves like natural images) in a .tar.gz, plus metadata.csv.

    python3 bench/make_ingest_archive.py [--n 10000] [--out /tmp/fairgen-ingest-bench.tar.gz]

Then time both sides on it: `fairgen bench ingest --archive OUT` and `python3 bench/ingest_python.py OUT`.
(`fairgen bench ingest` without --archive generates a similar drop itself; see docs/performance.md.)
"""
import argparse, io, tarfile, time
import numpy as np
from PIL import Image

def image(rng, size=64):
    y, x = np.mgrid[0:size, 0:size].astype(np.float32) / size
    base = rng.uniform(0.2, 0.8, 3)
    grad = rng.uniform(-0.3, 0.3, (3, 2))
    img = base[:, None, None] + grad[:, 0, None, None] * x + grad[:, 1, None, None] * y
    cy, cx, r = rng.uniform(0.2, 0.8), rng.uniform(0.2, 0.8), rng.uniform(0.05, 0.25)
    blob = np.exp(-((x - cx) ** 2 + (y - cy) ** 2) / (2 * r * r))
    img = img - rng.uniform(0.1, 0.4, 3)[:, None, None] * blob
    img = img + rng.normal(0, 0.03, img.shape)
    return (np.clip(img, 0, 1).transpose(1, 2, 0) * 255 + 0.5).astype(np.uint8)

def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, default=10000)
    ap.add_argument("--out", default="/tmp/fairgen-ingest-bench.tar.gz")
    args = ap.parse_args()
    rng = np.random.default_rng(0)
    t0 = time.time()
    rows = ["path,diagnosis,skin_tone,split"]
    with tarfile.open(args.out, "w:gz") as tar:
        def add(name, data):
            info = tarfile.TarInfo(name); info.size = len(data); info.mtime = 1700000000
            tar.addfile(info, io.BytesIO(data))
        pngs = []
        for i in range(args.n):
            buf = io.BytesIO()
            Image.fromarray(image(rng)).save(buf, format="PNG")
            pngs.append((f"img/{i:05d}.png", buf.getvalue()))
            rows.append(f"img/{i:05d}.png,{'ab'[i % 2]},{['light', 'dark'][i % 3 == 0]},train")
        add("metadata.csv", ("\n".join(rows) + "\n").encode())
        for name, data in pngs:
            add(name, data)
    print(f"wrote {args.out}: {args.n} images in {time.time() - t0:.1f} s")

if __name__ == "__main__":
    main()

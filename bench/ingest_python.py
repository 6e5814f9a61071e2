"""Reference for `fairgen bench ingest`: Python tarfile + Pillow decode of every PNG of a .tar.gz into
one float32 array [N, 3, H, W] in [0, 1]. Prints one JSON line with the keys of `fairgen bench ingest`
({"workload": "ingest", "images", "images_per_second", "peak_rss_mb", "engine": "python"}) plus "n" (= images),
"seconds" and "cpu_seconds" (cpu_seconds includes interpreter start-up and imports).

Run both on the same archive, either the Python-made one:

    python3 bench/make_ingest_archive.py --out /tmp/fairgen-ingest-bench.tar.gz
    fairgen bench ingest --archive /tmp/fairgen-ingest-bench.tar.gz
    python3 bench/ingest_python.py /tmp/fairgen-ingest-bench.tar.gz

or the one fairgen generates (same layout, different pixels):

    fairgen bench ingest --write-archive /tmp/fairgen-ingest-bench.tar.gz
    python3 bench/ingest_python.py /tmp/fairgen-ingest-bench.tar.gz
"""
import io, json, resource, sys, tarfile, time
import numpy as np
from PIL import Image

def main(path):
    t0 = time.perf_counter()
    images = []
    with tarfile.open(path, "r:gz") as tar:
        for member in tar:
            if not member.isfile() or not member.name.lower().endswith(".png"):
                continue
            data = tar.extractfile(member).read()
            img = np.asarray(Image.open(io.BytesIO(data)).convert("RGB"), dtype=np.float32) / 255.0
            images.append(img.transpose(2, 0, 1))
    array = np.stack(images)
    seconds = time.perf_counter() - t0
    usage = resource.getrusage(resource.RUSAGE_SELF)
    print(json.dumps({"workload": "ingest", "images": len(array), "engine": "python",
                      "images_per_second": round(len(array) / seconds, 1), "peak_rss_mb": round(usage.ru_maxrss / 1024, 1),
                      "n": len(array), "seconds": round(seconds, 3),
                      "cpu_seconds": round(usage.ru_utime + usage.ru_stime, 3)}))

if __name__ == "__main__":
    main(sys.argv[1])

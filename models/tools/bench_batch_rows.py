"""Per-row cost of a denoiser graph by batch size, on CPU onnxruntime: what batching several
streams' steps into one run can save at best. Random inputs of the graph's own shapes (batch
dimension first); median of --iters runs after one warm-up.

    python models/tools/bench_batch_rows.py models/foley/denoiser.onnx models/presenter/denoiser.onnx
"""
import argparse
import time

import numpy as np
import onnxruntime as ort

DTYPES = {"tensor(float)": np.float32, "tensor(int64)": np.int64}


def feeds(session, batch, rng):
    out = {}
    for i in session.get_inputs():
        # The first dimension is the batch; a symbolic one elsewhere is taken as 1.
        shape = [batch] + [d if isinstance(d, int) else 1 for d in i.shape[1:]]
        out[i.name] = rng.random(shape).astype(DTYPES[i.type])
    return out


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("graphs", nargs="+")
    ap.add_argument("--batches", default="1,2,3,6,12")
    ap.add_argument("--iters", type=int, default=15)
    ap.add_argument("--threads", type=int, default=2)
    args = ap.parse_args()
    rng = np.random.default_rng(0)
    print("| graph | batch rows | ms per run | ms per row |")
    print("|---|---|---|---|")
    for path in args.graphs:
        options = ort.SessionOptions()
        options.intra_op_num_threads = args.threads
        session = ort.InferenceSession(path, options, providers=["CPUExecutionProvider"])
        for batch in map(int, args.batches.split(",")):
            f = feeds(session, batch, rng)
            session.run(None, f)
            times = []
            for _ in range(args.iters):
                start = time.perf_counter()
                session.run(None, f)
                times.append(time.perf_counter() - start)
            ms = float(np.median(times)) * 1e3
            print(f"| {path} | {batch} | {ms:.2f} | {ms / batch:.2f} |")


if __name__ == "__main__":
    main()

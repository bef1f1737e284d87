"""Benchmark: reading GloVe text, and reopening a table cache.

1. Writes a GloVe text file (400,000 x 100 by default: word-like tokens,
   numbers written with "%.5f") and reads it with vocabgraft, with gensim
   (``KeyedVectors.load_word2vec_format(path, no_header=True)``) and with
   ``pyarrow.csv`` (the baseline a user would write: ``read_csv`` with
   delimiter " " and no quoting, value columns typed float32, stacked into an
   (N, D) float32 matrix, plus the token list and a token -> row dict, which
   the other two readers also build). Each read runs in a fresh process, the
   readers take turns, and each is run ``--repeats`` times; medians are
   reported.

   Peak memory is the growth of ``ru_maxrss`` during the read, after the
   child imported its libraries and warmed up on a 10-line file (so library
   initialisation is not counted). The budget it is compared with is the
   final matrix plus the tokens as Python objects (the list and its strings).

2. Saves a 400,000 x 300 float32 table with ``table.save`` and, in fresh
   processes, times ``vocabgraft.io.load(folder)`` (a memory map) and 1,000
   random lookups, one ``table[token]`` at a time and as one batch; the
   first pass maps in the pages it touches, so the single lookups are timed
   once more (``_warm``).

Prints one JSON line to stdout; progress goes to stderr. ``--quick`` uses
small sizes to check that it runs. The machines are noisy: wall and CPU
times are both reported, as medians, with the load average at the start.

    python benches/bench_load.py            # the full run
    python benches/bench_load.py --quick    # a smoke test
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

READERS = ("vocabgraft", "gensim", "pyarrow_csv")
_SYLLABLES = [
    "ka",
    "ter",
    "on",
    "al",
    "ing",
    "re",
    "de",
    "ist",
    "ma",
    "ti",
    "co",
    "la",
    "ne",
    "pro",
    "ver",
    "sa",
    "mi",
    "tion",
    "en",
    "ar",
    "lo",
    "ca",
    "un",
    "ber",
    "sto",
    "ri",
    "pe",
    "di",
    "ment",
    "ho",
    "ga",
    "ble",
    "li",
    "mo",
    "fa",
    "ve",
]


def log(message: str) -> None:
    print(f"[bench_load] {message}", file=sys.stderr, flush=True)


def _maxrss_bytes() -> int:
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak if sys.platform == "darwin" else peak * 1024


def make_tokens(n: int, seed: int) -> list[str]:
    """``n`` distinct word-like tokens: 1 to 4 syllables, a number where needed."""
    rng = np.random.default_rng(seed)
    syllables = np.array(_SYLLABLES)
    lengths = rng.integers(1, 5, n)
    picks = rng.integers(0, len(syllables), (n, 4))
    seen: set[str] = set()
    tokens = []
    for i in range(n):
        token = "".join(syllables[picks[i, : lengths[i]]])
        if token in seen:
            token = f"{token}{i}"
        seen.add(token)
        tokens.append(token)
    return tokens


def write_glove(path: Path, rows: int, dim: int, seed: int = 0) -> None:
    rng = np.random.default_rng(seed)
    tokens = make_tokens(rows, seed)
    line = "%s " + " ".join(["%.5f"] * dim) + "\n"
    with open(path, "w", encoding="utf-8") as f:
        for start in range(0, rows, 10_000):
            block = rng.normal(0.0, 0.4, (min(10_000, rows - start), dim)).astype(np.float32)
            f.write("".join(line % (tokens[start + i], *row) for i, row in enumerate(block)))


# -- children: one read each ----------------------------------------------------------


def _read_vocabgraft(path: str) -> tuple[int, int, Any]:
    import vocabgraft.io

    table = vocabgraft.io.load(path, progress=False)
    return len(table), table.dim, table


def _read_gensim(path: str) -> tuple[int, int, Any]:
    from gensim.models import KeyedVectors

    kv = KeyedVectors.load_word2vec_format(path, no_header=True)
    return len(kv), kv.vector_size, kv


def _read_pyarrow(path: str) -> tuple[int, int, Any]:
    import pyarrow as pa
    import pyarrow.csv as pcsv

    with open(path, encoding="utf-8") as f:
        dim = len(f.readline().split(" ")) - 1
    names = ["token"] + [f"v{i}" for i in range(dim)]
    table = pcsv.read_csv(
        path,
        read_options=pcsv.ReadOptions(column_names=names),
        parse_options=pcsv.ParseOptions(delimiter=" ", quote_char=False),
        convert_options=pcsv.ConvertOptions(
            column_types={"token": pa.string(), **{n: pa.float32() for n in names[1:]}}
        ),
    )
    matrix = np.stack([table.column(n).to_numpy() for n in names[1:]], axis=1)
    tokens = table.column("token").to_pylist()
    index = {t: i for i, t in enumerate(tokens)}
    del table
    return len(matrix), dim, (matrix, tokens, index)


_CHILD_READERS = {
    "vocabgraft": _read_vocabgraft,
    "gensim": _read_gensim,
    "pyarrow_csv": _read_pyarrow,
}


def child_read(reader: str, path: str, warmup: str) -> dict[str, Any]:
    read = _CHILD_READERS[reader]
    read(warmup)
    base = _maxrss_bytes()
    wall, cpu = time.perf_counter(), time.process_time()
    rows, dim, result = read(path)
    wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    peak = _maxrss_bytes()
    out = {"seconds": wall, "cpu_seconds": cpu, "rows": rows, "dim": dim}
    out["peak_rss_growth"] = peak - base
    out["peak_rss"] = peak
    if reader == "vocabgraft":
        tokens = result.vocab.tokens
        out["token_bytes"] = sys.getsizeof(tokens) + sum(map(sys.getsizeof, tokens))
        out["token_utf8_bytes"] = sum(len(t.encode("utf-8")) for t in tokens)
        out["matrix_bytes"] = int(result.vectors.nbytes)
    return out


def child_cache(folder: str, queries_path: str) -> dict[str, Any]:
    import vocabgraft.io

    queries = json.loads(Path(queries_path).read_text(encoding="utf-8"))
    start = time.perf_counter()
    table = vocabgraft.io.load(folder)
    opened = time.perf_counter() - start
    start = time.perf_counter()
    for token in queries:
        table[token]
    single = time.perf_counter() - start
    start = time.perf_counter()
    batch = table[queries]
    batched = time.perf_counter() - start
    assert batch.shape == (len(queries), table.dim)
    # Again, now that the pages those lookups touch are mapped in.
    start = time.perf_counter()
    for token in queries:
        table[token]
    warm = time.perf_counter() - start
    return {
        "open_ms": opened * 1e3,
        "single_ms": single * 1e3,
        "batched_ms": batched * 1e3,
        "single_warm_ms": warm * 1e3,
    }


def run_child(*args: str) -> dict[str, Any]:
    proc = subprocess.run(
        [sys.executable, __file__, "--child", *args],
        capture_output=True,
        text=True,
        check=False,
    )
    if proc.returncode != 0:
        raise RuntimeError(f"child {args} failed:\n{proc.stderr[-4000:]}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


# -- the parent -----------------------------------------------------------------------


def bench_readers(folder: Path, rows: int, dim: int, repeats: int) -> dict[str, Any]:
    path = folder / "vectors.txt"
    log(f"writing {rows:,} x {dim} GloVe text to {path}")
    write_glove(path, rows, dim)
    warmup = folder / "warmup.txt"
    with open(path, encoding="utf-8") as f:
        warmup.write_text("".join(next(f) for _ in range(10)), encoding="utf-8")
    runs: dict[str, list[dict[str, Any]]] = {r: [] for r in READERS}
    for k in range(repeats):
        for reader in READERS:
            result = run_child("read", reader, str(path), str(warmup))
            assert (result["rows"], result["dim"]) == (rows, dim), result
            runs[reader].append(result)
            log(
                f"run {k + 1}/{repeats} {reader}: {result['seconds']:.2f} s wall, "
                f"{result['cpu_seconds']:.2f} s cpu, peak +{result['peak_rss_growth'] / 2**20:.0f} MiB"
            )
    med = {
        r: {
            key: statistics.median(x[key] for x in runs[r])
            for key in ("seconds", "cpu_seconds", "peak_rss_growth")
        }
        for r in READERS
    }
    ours = runs["vocabgraft"][0]
    budget = ours["matrix_bytes"] + ours["token_bytes"]
    return {
        "file_bytes": path.stat().st_size,
        "rows": rows,
        "dim": dim,
        "repeats": repeats,
        "seconds": {r: round(med[r]["seconds"], 3) for r in READERS},
        "cpu_seconds": {r: round(med[r]["cpu_seconds"], 3) for r in READERS},
        "peak_rss_growth_mib": {r: round(med[r]["peak_rss_growth"] / 2**20, 1) for r in READERS},
        "speedup_vs_gensim": round(med["gensim"]["seconds"] / med["vocabgraft"]["seconds"], 2),
        "speedup_vs_pyarrow_csv": round(
            med["pyarrow_csv"]["seconds"] / med["vocabgraft"]["seconds"], 2
        ),
        "cpu_speedup_vs_gensim": round(
            med["gensim"]["cpu_seconds"] / med["vocabgraft"]["cpu_seconds"], 2
        ),
        "cpu_speedup_vs_pyarrow_csv": round(
            med["pyarrow_csv"]["cpu_seconds"] / med["vocabgraft"]["cpu_seconds"], 2
        ),
        "matrix_bytes": ours["matrix_bytes"],
        "token_bytes": ours["token_bytes"],
        "rss_ratio": round(med["vocabgraft"]["peak_rss_growth"] / budget, 3),
        # The same with tokens counted as their UTF-8 text only (no Python objects).
        "rss_ratio_utf8_tokens": round(
            med["vocabgraft"]["peak_rss_growth"]
            / (ours["matrix_bytes"] + ours["token_utf8_bytes"]),
            3,
        ),
        "rss_ratio_pyarrow_csv": round(med["pyarrow_csv"]["peak_rss_growth"] / budget, 3),
        "rss_ratio_gensim": round(med["gensim"]["peak_rss_growth"] / budget, 3),
    }


def bench_cache(folder: Path, rows: int, dim: int, runs: int) -> dict[str, Any]:
    from vocabgraft import EmbeddingTable

    log(f"saving a {rows:,} x {dim} table cache")
    tokens = make_tokens(rows, seed=1)
    vectors = np.random.default_rng(1).standard_normal((rows, dim), dtype=np.float32)
    cache = folder / "cache"
    EmbeddingTable(vectors, tokens).save(cache)
    del vectors
    rng = np.random.default_rng(2)
    queries = [tokens[i] for i in rng.integers(0, rows, 1000).tolist()]
    queries_path = folder / "queries.json"
    queries_path.write_text(json.dumps(queries), encoding="utf-8")
    results = [run_child("cache", str(cache), str(queries_path)) for _ in range(runs)]
    for r in results:
        log(
            f"cache: open {r['open_ms']:.1f} ms, 1000 lookups {r['single_ms']:.1f} ms single, "
            f"{r['batched_ms']:.1f} ms batched, {r['single_warm_ms']:.1f} ms single again"
        )
    return {
        "cache_rows": rows,
        "cache_dim": dim,
        "cache_runs": runs,
        "cache_open_ms": round(statistics.median(r["open_ms"] for r in results), 2),
        "lookups_1000_single_ms": round(statistics.median(r["single_ms"] for r in results), 2),
        "lookups_1000_batched_ms": round(statistics.median(r["batched_ms"] for r in results), 2),
        "lookups_1000_single_warm_ms": round(
            statistics.median(r["single_warm_ms"] for r in results), 2
        ),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="small sizes, to check it runs")
    parser.add_argument("--repeats", type=int, default=3, help="reads per reader")
    parser.add_argument("--child", nargs="+", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        kind, *rest = args.child
        result = child_read(*rest) if kind == "read" else child_cache(*rest)
        print(json.dumps(result))
        return
    rows, dim, cache_rows, cache_dim = (
        (20_000, 100, 20_000, 300) if args.quick else (400_000, 100, 400_000, 300)
    )
    load_average = os.getloadavg()[0] if hasattr(os, "getloadavg") else None
    with tempfile.TemporaryDirectory(prefix="bench_load_") as tmp:
        folder = Path(tmp)
        readers = bench_readers(folder, rows, dim, args.repeats)
        cache = bench_cache(folder, cache_rows, cache_dim, runs=5)
    result = {
        "bench": "load",
        "quick": args.quick,
        "load_average_1m": load_average,
        "cpus": os.cpu_count(),
        **readers,
        **cache,
    }
    result["targets"] = {
        "speedup_vs_gensim_ge_10": result["speedup_vs_gensim"] >= 10,
        "speedup_vs_pyarrow_csv_ge_1": result["speedup_vs_pyarrow_csv"] >= 1.0,
        "rss_ratio_le_1_5": result["rss_ratio"] <= 1.5,
        "cache_open_lt_50ms": result["cache_open_ms"] < 50,
        "lookups_1000_single_lt_5ms": result["lookups_1000_single_ms"] < 5,
        "lookups_1000_batched_lt_5ms": result["lookups_1000_batched_ms"] < 5,
    }
    print(json.dumps(result))


if __name__ == "__main__":
    main()

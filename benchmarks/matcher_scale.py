"""The matcher at scale: build, size, memory, latency, throughput and accuracy vs exact search.

    .venv/bin/python benchmarks/matcher_scale.py --records 100000      # quick, ~10 min
    .venv/bin/python benchmarks/matcher_scale.py --records 1000000     # ~30 min on 2 cores

A child process generates a synthetic face gallery with `matcher.generate` (2 captures per
identity over 4 origins, so 4 partitions), computes exact search for the probes and, for
each `--trees` setting, creates the gallery with `Gallery.create` (the code path of
`matcher gallery generate`). Then, per setting, a fresh child process opens the gallery as
`matcher serve` would and measures:
- build time (records grouped, records.jsonl, vectors.npy, Annoy trees), sizes on disk,
  open time and resident memory (anonymous, and file-backed = shared mmap pages);
- for each `--search-k`: search latency (median, p99) on one thread, queries per second
  on 1 and 2 threads, the rank-1 identification rate (is the top candidate an enrolled
  mate?) and the rank-10 hit rate (is a mate among the top 10?) of mated probes, beside the
  same rates of exact search (numpy, every record) over the same gallery;
- for the first setting (at `--live-search-k`): time from Add to searchable, and search
  latency while a full rebuild runs against idle, with the rebuild phase the slowest
  searches overlapped.
Searches are `Gallery.search` in process (k 10, no score floor, valid now), without gRPC.
Figures from a shared machine are noisy; the load average is printed at start and end.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np

from matcher.gallery import DEFAULT_SEARCH_K, Gallery
from matcher.generate import generate
from matcher.heap import long_lived_allocations
from matcher.manifest import DEFAULT_N_TREES
from matcher.records import GalleryRecord, SearchFilters
from matcher.synthetic import SyntheticTemplates

SEED = 2026
SAMPLES = 2
K = 10
WARMUP = 20
MIB = 1 << 20


@dataclass
class Probes:
    vectors: np.ndarray  # mated probes first, then non-mated
    mates: list[set[str]]


def percentile(samples: list[float], q: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def memory() -> dict[str, float]:
    """This process's resident memory in MiB: anonymous (private) and file-backed (mmap)."""
    fields = {}
    for line in Path("/proc/self/status").read_text().splitlines():
        name, _, value = line.partition(":")
        if name in ("VmRSS", "RssAnon", "RssFile", "VmHWM"):
            fields[name] = int(value.split()[0]) / 1024
    return fields


def directory_sizes(directory: Path) -> dict[str, float]:
    sizes = {"index.ann": 0.0, "vectors.npy": 0.0, "records.jsonl": 0.0}
    for path in directory.rglob("*"):
        if path.name in sizes:
            sizes[path.name] += path.stat().st_size / MIB
    return sizes


# -- the parent: data, ground truth, builds --------------------------------------------------


def exact_top(gallery: np.ndarray, ids: np.ndarray, probes: np.ndarray) -> list[list[str]]:
    """Top-K ids by exact cosine (float64 scores of float32 unit vectors), ties by id."""
    tops: list[list[str]] = []
    for start in range(0, len(probes), 64):
        block = probes[start : start + 64].astype(np.float32) @ gallery.T
        for row in block:
            best = np.argpartition(-row, K)[:K]
            ranked = sorted(best.tolist(), key=lambda i: (-float(row[i]), ids[i]))[:K]
            tops.append([str(ids[i]) for i in ranked])
    return tops


def rates(tops: list[list[str]], probes: Probes) -> tuple[float, float]:
    mated = [i for i, mates in enumerate(probes.mates) if mates]
    rank1 = sum(1 for i in mated if tops[i] and tops[i][0] in probes.mates[i])
    rank10 = sum(1 for i in mated if probes.mates[i] & set(tops[i][:K]))
    return rank1 / len(mated), rank10 / len(mated)


def parent(args: argparse.Namespace) -> None:
    """Builds in one child process, measures each setting in another: the parent stays
    small, so the measuring process has the machine's memory as a serving matcher would."""
    root = Path(args.workdir or tempfile.mkdtemp(prefix="matcher-bench-"))
    root.mkdir(parents=True, exist_ok=True)
    print(f"command: {' '.join(sys.argv)}")
    print(f"machine: {os.cpu_count()} cores; load average at start {os.getloadavg()[0]:.2f}")
    build_args = {
        "root": str(root),
        "records": args.records,
        "queries": args.queries,
        "unmated": args.unmated,
        "trees": args.trees,
    }
    built = run_child("--build", build_args)
    print(
        f"gallery: {args.records:,} face templates (512-d), {args.records // SAMPLES:,} "
        f"identities x {SAMPLES}, 4 origins; probes: {built['mated']} mated + "
        f"{args.unmated} non-mated; generated in {built['generated']:.1f} s",
        flush=True,
    )
    print(
        f"exact search (numpy, every record): rank-1 {built['exact_rank1']:.2%}, rank-10 "
        f"{built['exact_rank10']:.2%}, {built['exact_ms']:.1f} ms/probe",
        flush=True,
    )
    results = []
    for index, n_trees in enumerate(args.trees):
        directory = root / f"gallery-{n_trees}"
        child_args = {
            "directory": str(directory),
            "root": str(root),
            "search_ks": args.search_k,
            "live": index == 0,
            "live_search_k": args.live_search_k,
            "adds": args.adds,
        }
        measured = run_child("--child", child_args)
        results.append({"n_trees": n_trees, **built["builds"][str(n_trees)], **measured})
        print_setting(results[-1], built["exact_rank1"], built["exact_rank10"])
        if not args.keep:
            shutil.rmtree(directory)
    (root / "results.json").write_text(json.dumps(results, indent=2))
    print(f"\nload average at the end {os.getloadavg()[0]:.2f} (other work on the machine)")
    print(f"\nfigures in {root / 'results.json'}")


def run_child(mode: str, options: dict[str, Any]) -> dict[str, Any]:
    completed = subprocess.run(
        [sys.executable, __file__, mode, json.dumps(options)],
        check=True,
        stdout=subprocess.PIPE,
        text=True,
    )
    result: dict[str, Any] = json.loads(completed.stdout)
    return result


def build(raw: str) -> None:
    """Generates the gallery and probes, computes exact search, creates one gallery per
    n_trees; prints the figures as JSON."""
    options = json.loads(raw)
    root = Path(options["root"])
    now = datetime.now(UTC)
    started = time.perf_counter()
    synthetic = generate(
        identities=options["records"] // SAMPLES,
        samples=SAMPLES,
        seed=SEED,
        modalities=["face"],
        now=now,
        unenrolled=options["unmated"],
    )
    generated = time.perf_counter() - started
    records = synthetic.records
    probe_set = synthetic.probe_sets["face"]
    rng = np.random.default_rng(SEED)
    mated = min(options["queries"], probe_set.mated)
    mated_rows = rng.choice(probe_set.mated, size=mated, replace=False)
    rows = [*sorted(mated_rows.tolist()), *range(probe_set.mated, len(probe_set.mates))]
    probes = Probes(probe_set.probes[rows], [set(probe_set.mates[i]) for i in rows])
    np.save(root / "probes.npy", probes.vectors)
    (root / "mates.json").write_text(json.dumps([sorted(m) for m in probes.mates]))
    print(f"generated in {generated:.1f} s", file=sys.stderr, flush=True)

    started = time.perf_counter()
    matrix = np.stack([r.template for r in records])
    ids = np.array([r.record_id for r in records])
    tops = exact_top(matrix, ids, probes.vectors)
    exact_seconds = time.perf_counter() - started
    del matrix
    exact_rank1, exact_rank10 = rates(tops, probes)
    (root / "exact.json").write_text(json.dumps(tops))
    builds = {}
    for n_trees in options["trees"]:
        directory = root / f"gallery-{n_trees}"
        shutil.rmtree(directory, ignore_errors=True)
        started = time.perf_counter()
        Gallery.create(directory, n_trees=n_trees, records=records).close()
        seconds = time.perf_counter() - started
        builds[str(n_trees)] = {"build": seconds, "sizes": directory_sizes(directory)}
        print(f"built n_trees {n_trees} in {seconds:.1f} s", file=sys.stderr, flush=True)
    report = {
        "generated": generated,
        "mated": mated,
        "exact_rank1": exact_rank1,
        "exact_rank10": exact_rank10,
        "exact_ms": exact_seconds / len(probes.vectors) * 1000,
        "builds": builds,
    }
    print(json.dumps(report))


def print_setting(result: dict[str, Any], exact_rank1: float, exact_rank10: float) -> None:
    sizes = result["sizes"]
    mem = result["memory"]
    print(
        f"\nn_trees {result['n_trees']}: build {result['build']:.1f} s, open "
        f"{result['open']:.1f} s; on disk index.ann {sizes['index.ann']:.0f} MiB + "
        f"vectors.npy {sizes['vectors.npy']:.0f} MiB + records.jsonl "
        f"{sizes['records.jsonl']:.0f} MiB; RSS after searches {mem['VmRSS']:.0f} MiB "
        f"(anonymous {mem['RssAnon']:.0f}, file-backed/shared {mem['RssFile']:.0f})"
    )
    print(
        "| n_trees | search_k | median ms | p99 ms | QPS 1 thread | QPS 2 threads "
        "| rank-1 (exact) | rank-10 (exact) | top-1 = exact |"
    )
    print("|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    for row in result["settings"]:
        print(
            f"| {result['n_trees']} | {row['search_k']:,} | {row['median_ms']:.2f} "
            f"| {row['p99_ms']:.2f} | {row['qps_1']:.0f} | {row['qps_2']:.0f} "
            f"| {row['rank1']:.2%} ({exact_rank1:.2%}) | {row['rank10']:.2%} "
            f"({exact_rank10:.2%}) | {row['agreement']:.2%} |"
        )
    if "live" in result:
        live = result["live"]
        print(
            f"Add -> searchable (search_k {live['search_k']:,}, {live['adds']} adds): Add "
            f"median {live['add_median_ms']:.2f} ms / p99 {live['add_p99_ms']:.2f} ms; Add + "
            f"first search finding it median {live['visible_median_ms']:.2f} ms / p99 "
            f"{live['visible_p99_ms']:.2f} ms; found top-1 {live['found']}/{live['adds']}"
        )
        print(
            f"during a full rebuild ({live['rebuild_s']:.1f} s, {live['during_n']} searches): "
            f"median {live['during_median_ms']:.2f} ms / p99 {live['during_p99_ms']:.2f} ms / "
            f"max {live['during_max_ms']:.1f} ms vs idle median {live['idle_median_ms']:.2f} "
            f"ms / p99 {live['idle_p99_ms']:.2f} ms; failed searches: {live['failures']}",
            flush=True,
        )
        for line in live["worst"]:
            print(f"  slowest search: {line}")


# -- the child: a fresh process that opens the gallery as `matcher serve` does --------------


@dataclass
class Setting:
    search_k: int
    median_ms: float
    p99_ms: float
    qps_1: float
    qps_2: float
    rank1: float
    rank10: float
    agreement: float


def child(raw: str) -> None:
    options = json.loads(raw)
    root = Path(options["root"])
    vectors = np.load(root / "probes.npy")
    probes = Probes(vectors, [set(m) for m in json.loads((root / "mates.json").read_text())])
    exact = json.loads((root / "exact.json").read_text())
    started = time.perf_counter()
    with long_lived_allocations():  # as `matcher serve` opens it
        gallery = Gallery.open(Path(options["directory"]))
    opened = time.perf_counter() - started
    filters = SearchFilters(valid_at=datetime.now(UTC))
    try:
        settings = [
            measure_setting(gallery, probes, exact, filters, search_k)
            for search_k in options["search_ks"]
        ]
        report: dict[str, Any] = {
            "open": opened,
            "settings": [asdict(s) for s in settings],
            "memory": memory(),
        }
        if options["live"]:
            report["live"] = measure_live(
                gallery, probes, filters, options["live_search_k"], options["adds"]
            )
    finally:
        gallery.close()
    print(json.dumps(report))


def search_ids(
    gallery: Gallery, probe: np.ndarray, filters: SearchFilters, search_k: int
) -> list[str]:
    results, _ = gallery.search("face", probe, K, -1.0, filters, search_k=search_k)
    return [r.record_id for r in results]


def measure_setting(
    gallery: Gallery,
    probes: Probes,
    exact: list[list[str]],
    filters: SearchFilters,
    search_k: int,
) -> Setting:
    for probe in probes.vectors[:WARMUP]:
        search_ids(gallery, probe, filters, search_k)
    latencies = []
    tops = []
    started = time.perf_counter()
    for probe in probes.vectors:
        begin = time.perf_counter()
        tops.append(search_ids(gallery, probe, filters, search_k))
        latencies.append(time.perf_counter() - begin)
    single = time.perf_counter() - started
    with ThreadPoolExecutor(max_workers=2) as pool:
        started = time.perf_counter()
        list(pool.map(lambda p: search_ids(gallery, p, filters, search_k), probes.vectors))
        double = time.perf_counter() - started
    rank1, rank10 = rates(tops, probes)
    mated = [i for i, mates in enumerate(probes.mates) if mates]
    agreement = sum(1 for i in mated if tops[i][:1] == exact[i][:1]) / len(mated)
    return Setting(
        search_k=search_k,
        median_ms=statistics.median(latencies) * 1000,
        p99_ms=percentile(latencies, 0.99) * 1000,
        qps_1=len(probes.vectors) / single,
        qps_2=len(probes.vectors) / double,
        rank1=rank1,
        rank10=rank10,
        agreement=agreement,
    )


def measure_live(
    gallery: Gallery, probes: Probes, filters: SearchFilters, search_k: int, adds: int
) -> dict[str, Any]:
    """Time from Add to searchable; then search latency while a full rebuild runs."""
    templates = SyntheticTemplates(SEED + 7)
    origins = ["CL", "US", "US-OR", "US-OR-RIVERTON"]
    template_of = gallery.get  # a record of each origin supplies a valid provenance
    sample_provenance: dict[str, Any] = {}
    for record_id in (f"face-{n:07d}-0" for n in range(200)):
        record = template_of(record_id)
        if record is not None:
            sample_provenance.setdefault(record.provenance.origin_jurisdiction, record.provenance)
    add_times, visible_times, found = [], [], 0
    for number in range(adds):
        identity = templates.new_identity("face")
        origin = origins[number % len(origins)]
        record = GalleryRecord(
            record_id=f"bench-add-{number}",
            modality="face",
            template=templates.sample(identity),
            provenance=sample_provenance[origin],
        )
        probe = templates.sample(identity)
        begin = time.perf_counter()
        gallery.add(record)
        added = time.perf_counter()
        top = search_ids(gallery, probe, filters, search_k)
        end = time.perf_counter()
        add_times.append(added - begin)
        visible_times.append(end - begin)
        found += int(top[:1] == [record.record_id])
    idle = [end - start for start, end in timed_searches(gallery, probes, filters, search_k, None)]
    phases = PhaseLog()
    logging.getLogger("matcher").addHandler(phases)
    logging.getLogger("matcher").setLevel(logging.DEBUG)
    done = threading.Event()
    rebuild_seconds = [0.0]

    def rebuild() -> None:
        begin = time.perf_counter()
        try:
            gallery.rebuild()  # every partition has buffered adds: a full rebuild
        finally:
            rebuild_seconds[0] = time.perf_counter() - begin
            done.set()

    thread = threading.Thread(target=rebuild)
    thread.start()
    spans: list[tuple[float, float]] = []
    failures = 0
    while not done.is_set():
        try:
            spans.extend(timed_searches(gallery, probes, filters, search_k, done))
        except Exception:
            failures += 1
    thread.join()
    logging.getLogger("matcher").removeHandler(phases)
    during = [end - start for start, end in spans]
    worst = sorted(spans, key=lambda span: span[0] - span[1])[:3]
    return {
        "search_k": search_k,
        "adds": adds,
        "add_median_ms": statistics.median(add_times) * 1000,
        "add_p99_ms": percentile(add_times, 0.99) * 1000,
        "visible_median_ms": statistics.median(visible_times) * 1000,
        "visible_p99_ms": percentile(visible_times, 0.99) * 1000,
        "found": found,
        "idle_median_ms": statistics.median(idle) * 1000,
        "idle_p99_ms": percentile(idle, 0.99) * 1000,
        "rebuild_s": rebuild_seconds[0],
        "during_n": len(during),
        "during_median_ms": statistics.median(during) * 1000 if during else 0.0,
        "during_p99_ms": percentile(during, 0.99) * 1000 if during else 0.0,
        "during_max_ms": max(during) * 1000 if during else 0.0,
        "failures": failures,
        "worst": [
            f"{(end - start) * 1000:.0f} ms during: {'; '.join(phases.during(start, end))}"
            for start, end in worst
        ],
    }


class PhaseLog(logging.Handler):
    """Collects the gallery's rebuild phase messages with their times."""

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.events: list[tuple[float, str]] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.events.append((time.perf_counter(), record.getMessage()))

    def during(self, start: float, end: float) -> list[str]:
        """The phase running at `start` and those that began before `end`."""
        before = [message for at, message in self.events if at <= start][-1:]
        return before + [message for at, message in self.events if start < at < end]


def timed_searches(
    gallery: Gallery,
    probes: Probes,
    filters: SearchFilters,
    search_k: int,
    stop: threading.Event | None,
) -> list[tuple[float, float]]:
    spans = []
    for probe in probes.vectors:
        if stop is not None and stop.is_set():
            break
        begin = time.perf_counter()
        search_ids(gallery, probe, filters, search_k)
        spans.append((begin, time.perf_counter()))
    return spans


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--records", type=int, default=100_000)
    parser.add_argument("--trees", type=lambda t: [int(x) for x in t.split(",")], default=None)
    parser.add_argument("--search-k", type=lambda t: [int(x) for x in t.split(",")], default=None)
    parser.add_argument("--live-search-k", type=int, default=DEFAULT_SEARCH_K)
    parser.add_argument("--queries", type=int, default=500, help="mated probes")
    parser.add_argument("--unmated", type=int, default=100, help="non-mated probes")
    parser.add_argument("--adds", type=int, default=100, help="Adds timed to searchable")
    parser.add_argument("--workdir", type=Path)
    parser.add_argument("--keep", action="store_true", help="keep the galleries")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    parser.add_argument("--build", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(args.child)
        return
    if args.build:
        build(args.build)
        return
    args.trees = args.trees or [DEFAULT_N_TREES, 20, 10]
    args.search_k = args.search_k or [10_000, 30_000, DEFAULT_SEARCH_K, 100_000]
    parent(args)


if __name__ == "__main__":
    main()
